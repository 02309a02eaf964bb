"""Response shapes of the webhook deliveries API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class DeliveryOut(BaseModel):
    """One try at delivering a webhook."""

    object: Literal["webhook_delivery"] = "webhook_delivery"
    id: int = Field(description="this try's own id")
    delivery_id: str | None = Field(
        description="the delivery this try belongs to: the `Sentinel-Delivery` header, the same on every retry and "
        "replay (null for tries recorded before delivery ids existed)"
    )
    kind: Literal["job", "evaluation"]
    resource_id: str
    event: str | None = Field(
        description="finished, decided, undone or updated (null for tries recorded before events were)"
    )
    url: str
    attempt: int = Field(description="1 for the first try of the delivery, then counting retries and replays")
    status_code: int | None = Field(description="the receiver's answer; null when it could not be reached")
    error: str | None
    delivered: bool = Field(description="the receiver answered 2xx")
    duration_ms: float
    created_at: str


class DeliveryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[DeliveryOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class ReplayOut(BaseModel):
    delivery_id: str
    replayed: Literal[True] = True
    resource_id: str
    event: str
