"""A key with a spend cap is not served by a paid candidate whose price the routing file does not set: it would
count $0 against the cap, and the cap would never stop it. Keys without a cap, and priced routes, are served."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from sentinel.generation.service import GenerationRequest, GenerationService
from sentinel.generation.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router
from sentinel.services import Services
from sentinel.spend.service import UnpricedModel
from tests.generation.test_generation_service import capped_owner, fake, services  # noqa: F401 (fixtures)


@asynccontextmanager
async def service_with(on: Services, fake_url: str, route: dict[str, Any]) -> AsyncIterator[GenerationService]:
    routing = RoutingConfig.model_validate(
        {
            "providers": {
                "fake": {"kind": "openai", "base_url": f"{fake_url}/v1", "api_key_env": "FAKE_KEY"},
                "local": {"kind": "local"},
            },
            "models": {"m": route},
            "default_model": "m",
            "max_passes": 1,
        }
    )
    client = provider_client(HTTP_LIMITS, httpx.Timeout(120.0))
    service = GenerationService(
        on, Router(routing, build_providers(routing, client), MemoryCooldowns(), on.settings), client
    )
    try:
        yield service
    finally:
        await service.close()


def generate(on: Services, url: str, route: dict[str, Any], key_id: str | None) -> Any:
    async def go() -> Any:
        async with service_with(on, url, route) as service:
            resolved, width, height = service.resolve("m", size="1024x1024")
            request = GenerationRequest(
                model=resolved,
                spec=ImageSpec(prompt="a lighthouse", width=width, height=height),
                n=1,
                request_id=f"gen_{uuid.uuid4().hex}",
            )
            return await service.generate(request, service.owner_of(key_id) if key_id else None)

    return asyncio.run(go())


UNPRICED = {"candidates": [{"target": "fake:dall-e-3"}, {"target": "local:procedural"}]}


def test_a_capped_key_is_refused_a_route_with_an_unpriced_paid_candidate(services, fake) -> None:  # noqa: F811
    url, script = fake
    key_id = capped_owner(services, cap=0.05)
    with pytest.raises(UnpricedModel) as refused:
        generate(services, url, UNPRICED, key_id)
    assert refused.value.status_code == 402 and refused.value.field == "model"
    assert "fake:dall-e-3" in refused.value.message and "cost_per_image" in refused.value.message
    assert script.requests == []


def test_without_a_cap_or_with_a_price_it_is_served(services, fake) -> None:  # noqa: F811
    url, _ = fake
    assert any(generate(services, url, UNPRICED, None).image_ids)
    key_id = capped_owner(services, cap=0.05)
    priced = UNPRICED | {"cost_per_image": 0.01}
    assert any(generate(services, url, priced, key_id).image_ids)
    per_candidate = {
        "candidates": [{"target": "fake:dall-e-3", "cost_per_image": 0.01}, {"target": "local:procedural"}]
    }
    assert any(generate(services, url, per_candidate, key_id).image_ids)
