"""Per model: the verdict mix, first-attempt green share, attempts per green, cost and latency of its jobs, and the
ranking of the models by them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sentinel.compare.runner import Outcome

VERDICTS = ("green", "amber", "red")


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (the value at least ``share`` of the samples are at or below); None with none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def model_summary(model: str, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """What one model's jobs came to. Shares are of every run, so a job that produced no image (``failed``: the
    providers refused or failed) or could not be run at all (``errors``) counts against the model."""
    runs = len(outcomes)
    counts = {v: sum(o.verdict == v for o in outcomes) for v in VERDICTS}
    errors = sum(o.job is None for o in outcomes)
    failed = runs - errors - sum(counts.values())
    attempts = sum(len(o.attempts) for o in outcomes)
    first_green = sum(o.first_verdict == "green" for o in outcomes)
    latencies = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    cost = sum(o.cost_usd for o in outcomes)
    green = counts["green"]
    return {
        "model": model,
        "runs": runs,
        **counts,
        "failed": failed,
        "errors": errors,
        **{f"{v}_share": _share(counts[v], runs) for v in VERDICTS},
        "first_attempt_green_share": _share(first_green, runs),
        "attempts": attempts,
        "attempts_per_green": attempts / green if green else None,
        "cost_usd": round(cost, 6),
        "cost_per_green_usd": round(cost / green, 6) if green else None,
        "latency_p50_ms": percentile(latencies, 0.5),
        "latency_p95_ms": percentile(latencies, 0.95),
        "served_by": sorted({target for o in outcomes for target in o.served_by}),
    }


def _rank_key(row: dict[str, Any]) -> tuple[float, ...]:
    # Most green first; then fewest that ended red, failed or errored; then most green at the first attempt (fewer
    # regenerations to pay for and wait on); then fewest attempts per green, cheapest, fastest.
    bad = (row["red"] + row["failed"] + row["errors"]) / row["runs"] if row["runs"] else 1.0
    return (
        -row["green_share"],
        bad,
        -row["first_attempt_green_share"],
        row["attempts_per_green"] if row["attempts_per_green"] is not None else math.inf,
        row["cost_usd"],
        row["latency_p50_ms"] if row["latency_p50_ms"] is not None else math.inf,
    )


def rank(models: Sequence[str], outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Each model's summary, best first, with its ``rank`` (1 = best); ties keep the suite's order."""
    rows = [model_summary(m, [o for o in outcomes if o.run.model == m]) for m in models]
    ranked = sorted(rows, key=_rank_key)
    for position, row in enumerate(ranked, start=1):
        row["rank"] = position
    return ranked
