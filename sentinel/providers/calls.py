"""The call log: one row per provider call (and per candidate skipped), written by every path that routes."""

from __future__ import annotations

from collections.abc import Iterable

from sentinel.models import ProviderCall
from sentinel.providers.base import Outcome
from sentinel.providers.router import Attempt
from sentinel.telemetry.metrics import observe_provider_calls


def call_rows(
    request_id: str, requested_model: str, attempts: Iterable[Attempt], image_id: str | None
) -> list[ProviderCall]:
    """Rows for one routed image; the delivered image id goes on the call that produced it."""
    rows = [
        ProviderCall(
            request_id=request_id,
            model=requested_model,
            provider=attempt.provider,
            provider_model=attempt.model,
            outcome=attempt.outcome,
            latency_ms=attempt.latency_ms,
            status_code=attempt.status_code,
            bytes=attempt.bytes,
            cost_estimate=attempt.cost,
            message=attempt.message[:1000],
            image_id=image_id if attempt.outcome == Outcome.OK.value else None,
        )
        for attempt in attempts
    ]
    observe_provider_calls(rows)
    return rows
