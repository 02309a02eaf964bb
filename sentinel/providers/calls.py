"""The call log: one row per provider call (and per candidate skipped), written by every path that routes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from sentinel.models import ProviderCall, utcnow
from sentinel.providers.base import Outcome
from sentinel.providers.router import Attempt
from sentinel.telemetry.metrics import observe_provider_calls


class CallValues(NamedTuple):
    """One call-log row as plain values, for a Core insert of many rows at once (no ORM object per row)."""

    request_id: str
    model: str
    provider: str
    provider_model: str
    outcome: str
    latency_ms: float
    status_code: int | None
    bytes: int
    cost_estimate: float
    message: str
    image_id: str | None

    def row(self, created_at: Any) -> dict[str, Any]:
        return self._asdict() | {"created_at": created_at}


def call_values(
    request_id: str, requested_model: str, attempts: Iterable[Attempt], image_id: str | None
) -> list[CallValues]:
    """Rows for one routed image (the delivered image id on the call that produced it), counted in the metrics."""
    values = [
        CallValues(
            request_id,
            requested_model,
            attempt.provider,
            attempt.model,
            attempt.outcome,
            attempt.latency_ms,
            attempt.status_code,
            attempt.bytes,
            attempt.cost,
            attempt.message[:1000],
            image_id if attempt.outcome == Outcome.OK.value else None,
        )
        for attempt in attempts
    ]
    observe_provider_calls(values)
    return values


def insert_calls(connection: Connection, values: list[CallValues]) -> None:
    """The rows of :func:`call_values` in the caller's transaction, in one statement."""
    if values:
        now = utcnow()
        connection.execute(_INSERT_CALLS, [value.row(now) for value in values])


_INSERT_CALLS = insert(ProviderCall)
