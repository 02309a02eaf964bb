"""How far each judge agrees with the reviewers: agreement rate and Cohen's kappa."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import visible
from sentinel.models import Evaluation, ReviewDecision

#: Below this many decided items kappa says more about chance than about the judge.
MIN_DECISIONS_FOR_KAPPA = 10


def cohen_kappa(pairs: Iterable[tuple[bool, bool]]) -> float | None:
    """Kappa for two raters giving pass/fail on the same items; None when it is undefined."""
    pairs = list(pairs)
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    a_pass = sum(a for a, _ in pairs) / n
    b_pass = sum(b for _, b in pairs) / n
    expected = a_pass * b_pass + (1 - a_pass) * (1 - b_pass)
    if expected == 1:
        return None  # both raters always said the same thing: agreement by construction
    return (observed - expected) / (1 - expected)


def agreement(pairs: Iterable[tuple[bool, bool]]) -> dict[str, float | int | None]:
    pairs = list(pairs)
    n = len(pairs)
    return {
        "decisions": n,
        "agreement": (sum(a == b for a, b in pairs) / n) if n else None,
        "kappa": cohen_kappa(pairs) if n >= MIN_DECISIONS_FOR_KAPPA else None,
    }


def judge_agreement(engine: Engine, caller: Caller | None) -> dict[str, Any]:
    """Per judge, over the caller's tenant's decisions (``caller`` None: everyone's): how often its vote matched
    the reviewer's decision, and kappa. An undone decision is deleted, so it counts for nothing."""
    query = select(ReviewDecision, Evaluation).join(Evaluation, col(Evaluation.id) == col(ReviewDecision.evaluation_id))
    with Session(engine) as session:
        rows = list(session.exec(visible(query, Evaluation.key_id, caller)))
    pairs: dict[str, list[tuple[bool, bool]]] = {}
    for decision, evaluation in rows:
        approved = decision.decision == "approve"
        for judge in (evaluation.result or {}).get("judges", []):
            if judge["passed"] is not None:
                pairs.setdefault(judge["judge"], []).append((bool(judge["passed"]), approved))
    return {
        "decisions": len(rows),
        "judges": {name: agreement(judge_pairs) for name, judge_pairs in sorted(pairs.items())},
    }
