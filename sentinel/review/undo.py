"""Undo: a reviewer takes back their own decision for a few minutes; the item waits for review again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from sentinel.errors import NotFound
from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import visible
from sentinel.models import Evaluation, JobAttempt, ReviewDecision, as_utc, utcnow
from sentinel.outbox import steps
from sentinel.outbox.store import write
from sentinel.review import claims
from sentinel.review.errors import CannotUndo, check_id

if TYPE_CHECKING:
    from sentinel.review.service import ReviewService

#: How long after deciding a reviewer may take the decision back (Gmail-style "undo", long enough to notice a
#: slip, short enough that webhooks and reports are not rewritten long after the fact).
UNDO_WINDOW_SECONDS = 300


def undo_decision(service: ReviewService, evaluation_id: str, reviewer: str, caller: Caller | None) -> dict[str, Any]:
    """Delete the reviewer's own recent decision and put the item (and its job) back to waiting for review, with
    "undone" webhooks, in one transaction. Refused with CannotUndo when it is someone else's decision, too old, or
    a rejection whose regeneration already has its new attempt."""
    now = utcnow()
    with Session(service.services.engine, expire_on_commit=False) as session:
        check_id(evaluation_id)
        query = visible(select(Evaluation).where(Evaluation.id == evaluation_id), Evaluation.key_id, caller)
        evaluation = session.exec(query).first()
        if evaluation is None:
            raise NotFound(f"no evaluation with id '{evaluation_id}'", field="id")
        decision = session.exec(select(ReviewDecision).where(ReviewDecision.evaluation_id == evaluation_id)).first()
        if decision is None:
            raise CannotUndo(f"'{evaluation_id}' has no decision to undo")
        decided_at = as_utc(decision.created_at)
        if decision.reviewer != reviewer:
            raise CannotUndo(
                f"{decision.reviewer} decided this item ({decision.decision}); only they can undo their decision"
            )
        age = (now - decided_at).total_seconds()
        if age > UNDO_WINDOW_SECONDS:
            raise CannotUndo(
                f"decided {_ago(age)} ago: a decision can be undone for {UNDO_WINDOW_SECONDS // 60} minutes after it"
            )
        attempt = session.exec(select(JobAttempt).where(JobAttempt.evaluation_id == evaluation_id)).first()
        if attempt is not None:
            later = session.exec(
                select(JobAttempt).where(
                    JobAttempt.job_id == attempt.job_id,
                    JobAttempt.slot == attempt.slot,
                    col(JobAttempt.number) > attempt.number,
                )
            ).first()
            if later is not None:
                raise CannotUndo(
                    f"the rejection started a regeneration: attempt {later.number} of job {attempt.job_id} exists "
                    "already, so the decision stays (judge the new attempt instead)"
                )
        # The delete's row count decides two undos racing: the second finds nothing left to delete.
        deleted = session.execute(delete(ReviewDecision).where(col(ReviewDecision.id) == decision.id)).rowcount  # type: ignore[attr-defined]
        if deleted != 1:
            session.rollback()
            raise CannotUndo(f"'{evaluation_id}' has no decision to undo")
        service.progress_of_jobs.undo_review(session, evaluation)
        settings = service.services.settings
        write(session, *steps.deliver_webhook("evaluation", evaluation_id, evaluation.callback_url, "undone", settings))
        # The reviewer most likely undid to decide again: the item stays theirs for a claim's length.
        claims.take(session, evaluation_id, reviewer, now, service.claim_seconds)
        session.commit()
    return {
        "evaluation_id": evaluation_id,
        "job_id": attempt.job_id if attempt is not None else None,
        "undone": {
            "decision": decision.decision,
            "reviewer": decision.reviewer,
            "note": decision.note,
            "decided_at": decided_at.isoformat(),
        },
        "review": {"state": "waiting", "final_verdict": None},
        "undone_at": now.isoformat(),
    }


def _ago(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    return f"{hours} hour{'s' if hours != 1 else ''}" if hours < 48 else f"{hours // 24} days"


__all__ = ["UNDO_WINDOW_SECONDS", "undo_decision"]
