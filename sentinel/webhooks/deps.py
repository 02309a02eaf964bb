"""The webhooks domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.webhooks.deliveries import DeliveryLog


async def delivery_log(request: Request) -> DeliveryLog:
    return request.app.state.deliveries


Deliveries = Annotated[DeliveryLog, Depends(delivery_log)]
