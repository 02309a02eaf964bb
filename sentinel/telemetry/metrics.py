"""Prometheus counters every layer writes to: HTTP requests, provider calls, judge latency, verdicts.

They are exposed, with the queue depths read from the broker, by :mod:`sentinel.ops.metrics`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Histogram, disable_created_metrics

# The *_created series only double the output; rates need none of them.
disable_created_metrics()

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

HTTP_REQUESTS = Counter(
    "sentinel_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "sentinel_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response body.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_CALLS = Counter(
    "sentinel_provider_calls_total",
    "Calls to image providers (and candidates skipped), by provider, provider model and outcome.",
    ["provider", "model", "outcome"],
)
JUDGE_DURATION = Histogram(
    "sentinel_judge_duration_seconds",
    "Time a judge took to vote (or to abstain).",
    ["judge"],
    buckets=_LATENCY_BUCKETS,
)
JUDGE_VOTES = Counter(
    "sentinel_judge_votes_total",
    "Votes recorded, by judge and vote (pass, fail, abstain).",
    ["judge", "vote"],
)
WEBHOOK_DELIVERIES = Counter(
    "sentinel_webhook_deliveries_total",
    "Webhook delivery tries, by event type and outcome (delivered, http_4xx, http_5xx, http_other, not_sent: the "
    "receiver could not be reached, timed out or its address was refused).",
    ["event", "outcome"],
)
VERDICTS = Counter(
    "sentinel_verdicts_total",
    "Evaluations finalised, by task and verdict.",
    ["task", "verdict"],
)


def observe_provider_calls(rows: Iterable[Any]) -> None:
    """Count call-log rows (anything with provider, provider_model and outcome)."""
    for row in rows:
        PROVIDER_CALLS.labels(row.provider, row.provider_model, row.outcome).inc()


def observe_vote(judge: str, passed: bool | None, duration_ms: float) -> None:
    JUDGE_DURATION.labels(judge).observe(max(duration_ms, 0.0) / 1000)
    JUDGE_VOTES.labels(judge, "abstain" if passed is None else ("pass" if passed else "fail")).inc()


def observe_webhook_try(event: str, status: int | None) -> None:
    """One delivery try: ``status`` the receiver's answer, None when none came."""
    if status is None:
        outcome = "not_sent"
    elif 200 <= status < 300:
        outcome = "delivered"
    elif 400 <= status < 600:
        outcome = f"http_{status // 100}xx"
    else:
        outcome = "http_other"
    WEBHOOK_DELIVERIES.labels(event, outcome).inc()


def observe_verdict(task: str, verdict: str) -> None:
    VERDICTS.labels(task, verdict).inc()
