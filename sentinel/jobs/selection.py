"""Which attempt a slot hands back, and what verdict a whole job gets."""

from __future__ import annotations

from collections.abc import Iterable

from sentinel.models import JobAttempt, Verdict


def choose(attempts: Iterable[JobAttempt]) -> JobAttempt | None:
    """The attempt a slot hands back: the best verdict, then fewest failing judges, then most criteria passed."""
    judged = [a for a in attempts if a.verdict is not None]
    if not judged:
        return None
    return min(
        judged,
        key=lambda a: (
            Verdict(a.verdict or Verdict.RED).rank,
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
