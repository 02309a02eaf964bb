"""The gateway domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.gateway.service import GatewayService


async def gateway_service(request: Request) -> GatewayService:
    # Built in the lifespan: it holds the provider HTTP client, opened and closed with the app.
    return request.app.state.gateway


Gateway = Annotated[GatewayService, Depends(gateway_service)]
