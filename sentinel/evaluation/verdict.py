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
        }


def _issues(count: int) -> str:
    return f"{count} quality issue{'s' if count != 1 else ''}"


def aggregate(rubric: Rubric, expected: list[str], votes: list[VoteResult], quorum: int) -> Verdict:
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
    failed_criteria = [c for j in failing for c in j["criteria"] if not c["passed"]]
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
    return Verdict(verdict, summary, len(failing), votes_cast, quorum, critical, ordered)
