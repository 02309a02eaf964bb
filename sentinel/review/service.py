"""Deciding amber results: the queue, claims, one decision per item (undoable for a while), and how judges agree
with reviewers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from sentinel.db import insert_unless_present
from sentinel.errors import InvalidInput, NotFound
from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.progress import JobProgress
from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import visible
from sentinel.models import (
    Evaluation,
    EvaluationStatus,
    JobAttempt,
    ReviewClaim,
    ReviewDecision,
    Verdict,
    as_utc,
    utcnow,
)
from sentinel.outbox import steps
from sentinel.outbox.store import write
from sentinel.review import claims, items
from sentinel.review import cursor as review_cursor
from sentinel.review.bulk import decide_many
from sentinel.review.errors import AlreadyDecided, ClaimedByOther, NotAwaitingReview, check_id
from sentinel.review.filters import QueueFilter
from sentinel.review.progress import reviewer_progress
from sentinel.review.stats import judge_agreement
from sentinel.review.undo import UNDO_WINDOW_SECONDS, undo_decision
from sentinel.services import Services

__all__ = ["UNDO_WINDOW_SECONDS", "AlreadyDecided", "NotAwaitingReview", "ReviewService"]

DECISIONS = {"approve": Verdict.GREEN, "reject": Verdict.RED}


class ReviewService:
    def __init__(self, services: Services, evaluations: EvaluationService) -> None:
        self.services = services
        self.evaluations = evaluations
        self.progress_of_jobs = JobProgress(services)

    @property
    def claim_seconds(self) -> int:
        return self.services.settings.review_claim_seconds

    # -- the queue ----------------------------------------------------------------------------------

    def queue(
        self,
        filters: QueueFilter | str | None,
        limit: int,
        caller: Caller | None = None,
        reviewer: str | None = None,
    ) -> list[dict[str, Any]]:
        """Amber results nobody has decided yet, oldest first, matching ``filters`` (a bare task name is read as
        the task filter); each with its failing criteria, the provider:model that made it and who holds it. A
        reviewer's key sees its tenant's items only (``caller`` None: everyone's)."""
        if not isinstance(filters, QueueFilter):
            filters = QueueFilter(task=filters or None)
        return self.queue_page(filters, limit, None, caller, reviewer)[0]

    def queue_page(
        self,
        filters: QueueFilter,
        limit: int,
        cursor: str | None = None,
        caller: Caller | None = None,
        reviewer: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of :meth:`queue` starting after ``cursor`` (the previous page's ``next_cursor``, given with the
        same filters), and the cursor of the page after it: None on the last page. Items decided or turned amber
        between pages neither shift nor repeat the others (see :mod:`sentinel.review.cursor`)."""
        now = utcnow()
        query = items.waiting_query(filters, caller, now)
        if cursor:
            query = query.where(review_cursor.after(review_cursor.decode(cursor, filters)))
        with Session(self.services.engine) as session:
            # One row more than asked tells whether another page follows, without a count.
            rows = items.rows(session, query, filters, limit + 1)
            next_cursor = None
            if len(rows) > limit:
                rows = rows[:limit]
                next_cursor = review_cursor.encode(*review_cursor.position_of(rows[-1][0]), filters)
            return self._views(session, rows, reviewer, now), next_cursor

    def item(self, evaluation_id: str, caller: Caller | None = None, reviewer: str | None = None) -> dict[str, Any]:
        """One waiting item as the queue shows it; NotFound when it is not waiting (or not the caller's)."""
        check_id(evaluation_id)
        now = utcnow()
        with Session(self.services.engine) as session:
            query = items.waiting_query(QueueFilter(), caller, now).where(Evaluation.id == evaluation_id)
            rows = items.rows(session, query, QueueFilter(), 1)
            if not rows:
                raise NotFound(f"no evaluation waiting for review with id '{evaluation_id}'", field="id")
            return self._views(session, rows, reviewer, now)[0]

    def _views(
        self, session: Session, rows: list[items.Row], reviewer: str | None, now: datetime
    ) -> list[dict[str, Any]]:
        ids = [evaluation.id for evaluation, _, _ in rows]
        votes = items.vote_counts(session, ids)
        held = claims.live_claims(session, ids, now)
        found = []
        for evaluation, attempt, job in rows:
            item = self.evaluations.view(evaluation, [])
            item["votes_in"] = votes.get(evaluation.id, 0)
            item["job_id"] = job.id if job else None
            item["job"] = items.job_view(attempt, job)
            item["failing"] = items.failing(evaluation)
            item["provider_model"] = items.provider_model(attempt)
            claim = held.get(evaluation.id)
            item["claim"] = (
                {
                    "reviewer": claim.reviewer,
                    "expires_at": as_utc(claim.expires_at).isoformat(),
                    "mine": claim.reviewer == reviewer,
                }
                if claim
                else None
            )
            found.append(item)
        return found

    def facets(self, caller: Caller | None = None) -> dict[str, list[str]]:
        """The tasks, objecting judges, failing criteria and provider:models among waiting items."""
        with Session(self.services.engine) as session:
            rows = items.rows(session, items.waiting_query(QueueFilter(), caller, utcnow()), QueueFilter(), None)
        return items.facets(rows)

    # -- claims -------------------------------------------------------------------------------------

    def _waiting(self, session: Session, evaluation_id: str, caller: Caller | None) -> Evaluation:
        """The caller's tenant's evaluation (another tenant's is not found), refused unless it waits for review."""
        check_id(evaluation_id)
        query = visible(select(Evaluation).where(Evaluation.id == evaluation_id), Evaluation.key_id, caller)
        evaluation = session.exec(query).first()
        if evaluation is None:
            raise NotFound(f"no evaluation with id '{evaluation_id}'", field="id")
        if evaluation.status != EvaluationStatus.DONE or evaluation.verdict != Verdict.AMBER:
            raise NotAwaitingReview(
                f"'{evaluation_id}' is not waiting for review: its verdict is {evaluation.verdict or 'not in yet'}"
            )
        decided = session.exec(select(ReviewDecision).where(ReviewDecision.evaluation_id == evaluation_id)).first()
        if decided is not None:
            raise already_decided(decided)
        return evaluation

    def claim(self, evaluation_id: str, reviewer: str, caller: Caller | None = None) -> dict[str, Any]:
        """Take (or extend) the claim on an item if it is free, expired or already the reviewer's; if someone else
        holds it, their claim is returned with ``mine`` False. The reviewer's other claims are released."""
        with Session(self.services.engine, expire_on_commit=False) as session:
            self._waiting(session, evaluation_id, caller)
            # A second try only when the holder let go between our claim and our look at theirs.
            for _ in range(3):
                if claims.take_undecided(session, evaluation_id, reviewer, utcnow(), self.claim_seconds):
                    claims.release_others(session, reviewer, keep=evaluation_id)
                    session.commit()
                else:
                    session.rollback()
                    self._waiting(session, evaluation_id, caller)  # decided meanwhile: say by whom
                held = claims.current(session, evaluation_id)
                if held is not None:
                    return claims.claim_view(held, reviewer)
        raise NotAwaitingReview(f"'{evaluation_id}' could not be claimed: try again")

    def claim_next(
        self, filters: QueueFilter, reviewer: str, caller: Caller | None = None, after: str | None = None
    ) -> str | None:
        """Claim and return the oldest waiting item matching ``filters`` that nobody else holds (after ``after``
        in queue order, when given); None when there is none. Two reviewers asking at once get different items."""
        now = utcnow()
        with Session(self.services.engine) as session:
            query = items.unclaimed_by_others(items.waiting_query(filters, caller, now), reviewer, now)
            candidates = [review_cursor.position_of(e) for e, _, _ in items.rows(session, query, filters, None)]
            if after is not None:
                candidates = self._after(session, candidates, after)
            for _, evaluation_id in candidates:
                # Each try is its own short transaction: the conditional claim decides a race, and nothing waits
                # on locks this reviewer took for an item they did not get.
                if claims.take_undecided(session, evaluation_id, reviewer, now, self.claim_seconds):
                    claims.release_others(session, reviewer, keep=evaluation_id)
                    session.commit()
                    return evaluation_id
                session.rollback()
            if after is not None:
                claims.release(session, after, reviewer)
                session.commit()
        return None

    @staticmethod
    def _after(session: Session, candidates: list[tuple[datetime, str]], after: str) -> list[tuple[datetime, str]]:
        """The candidates that come after ``after`` in queue order (oldest first, then by id); it may have left
        the queue already (decided a moment ago), so its place is looked up."""
        check_id(after)
        anchor = session.get(Evaluation, after)
        if anchor is None:
            return candidates
        key = review_cursor.position_of(anchor)
        return [candidate for candidate in candidates if candidate > key]

    def release(self, evaluation_id: str, reviewer: str, caller: Caller | None = None) -> None:
        """Give the item back to the team (only the reviewer's own claim is dropped)."""
        with Session(self.services.engine) as session:
            check_id(evaluation_id)
            query = visible(select(Evaluation.id).where(Evaluation.id == evaluation_id), Evaluation.key_id, caller)
            if session.exec(query).first() is None:
                raise NotFound(f"no evaluation with id '{evaluation_id}'", field="id")
            claims.release(session, evaluation_id, reviewer)
            session.commit()

    # -- decisions ----------------------------------------------------------------------------------

    def decide(
        self,
        evaluation_id: str,
        decision: str,
        reviewer: str,
        note: str | None,
        regenerate: bool = False,
        *,
        caller: Caller | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Store the one decision on an amber item of the caller's tenant; a rejected job item may ask for a new
        attempt. The item's claim goes; the decision keeps when the reviewer's claim began. An item another
        reviewer holds is refused (:class:`ClaimedByOther`) unless ``force``."""
        if decision not in DECISIONS:
            raise InvalidInput("decision must be 'approve' or 'reject'", field="decision")
        if not reviewer.strip():
            raise InvalidInput("reviewer is required", field="reviewer")
        if regenerate and decision != "reject":
            raise InvalidInput("only a rejection can ask for regeneration", field="regenerate")
        reviewer = reviewer.strip()
        note = note.strip() if note and note.strip() else None
        with Session(self.services.engine, expire_on_commit=False) as session:
            # Another tenant's item is not found: a reviewer cannot decide it, nor learn that it exists.
            evaluation = self._waiting(session, evaluation_id, caller)
            job_id = session.exec(select(JobAttempt.job_id).where(JobAttempt.evaluation_id == evaluation_id)).first()
            if regenerate and job_id is None:
                raise InvalidInput(
                    "regeneration needs a job item: this image was submitted for evaluation, not generated by a job",
                    field="regenerate",
                )
            held = claims.current(session, evaluation_id)
            if held is not None and held.reviewer != reviewer and as_utc(held.expires_at) > utcnow() and not force:
                raise ClaimedByOther(held.reviewer, as_utc(held.expires_at).isoformat())
            opened_at = held.claimed_at if held is not None and held.reviewer == reviewer else None
            # The unique evaluation_id decides a race between two reviewers: one row, one winner.
            values = {
                "evaluation_id": evaluation_id,
                "decision": decision,
                "reviewer": reviewer,
                "note": note,
                "opened_at": opened_at,
                "created_at": utcnow(),
            }
            inserted = insert_unless_present(session, ReviewDecision, values, ["evaluation_id"])
            stored = session.exec(select(ReviewDecision).where(ReviewDecision.evaluation_id == evaluation_id)).one()
            if not inserted:
                session.rollback()
                raise already_decided(stored)
            session.execute(delete(ReviewClaim).where(col(ReviewClaim.evaluation_id) == evaluation_id))
            verb = "approved" if decision == "approve" else "rejected"
            reason = f"{verb} by {stored.reviewer}" + (f": {note}" if note else "")
            # Same transaction as the decision: the job's verdict (or its next attempt) and the webhooks.
            self.progress_of_jobs.record_review(
                session, evaluation, DECISIONS[decision], reason, regenerate=regenerate, note=note
            )
            settings = self.services.settings
            write(
                session,
                *steps.deliver_webhook("evaluation", evaluation_id, evaluation.callback_url, "decided", settings),
            )
            session.commit()
        return {
            "evaluation_id": evaluation_id,
            "job_id": job_id,
            "decision": decision,
            "final_verdict": DECISIONS[decision],
            "reviewer": stored.reviewer,
            "note": note,
            "regenerating": regenerate,
            "decided_at": as_utc(stored.created_at).isoformat(),
            "opened_at": as_utc(opened_at).isoformat() if opened_at else None,
        }

    def decide_many(
        self, evaluation_ids: list[str], decision: str, reviewer: str, note: str | None, caller: Caller | None = None
    ) -> list[dict[str, Any]]:
        """One decision (and note) for many items, each in its own transaction; see :func:`decide_many`."""
        return decide_many(self, evaluation_ids, decision, reviewer, note, caller)

    def undo(self, evaluation_id: str, reviewer: str, caller: Caller | None = None) -> dict[str, Any]:
        """Take back one's own decision within UNDO_WINDOW_SECONDS: the item waits for review again (claimed by
        the reviewer, who is most likely about to decide it again)."""
        return undo_decision(self, evaluation_id, reviewer, caller)

    def decision(self, evaluation_id: str, caller: Caller | None = None) -> ReviewDecision | None:
        query = select(ReviewDecision).join(Evaluation, col(Evaluation.id) == col(ReviewDecision.evaluation_id))
        query = visible(query.where(ReviewDecision.evaluation_id == evaluation_id), Evaluation.key_id, caller)
        with Session(self.services.engine) as session:
            return session.exec(query).first()

    # -- how it goes --------------------------------------------------------------------------------

    def progress(self, caller: Caller | None = None) -> list[dict[str, Any]]:
        """Per reviewer: decided today (UTC), decided in all, and the median time from claim to decision."""
        return reviewer_progress(self.services.engine, caller, utcnow())

    def stats(self, caller: Caller | None = None) -> dict[str, Any]:
        """Per judge: how often its vote matched the reviewer's decision, and Cohen's kappa (over the caller's
        tenant's decisions; ``caller`` None: everyone's). An undone decision is gone, so it counts for nothing."""
        return judge_agreement(self.services.engine, caller)


def already_decided(decision: ReviewDecision) -> AlreadyDecided:
    return AlreadyDecided(decision.reviewer, as_utc(decision.created_at).isoformat(), decision.decision)
