"""Deciding amber results: the queue, one decision per item, and how judges agree with reviewers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.db import insert_unless_present
from sentinel.errors import InvalidInput, NotFound, SentinelError
from sentinel.evaluation.service import EvaluationService
from sentinel.models import Evaluation, EvaluationStatus, Job, JobAttempt, ReviewDecision
from sentinel.review.stats import agreement
from sentinel.services import Services

#: Called with (evaluation id, job id or None) after a decision is stored (webhooks subscribe).
DECISION_LISTENERS: list[Callable[[str, str | None], None]] = []
DECISIONS = {"approve": "green", "reject": "red"}


class AlreadyDecided(SentinelError):
    status_code = 409
    error_type = "already_decided"


class NotAwaitingReview(SentinelError):
    status_code = 409
    error_type = "not_awaiting_review"


class ReviewService:
    def __init__(self, services: Services, evaluations: EvaluationService) -> None:
        self.services = services
        self.evaluations = evaluations

    def queue(self, task: str | None, limit: int) -> list[dict[str, Any]]:
        """Amber results nobody has decided yet, oldest first."""
        query = (
            select(Evaluation, JobAttempt.job_id)
            .join(ReviewDecision, col(ReviewDecision.evaluation_id) == col(Evaluation.id), isouter=True)
            .join(JobAttempt, col(JobAttempt.evaluation_id) == col(Evaluation.id), isouter=True)
            .where(Evaluation.status == EvaluationStatus.DONE, Evaluation.verdict == "amber")
            .where(col(ReviewDecision.id).is_(None))
            .order_by(col(Evaluation.created_at))
            .limit(limit)
        )
        if task:
            query = query.where(Evaluation.task == task)
        with Session(self.services.engine) as session:
            rows = list(session.exec(query))
        return [self.evaluations.view(evaluation, []) | {"job_id": job_id} for evaluation, job_id in rows]

    def decide(self, evaluation_id: str, decision: str, reviewer: str, note: str | None) -> dict[str, Any]:
        if decision not in DECISIONS:
            raise InvalidInput("decision must be 'approve' or 'reject'", field="decision")
        if not reviewer.strip():
            raise InvalidInput("reviewer is required", field="reviewer")
        with Session(self.services.engine, expire_on_commit=False) as session:
            evaluation = session.get(Evaluation, evaluation_id)
            if evaluation is None:
                raise NotFound(f"no evaluation with id '{evaluation_id}'", field="id")
            if evaluation.status != EvaluationStatus.DONE or evaluation.verdict != "amber":
                raise NotAwaitingReview(
                    f"'{evaluation_id}' is not waiting for review: its verdict is {evaluation.verdict or 'not in yet'}"
                )
            # The unique evaluation_id decides a race between two reviewers: one row, one winner.
            values = {"evaluation_id": evaluation_id, "decision": decision, "reviewer": reviewer.strip(), "note": note}
            inserted = insert_unless_present(session, ReviewDecision, values, ["evaluation_id"])
            stored = session.exec(select(ReviewDecision).where(ReviewDecision.evaluation_id == evaluation_id)).one()
            if not inserted:
                session.rollback()
                raise AlreadyDecided(
                    f"already decided by {stored.reviewer} at {stored.created_at.isoformat(timespec='seconds')} "
                    f"({stored.decision})"
                )
            job_id = session.exec(select(JobAttempt.job_id).where(JobAttempt.evaluation_id == evaluation_id)).first()
            if job_id is not None:
                verb = "approved" if decision == "approve" else "rejected"
                reason = f"{verb} by {stored.reviewer}" + (f": {note}" if note else "")
                session.execute(
                    update(Job).where(col(Job.id) == job_id).values(verdict=DECISIONS[decision], reason=reason)
                )
            session.commit()
        for listener in DECISION_LISTENERS:
            listener(evaluation_id, job_id)
        return {
            "evaluation_id": evaluation_id,
            "job_id": job_id,
            "decision": decision,
            "final_verdict": DECISIONS[decision],
            "reviewer": stored.reviewer,
            "note": note,
            "decided_at": stored.created_at.isoformat(),
        }

    def stats(self) -> dict[str, Any]:
        """Per judge: how often its vote matched the reviewer's decision, and Cohen's kappa."""
        with Session(self.services.engine) as session:
            rows = list(
                session.exec(
                    select(ReviewDecision, Evaluation).join(
                        Evaluation, col(Evaluation.id) == col(ReviewDecision.evaluation_id)
                    )
                )
            )
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
