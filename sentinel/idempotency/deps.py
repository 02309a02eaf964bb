"""The idempotency domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.idempotency.service import IdempotencyService


async def idempotency_service(request: Request) -> IdempotencyService:
    return request.app.state.idempotency


Idempotency = Annotated[IdempotencyService, Depends(idempotency_service)]
