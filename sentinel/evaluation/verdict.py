"""Turning votes into a verdict: green when no judge failed; red when two or more judges failed or a single
failure is bad enough for the task's policy (by default: severe, which every critical criterion's failure is);
amber otherwise (one judge failed mildly or moderately, or too few judges voted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentinel.evaluation.rubric import SEVERITIES, Rubric
from sentinel.verdicts import Verdict

if TYPE_CHECKING:
    from sentinel.evaluation.runner import VoteResult

GREEN, AMBER, RED = Verdict.GREEN, Verdict.AMBER, Verdict.RED


@dataclass
class Verdict:
    verdict: str
    summary: str
    failed_judges: int
    votes_cast: int
    quorum: int
    critical_failures: list[str]
    judges: list[dict[str, Any]] = field(default_factory=list)
    #: Every failed criterion once, worst first: criterion, judge, severity, critical, detail.
    issues: list[dict[str, Any]] = field(default_factory=list)
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
            "issues": self.issues,
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
    # Several vision judges may fail the same criterion: it is one issue, told in the first judge's words, as bad
    # as the worst of them says.
    issues: dict[str, dict[str, Any]] = {}
    for judge in failing:
        for criterion in judge["criteria"]:
            if criterion["passed"]:
                continue
            severity = criterion.get("severity") or ("severe" if criterion["id"] in critical_ids else "moderate")
            issue = issues.setdefault(
                criterion["id"],
                {
                    "criterion": criterion["id"],
                    "judge": judge["judge"],
                    "severity": severity,
                    "critical": criterion["id"] in critical_ids,
                    "detail": criterion["detail"],
                },
            )
            issue["severity"] = max(issue["severity"], severity, key=SEVERITIES.index)
    # The worst first, critical ones first among equals: they are why the verdict is what it is.
    worst_first = sorted(issues.values(), key=lambda i: (-SEVERITIES.index(i["severity"]), not i["critical"]))
    # A judge that abstained may still have found something (text in the image addressed to the judges): not a
    # failing vote, but the verdict cannot be green with it.
    findings: dict[str, dict[str, Any]] = {}
    for judge in abstaining:
        for criterion in judge["criteria"]:
            if not criterion["passed"] and criterion["id"] not in issues:
                findings.setdefault(
                    criterion["id"],
                    {
                        "criterion": criterion["id"],
                        "judge": judge["judge"],
                        "severity": criterion.get("severity") or "moderate",
                        "critical": False,
                        "detail": criterion["detail"],
                    },
                )
    critical = [i["criterion"] for i in worst_first if i["critical"]]
    votes_cast = len(ordered) - len(abstaining)

    if len(failing) >= 2 or any(_makes_red(rubric.red_when, i["severity"]) for i in worst_first):
        verdict, summary = RED, _issue_summary(worst_first)
    elif len(failing) == 1:
        verdict, summary = AMBER, _issue_summary(worst_first)
    elif findings:
        verdict, summary = AMBER, _issue_summary(list(findings.values()))
    elif votes_cast < quorum:
        reasons = "; ".join(f"{j['judge']} {j['reasoning']}" for j in abstaining)
        verdict = AMBER
        summary = f"quorum not met: {votes_cast} of {len(ordered)} judges voted, {quorum} needed ({reasons})"
    else:
        checked = sum(len(j["criteria"]) for j in ordered)
        verdict, summary = GREEN, f"no quality issues: {votes_cast} judges passed all {checked} criteria"
    if abstaining and not (verdict == AMBER and not failing and not findings):
        summary += f" ({len(abstaining)} judge{'s' if len(abstaining) != 1 else ''} abstained)"
    return Verdict(
        verdict,
        summary,
        len(failing),
        votes_cast,
        quorum,
        critical,
        ordered,
        issues=[*worst_first, *findings.values()],
        escalation=escalation,
    )


def _makes_red(policy: str, severity: str) -> bool:
    """Whether one failure of this severity makes the verdict red under the task's ``red_when``."""
    if policy == "any_failed":
        return True
    if policy == "any_moderate":
        return severity in ("moderate", "severe")
    return severity == "severe"


def _issue_summary(issues: list[dict[str, Any]]) -> str:
    """'1 quality issue (severe): …' or '2 quality issues (1 severe, 1 mild): …; …'."""
    counts = [(level, sum(i["severity"] == level for i in issues)) for level in reversed(SEVERITIES)]
    graded = ", ".join(f"{count} {level}" if len(issues) > 1 else level for level, count in counts if count)
    return f"{_issues(len(issues))} ({graded}): " + "; ".join(i["detail"] for i in issues)
