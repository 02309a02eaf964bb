"""Turning votes into a verdict: green 0 failing judges, amber 1, red 2+ or any critical failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentinel.rubrics.schema import Rubric

if TYPE_CHECKING:
    from sentinel.evaluation.runner import VoteResult

GREEN, AMBER, RED = "green", "amber", "red"


@dataclass
class Verdict:
    verdict: str
    summary: str
    failed_judges: int
    votes_cast: int
    quorum: int
    critical_failures: list[str]
    judges: list[dict[str, Any]] = field(default_factory=list)
    #: Who was asked beyond the first round, and why (None when the panel has no escalation judges).
    escalation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "summary": self.summary,
            "failed_judges": self.failed_judges,
            "quorum": {
                "required": self.quorum,
                "votes": self.votes_cast,
                "met": self.votes_cast >= self.quorum,
            },
            "critical_failures": self.critical_failures,
            "judges": self.judges,
        } | ({"escalation": self.escalation} if self.escalation is not None else {})


def _issues(count: int) -> str:
    return f"{count} quality issue{'s' if count != 1 else ''}"


def disagreement(votes: list[VoteResult]) -> str | None:
    """Why escalation judges should be asked: the votes cast so far split between pass and fail; else None."""
    passed = [v.judge for v in votes if v.passed is True]
    failed = [v.judge for v in votes if v.passed is False]
    if passed and failed:
        return f"the judges disagreed: {', '.join(passed)} passed; {', '.join(failed)} failed"
    return None


def escalation_record(asked: list[str], reason: str | None) -> dict[str, Any]:
    return {"asked": asked, "reason": reason or "the judges agreed, so no escalation judge was asked"}


def aggregate(
    rubric: Rubric,
    expected: list[str],
    votes: list[VoteResult],
    quorum: int,
    escalation: dict[str, Any] | None = None,
) -> Verdict:
    """The verdict from the votes in; a judge in ``expected`` without a vote abstains."""
    by_judge = {v.judge: v for v in votes}
    ordered: list[dict[str, Any]] = []
    for name in expected:
        vote = by_judge.get(name)
        if vote is None:
            ordered.append(
                {
                    "judge": name,
                    "passed": None,
                    "reasoning": "abstained: did not vote before the deadline",
                    "criteria": [],
                    "duration_ms": None,
                }
            )
        else:
            ordered.append(vote.to_dict())
    critical_ids = {c.id for c in rubric.criteria if c.critical}
    failing = [j for j in ordered if j["passed"] is False]
    abstaining = [j for j in ordered if j["passed"] is None]
    # Several vision judges may fail the same criterion: it is one issue, told in the first judge's words.
    first_failure: dict[str, dict[str, Any]] = {}
    for judge in failing:
        for criterion in judge["criteria"]:
            if not criterion["passed"]:
                first_failure.setdefault(criterion["id"], criterion)
    failed_criteria = list(first_failure.values())
    critical = [c["id"] for c in failed_criteria if c["id"] in critical_ids]
    votes_cast = len(ordered) - len(abstaining)
    # Critical failures first: they are why the verdict is what it is.
    failed_criteria.sort(key=lambda c: c["id"] not in critical_ids)
    details = "; ".join(c["detail"] for c in failed_criteria)

    if critical or len(failing) >= 2:
        verdict, summary = RED, f"{_issues(len(failed_criteria))}: {details}"
    elif len(failing) == 1:
        verdict, summary = AMBER, f"{_issues(len(failed_criteria))}: {details}"
    elif votes_cast < quorum:
        reasons = "; ".join(f"{j['judge']} {j['reasoning']}" for j in abstaining)
        verdict = AMBER
        summary = f"quorum not met: {votes_cast} of {len(ordered)} judges voted, {quorum} needed ({reasons})"
    else:
        checked = sum(len(j["criteria"]) for j in ordered)
        verdict, summary = GREEN, f"no quality issues: {votes_cast} judges passed all {checked} criteria"
    if abstaining and not (verdict == AMBER and not failing):
        summary += f" ({len(abstaining)} judge{'s' if len(abstaining) != 1 else ''} abstained)"
    return Verdict(verdict, summary, len(failing), votes_cast, quorum, critical, ordered, escalation)
