"""Building the gateway: the OpenAI-shaped layer over this process's generation service."""

from __future__ import annotations

from sentinel.gateway.service import GatewayService
from sentinel.generation.wiring import HTTP_LIMITS, cooldown_store, open_generation
from sentinel.services import Services

__all__ = ["HTTP_LIMITS", "cooldown_store", "open_gateway"]


async def open_gateway(services: Services) -> GatewayService:
    return GatewayService(await open_generation(services))
