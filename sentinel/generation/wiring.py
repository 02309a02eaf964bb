"""Building the generation service: the router over the configured providers, their shared HTTP client and the
cooldown store (in production a Redis connection). The API process and every worker build one each."""

from __future__ import annotations

import httpx

from sentinel.generation.service import GenerationService
from sentinel.net.transport import answer_limit, provider_client
from sentinel.providers.config import RoutingConfig, load_routing
from sentinel.providers.cooldown import CooldownStore, MemoryCooldowns, RedisCooldowns
from sentinel.providers.quality import QualityBoard, QualityPolicy, quality_targets, verdict_reader
from sentinel.providers.registry import build_providers
from sentinel.providers.router import Router
from sentinel.services import Services

#: Connections kept open to providers; generation calls are few but large.
HTTP_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


def cooldown_store(services: Services) -> CooldownStore:
    settings = services.settings
    if settings.redis_url:
        return RedisCooldowns(settings.redis_url, f"{settings.redis_namespace}:providers")
    return MemoryCooldowns()


def quality_board(services: Services, config: RoutingConfig) -> QualityBoard | None:
    """This process's copy of the recent green shares, when some route asks for ``order: quality`` (none otherwise:
    nothing is read)."""
    targets = quality_targets(config)
    if not targets:
        return None
    policy = QualityPolicy.of(services.settings)
    # The engine is opened by the first read, not here: building the service stays free of database work.
    return QualityBoard(verdict_reader(lambda: services.engine, targets, policy), policy)


async def open_generation(services: Services) -> GenerationService:
    """A generation service for this process; close it (``await service.close()``) when the process stops."""
    config = load_routing(services.settings.routes)
    limit = answer_limit(services.settings.max_image_bytes)
    client = provider_client(HTTP_LIMITS, httpx.Timeout(120.0, connect=10.0), max_answer_bytes=limit)
    router = Router(
        config,
        build_providers(config, client),
        cooldown_store(services),
        services.settings,
        quality=quality_board(services, config),
    )
    return GenerationService(services, router, client)
