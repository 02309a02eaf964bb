"""Which attempt a slot hands back, and what verdict a whole job gets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sentinel.evaluation.guidance import failed_criteria
from sentinel.evaluation.rubric import SEVERITIES
from sentinel.models import JobAttempt, Verdict

#: How an attempt's failed criteria are counted, worst kind first: the order :func:`choose` compares them in.
ISSUE_KINDS = ("critical", *reversed(SEVERITIES))


def issue_counts(result: dict[str, Any] | None, critical_ids: Iterable[str] = ()) -> dict[str, int]:
    """How many of a verdict's failed criteria are critical, and how many are of each severity (each criterion once,
    as bad as the worst judge said): what a red attempt is ranked by."""
    result = result or {}
    issues = result.get("issues")
    if issues is None:  # a verdict recorded before issues were listed: its failed criteria, critical by the rubric
        critical = set(critical_ids)
        issues = [
            {"severity": c.get("severity") or "moderate", "critical": c["id"] in critical}
            for c in failed_criteria(result)
        ]
    counts = dict.fromkeys(ISSUE_KINDS, 0)
    for issue in issues:
        counts["critical"] += bool(issue.get("critical"))
        severity = issue.get("severity") or "moderate"
        counts[severity if severity in counts else "moderate"] += 1
    return counts


def _badness(attempt: JobAttempt) -> tuple[int, ...]:
    # A customer handed a blank or undecodable image over a real picture with a wrong background would not agree
    # that it was the better attempt because fewer judges objected (one judge owns blankness and size): a critical
    # failure ranks below none, then more severe failures below fewer, then moderate, then mild. Attempts judged
    # before the counts were kept compare as equals here, and fall back to their failing judges.
    counts = attempt.issue_counts or {}
    return tuple(int(counts.get(kind, 0)) for kind in ISSUE_KINDS)


def choose(attempts: Iterable[JobAttempt]) -> JobAttempt | None:
    """The attempt a slot hands back: the best verdict, then the least bad failures (critical, then by severity),
    then fewest failing judges, then most criteria passed, then the earliest."""
    judged = [a for a in attempts if a.verdict is not None]
    if not judged:
        return None
    return min(
        judged,
        key=lambda a: (
            Verdict(a.verdict or Verdict.RED).rank,
            _badness(a),
            a.failed_judges or 0,
            -(a.passed_criteria or 0),
            a.number,
        ),
    )


def chosen_per_slot(slots: int, attempts: list[JobAttempt]) -> list[JobAttempt | None]:
    return [choose(a for a in attempts if a.slot == slot) for slot in range(slots)]


def worst(verdicts: Iterable[str | None]) -> Verdict | None:
    """A job is as good as its worst chosen image."""
    present = [Verdict(v) for v in verdicts if v is not None]
    return max(present, key=lambda v: v.rank) if present else None
