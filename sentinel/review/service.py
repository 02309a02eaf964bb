"""Deciding amber results: the queue, one decision per item, and how judges agree with reviewers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from sentinel.db import insert_unless_present
from sentinel.errors import InvalidInput, NotFound, SentinelError
from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.service import JobService, record_review
from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import visible
from sentinel.models import Evaluation, EvaluationStatus, Job, JobAttempt, ReviewDecision, as_utc
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
    def __init__(
        self, services: Services, evaluations: EvaluationService, jobs: Callable[[], JobService] | None = None
    ) -> None:
        self.services = services
        self.evaluations = evaluations
        #: The job service (built when the gateway is up); regeneration after a rejection needs it.
        self._jobs = jobs

    def queue(self, task: str | None, limit: int, caller: Caller | None = None) -> list[dict[str, Any]]:
        """Amber results nobody has decided yet, oldest first; job items carry their job's prompt. A reviewer's
        key sees its tenant's items only (``caller`` None: everyone's)."""
        query = (
            select(Evaluation, JobAttempt, Job)
            .join(ReviewDecision, col(ReviewDecision.evaluation_id) == col(Evaluation.id), isouter=True)
            .join(JobAttempt, col(JobAttempt.evaluation_id) == col(Evaluation.id), isouter=True)
            .join(Job, col(Job.id) == col(JobAttempt.job_id), isouter=True)
            .where(Evaluation.status == EvaluationStatus.DONE, Evaluation.verdict == "amber")
            .where(col(ReviewDecision.id).is_(None))
            .order_by(col(Evaluation.created_at), col(Evaluation.id))
            .limit(limit)
        )
        if task:
            query = query.where(Evaluation.task == task)
        query = visible(query, Evaluation.key_id, caller)
        with Session(self.services.engine) as session:
            rows = list(session.exec(query))
        items = []
        for evaluation, attempt, job in rows:
            item = self.evaluations.view(evaluation, [])
            item["job_id"] = job.id if job else None
            item["job"] = (
                {
                    "id": job.id,
                    "prompt": job.prompt,
                    "params": job.params,
                    "slot": attempt.slot,
                    "attempt": attempt.number,
                    "max_attempts": job.max_attempts,
                    "provider": attempt.provider,
                    "model": attempt.provider_model,
                }
                if job and attempt
                else None
            )
            items.append(item)
        return items

    def decide(
        self,
        evaluation_id: str,
        decision: str,
        reviewer: str,
        note: str | None,
        regenerate: bool = False,
        *,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """Store the one decision on an amber item of the caller's tenant; a rejected job item may ask for a new
        attempt."""
        if decision not in DECISIONS:
            raise InvalidInput("decision must be 'approve' or 'reject'", field="decision")
        if not reviewer.strip():
            raise InvalidInput("reviewer is required", field="reviewer")
        if regenerate and decision != "reject":
            raise InvalidInput("only a rejection can ask for regeneration", field="regenerate")
        note = note.strip() if note and note.strip() else None
        with Session(self.services.engine, expire_on_commit=False) as session:
            # Another tenant's item is not found: a reviewer cannot decide it, nor learn that it exists.
            query = visible(select(Evaluation).where(Evaluation.id == evaluation_id), Evaluation.key_id, caller)
            evaluation = session.exec(query).first()
            if evaluation is None:
                raise NotFound(f"no evaluation with id '{evaluation_id}'", field="id")
            if evaluation.status != EvaluationStatus.DONE or evaluation.verdict != "amber":
                raise NotAwaitingReview(
                    f"'{evaluation_id}' is not waiting for review: its verdict is {evaluation.verdict or 'not in yet'}"
                )
            job_id = session.exec(select(JobAttempt.job_id).where(JobAttempt.evaluation_id == evaluation_id)).first()
            if regenerate and job_id is None:
                raise InvalidInput(
                    "regeneration needs a job item: this image was submitted for evaluation, not generated by a job",
                    field="regenerate",
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
            verb = "approved" if decision == "approve" else "rejected"
            reason = f"{verb} by {stored.reviewer}" + (f": {note}" if note else "")
            regeneration = None
            if job_id is not None:
                # Same transaction as the decision: the job never shows a verdict its decision does not back.
                regeneration = record_review(session, evaluation, DECISIONS[decision], reason, regenerate, note)
            session.commit()
        if regeneration is not None:
            if self._jobs is None:
                raise RuntimeError("regeneration needs the job service")
            self._jobs().dispatch_regeneration(regeneration)
        for listener in DECISION_LISTENERS:
            listener(evaluation_id, job_id)
        return {
            "evaluation_id": evaluation_id,
            "job_id": job_id,
            "decision": decision,
            "final_verdict": DECISIONS[decision],
            "reviewer": stored.reviewer,
            "note": note,
            "regenerating": regeneration is not None,
            "decided_at": as_utc(stored.created_at).isoformat(),
        }

    def decision(self, evaluation_id: str, caller: Caller | None = None) -> ReviewDecision | None:
        query = select(ReviewDecision).join(Evaluation, col(Evaluation.id) == col(ReviewDecision.evaluation_id))
        query = visible(query.where(ReviewDecision.evaluation_id == evaluation_id), Evaluation.key_id, caller)
        with Session(self.services.engine) as session:
            return session.exec(query).first()

    def stats(self, caller: Caller | None = None) -> dict[str, Any]:
        """Per judge: how often its vote matched the reviewer's decision, and Cohen's kappa (over the caller's
        tenant's decisions; ``caller`` None: everyone's)."""
        query = select(ReviewDecision, Evaluation).join(
            Evaluation, col(Evaluation.id) == col(ReviewDecision.evaluation_id)
        )
        with Session(self.services.engine) as session:
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
