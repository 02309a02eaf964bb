"""The gateway domain's FastAPI dependencies (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from sentinel.gateway.service import GatewayService
from sentinel.http.deps import app_services
from sentinel.idempotency.deps import idempotency_service
from sentinel.idempotency.service import IdempotencyService
from sentinel.jobs.deps import job_service
from sentinel.jobs.service import JobService
from sentinel.services import Services


async def gateway_service(request: Request) -> GatewayService:
    # Built in the lifespan: it holds the provider HTTP client, opened and closed with the app.
    return request.app.state.gateway


Gateway = Annotated[GatewayService, Depends(gateway_service)]


@dataclass(frozen=True, slots=True)
class ImageServices:
    """What an image endpoint uses, as one dependency."""

    gateway: GatewayService
    jobs: JobService
    services: Services
    idempotency: IdempotencyService


async def image_services(request: Request) -> ImageServices:
    # One dependency where there were four: FastAPI's solving costs each request ~5 us per dependency, on the loop
    # that every request of the image endpoints shares. Each service is still read through its domain's provider.
    return ImageServices(
        await gateway_service(request),
        await job_service(request),
        await app_services(request),
        await idempotency_service(request),
    )


ImageEndpoint = Annotated[ImageServices, Depends(image_services)]
