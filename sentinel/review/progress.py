"""How each reviewer is getting on: decided today, decided in all, and the median time spent per item."""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import visible
from sentinel.models import Evaluation, ReviewDecision, as_utc


def reviewer_progress(engine: Engine, caller: Caller | None, now: datetime) -> list[dict[str, Any]]:
    """Per reviewer over the caller's tenant's decisions (``caller`` None: everyone's), busiest today first.
    Time per item runs from the start of the reviewer's claim to the decision; decisions made without a claim
    (bulk, or through the API) have no time and are left out of the median."""
    query = select(ReviewDecision.reviewer, ReviewDecision.created_at, ReviewDecision.opened_at).join(
        Evaluation, col(Evaluation.id) == col(ReviewDecision.evaluation_id)
    )
    with Session(engine) as session:
        rows = list(session.exec(visible(query, Evaluation.key_id, caller)))
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    per: dict[str, dict[str, Any]] = {}
    for reviewer, decided_at, opened_at in rows:
        entry = per.setdefault(reviewer, {"today": 0, "total": 0, "seconds": []})
        decided_at = as_utc(decided_at)
        entry["total"] += 1
        entry["today"] += decided_at >= today
        if opened_at is not None:
            entry["seconds"].append(max(0.0, (decided_at - as_utc(opened_at)).total_seconds()))
    found = [
        {
            "reviewer": reviewer,
            "decided_today": entry["today"],
            "decided_total": entry["total"],
            "median_seconds_per_item": round(median(entry["seconds"]), 1) if entry["seconds"] else None,
        }
        for reviewer, entry in per.items()
    ]
    return sorted(found, key=lambda p: (-p["decided_today"], -p["decided_total"], p["reviewer"]))
