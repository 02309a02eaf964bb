"""The waiting items: which amber results match a reviewer's filters, and what a row shows about each."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func
from sqlmodel import Session, col, select

from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import visible
from sentinel.models import Evaluation, EvaluationStatus, Job, JobAttempt, ReviewClaim, ReviewDecision, Verdict, Vote
from sentinel.review.filters import QueueFilter

#: Worst first: a critical failure, then by severity; a failure with no severity graded last.
SEVERITY_RANK = {"severe": 3, "moderate": 2, "mild": 1}

Row = tuple[Evaluation, JobAttempt | None, Job | None]


def waiting_since() -> Any:
    """When an item joined the queue: when its verdict was written (its creation, for rows without one)."""
    return func.coalesce(col(Evaluation.finished_at), col(Evaluation.created_at))


def waiting_query(filters: QueueFilter, caller: Caller | None, now: datetime) -> Select[Any]:
    """Amber results nobody has decided, oldest first (by when each joined the queue, then by id: one that turns
    amber meanwhile joins the end, so a walk by cursor, see :mod:`sentinel.review.cursor`, still reaches it),
    narrowed by every filter SQL can apply (judge and criterion live in the stored result's JSON and are matched by
    :func:`matches`)."""
    query = (
        select(Evaluation, JobAttempt, Job)
        .join(ReviewDecision, col(ReviewDecision.evaluation_id) == col(Evaluation.id), isouter=True)
        .join(JobAttempt, col(JobAttempt.evaluation_id) == col(Evaluation.id), isouter=True)
        .join(Job, col(Job.id) == col(JobAttempt.job_id), isouter=True)
        .where(Evaluation.status == EvaluationStatus.DONE, Evaluation.verdict == Verdict.AMBER)
        .where(col(ReviewDecision.id).is_(None))
        .order_by(waiting_since(), col(Evaluation.id))
    )
    if filters.task:
        query = query.where(Evaluation.task == filters.task)
    if filters.provider_model:
        # Provider names hold no colon; model names may ("ollama:llava:7b"): split at the first one.
        provider, _, model = filters.provider_model.partition(":")
        model_column = col(JobAttempt.provider_model)
        query = query.where(
            col(JobAttempt.provider) == provider, model_column == model if model else model_column.is_(None)
        )
    if filters.min_age_seconds is not None:
        query = query.where(waiting_since() <= now - timedelta(seconds=filters.min_age_seconds))
    if filters.max_age_seconds is not None:
        query = query.where(waiting_since() >= now - timedelta(seconds=filters.max_age_seconds))
    return visible(query, Evaluation.key_id, caller)


def unclaimed_by_others(query: Select[Any], reviewer: str, now: datetime) -> Select[Any]:
    """Only items nobody else holds: unclaimed, claimed by ``reviewer``, or with a claim that ran out."""
    claim = ReviewClaim
    return query.join(claim, col(claim.evaluation_id) == col(Evaluation.id), isouter=True).where(
        col(claim.id).is_(None) | (col(claim.reviewer) == reviewer) | (col(claim.expires_at) <= now)
    )


def judges_of(evaluation: Evaluation) -> list[dict[str, Any]]:
    return list((evaluation.result or {}).get("judges", []))


def matches(evaluation: Evaluation, filters: QueueFilter) -> bool:
    """The filters SQL did not apply: a judge that objected, a criterion that failed."""
    judges = judges_of(evaluation)
    if filters.judge and not any(j["judge"] == filters.judge and j["passed"] is False for j in judges):
        return False
    failed = {c["id"] for j in judges for c in j.get("criteria", []) if not c["passed"]}
    return not filters.criterion or filters.criterion in failed


def rows(session: Session, query: Select[Any], filters: QueueFilter, limit: int | None) -> list[Row]:
    """The query's rows that pass :func:`matches`, at most ``limit``."""
    if not (filters.judge or filters.criterion) and limit is not None:
        return [tuple(row) for row in session.exec(query.limit(limit))]  # type: ignore[misc]
    found: list[Row] = []
    for evaluation, attempt, job in session.exec(query):  # type: ignore[call-overload]
        if matches(evaluation, filters):
            found.append((evaluation, attempt, job))
            if limit is not None and len(found) >= limit:
                break
    return found


def failing(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Every failed criterion (and every objection without one), worst first: what a reviewer checks."""
    found = []
    for judge in judges_of(evaluation):
        criteria = [c for c in judge.get("criteria", []) if not c["passed"]]
        for criterion in criteria:
            found.append(
                {
                    "judge": judge["judge"],
                    "criterion": criterion["id"],
                    "severity": criterion.get("severity"),
                    "critical": bool(criterion.get("critical")),
                    "detail": criterion.get("detail") or "",
                }
            )
        if judge["passed"] is False and not criteria:
            # A judge may object as a whole (a vision judge's answer): its reasoning is the detail.
            found.append(
                {
                    "judge": judge["judge"],
                    "criterion": None,
                    "severity": None,
                    "critical": False,
                    "detail": judge.get("reasoning") or "",
                }
            )
    return sorted(found, key=lambda f: (not f["critical"], -SEVERITY_RANK.get(f["severity"] or "", 0)))


def provider_model(attempt: JobAttempt | None) -> str | None:
    if attempt is None or not attempt.provider:
        return None
    return f"{attempt.provider}:{attempt.provider_model}" if attempt.provider_model else attempt.provider


def job_view(attempt: JobAttempt | None, job: Job | None) -> dict[str, Any] | None:
    if job is None or attempt is None:
        return None
    return {
        "id": job.id,
        "prompt": job.prompt,
        "params": job.params,
        "slot": attempt.slot,
        "attempt": attempt.number,
        "max_attempts": job.max_attempts,
        "provider": attempt.provider,
        "model": attempt.provider_model,
    }


def vote_counts(session: Session, evaluation_ids: list[str]) -> dict[str, int]:
    """How many votes each evaluation has stored (one query for the whole page)."""
    if not evaluation_ids:
        return {}
    query = (
        select(Vote.evaluation_id, func.count())
        .where(col(Vote.evaluation_id).in_(evaluation_ids))
        .group_by(col(Vote.evaluation_id))
    )
    return {evaluation_id: count for evaluation_id, count in session.exec(query)}


def facets(rows_: list[Row]) -> dict[str, list[str]]:
    """The values present among waiting items, for the filter drop-downs."""
    values: dict[str, set[str]] = {"task": set(), "judge": set(), "criterion": set(), "provider_model": set()}
    for evaluation, attempt, _ in rows_:
        values["task"].add(evaluation.task)
        for judge in judges_of(evaluation):
            if judge["passed"] is False:
                values["judge"].add(judge["judge"])
            values["criterion"].update(c["id"] for c in judge.get("criteria", []) if not c["passed"])
        if (name := provider_model(attempt)) is not None:
            values["provider_model"].add(name)
    return {name: sorted(found) for name, found in values.items()}
