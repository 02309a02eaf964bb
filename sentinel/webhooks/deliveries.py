"""The record of webhook deliveries, as their owners see it: every try listed, and a delivery sent again.

A delivery belongs to the tenant of its job or evaluation (the row names the resource; the resource names its key),
so the listing joins each try to its resource and keeps the caller's tenant's, as every other list does. A replay
writes the delivery's message into the outbox again under the same delivery id: the receiver gets the same
``Sentinel-Delivery`` header (and so can tell it has seen it), with the usual retries if it fails again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from sentinel.db import keyset
from sentinel.errors import InvalidInput, NotFound
from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import tenant_keys
from sentinel.models import Evaluation, Job, WebhookDelivery, as_utc
from sentinel.outbox import steps
from sentinel.outbox.store import write
from sentinel.services import Services

#: A page holds at most this many tries, 50 unless asked.
MAX_LIMIT, DEFAULT_LIMIT = 500, 50


@dataclass(frozen=True)
class DeliveryPage:
    data: list[dict[str, Any]]
    next_cursor: str | None


def delivery_view(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "object": "webhook_delivery",
        "id": row.id,
        "delivery_id": row.delivery_id,
        "kind": row.kind,
        "resource_id": row.resource_id,
        "event": row.event,
        "url": row.url,
        "attempt": row.attempt,
        "status_code": row.status_code,
        "error": row.error,
        "delivered": row.delivered,
        "duration_ms": row.duration_ms,
        "created_at": as_utc(row.created_at).isoformat(),
    }


class DeliveryLog:
    def __init__(self, services: Services) -> None:
        self.services = services

    @staticmethod
    def _visible(caller: Caller | None) -> Any:
        """Tries, each joined to its job or evaluation, kept to the caller's tenant (an admin's or an open server's:
        all of them, those of deleted resources too)."""
        query = (
            select(WebhookDelivery)
            .outerjoin(Job, and_(col(WebhookDelivery.kind) == "job", col(Job.id) == col(WebhookDelivery.resource_id)))
            .outerjoin(
                Evaluation,
                and_(col(WebhookDelivery.kind) == "evaluation", col(Evaluation.id) == col(WebhookDelivery.resource_id)),
            )
        )
        if caller is None or caller.sees_all:
            return query
        owner = func.coalesce(col(Job.key_id), col(Evaluation.key_id))
        return query.where(owner.in_(tenant_keys(caller.tenant)))

    def page(
        self,
        resource_id: str | None = None,
        delivered: bool | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        caller: Caller | None = None,
    ) -> DeliveryPage:
        """The caller's tries, newest first, after ``cursor``; narrowed to one job or evaluation and to the tries
        that were (or were not) taken."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"'limit' must be 1 to {MAX_LIMIT}", field="limit")
        if resource_id is not None and "\x00" in resource_id:
            raise InvalidInput("'resource_id' holds a NUL character", field="resource_id")
        query = self._visible(caller)
        if resource_id:
            query = query.where(col(WebhookDelivery.resource_id) == resource_id)
        if delivered is not None:
            query = query.where(col(WebhookDelivery.delivered) == delivered)
        # A cursor keeps to the tries of the resource and the outcome it was given out for.
        listing = keyset.Listing("deliveries", {"resource_id": resource_id or None, "delivered": delivered})
        columns = (col(WebhookDelivery.created_at), col(WebhookDelivery.id))
        query = query.order_by(columns[0].desc(), columns[1].desc())
        with Session(self.services.engine) as session:
            rows, next_cursor = keyset.read_page(session, query, columns, listing, cursor, int, limit)
        return DeliveryPage([delivery_view(row) for row in rows], next_cursor)

    def replay(self, delivery_id: str, caller: Caller | None = None) -> WebhookDelivery:
        """Send a delivery again, under its own id, through the outbox (retried like the first); another tenant's
        (or an unknown id) is not found. Returns the delivery's latest try."""
        if "\x00" in delivery_id or len(delivery_id) > keyset.MAX_ID_CHARS:
            raise NotFound(f"no webhook delivery with id '{delivery_id}'", field="delivery_id")
        query = (
            self._visible(caller)
            .where(col(WebhookDelivery.delivery_id) == delivery_id)
            .order_by(col(WebhookDelivery.id).desc())
            .limit(1)
        )
        with Session(self.services.engine, expire_on_commit=False) as session:
            row = session.exec(query).first()
            if row is None or row.event is None:
                raise NotFound(f"no webhook delivery with id '{delivery_id}'", field="delivery_id")
            message = steps.deliver_webhook(
                row.kind, row.resource_id, row.url, row.event, self.services.settings, delivery_id=delivery_id
            )
            write(session, *message)
            session.commit()
        return row


def replay_answer(row: WebhookDelivery) -> dict[str, Any]:
    return {"delivery_id": row.delivery_id, "replayed": True, "resource_id": row.resource_id, "event": row.event}
