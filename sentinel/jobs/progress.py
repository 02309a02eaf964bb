"""The job state machine: after each attempt, the next attempt, or the job closed with its verdict.

Every transition runs inside one transaction with the messages it implies (the next attempt, the webhook), and
is decided by a conditional UPDATE, so a step delivered twice moves the job once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.db import insert_unless_present
from sentinel.errors import InvalidInput
from sentinel.evaluation.guidance import regeneration_prompt
from sentinel.jobs.clock import database_now, job_and_now, lease_free, now_to_write
from sentinel.jobs.errors import JobFinished
from sentinel.jobs.guidance import earlier_evaluations, guidance_from, reviewer_notes
from sentinel.jobs.selection import chosen_per_slot, issue_counts, worst
from sentinel.jobs.unstored import unstored_images
from sentinel.models import (
    FINAL_JOB_STATES,
    AttemptState,
    Evaluation,
    Job,
    JobAttempt,
    JobState,
    Verdict,
    as_utc,
)
from sentinel.outbox import steps
from sentinel.outbox.store import write
from sentinel.providers.base import Outcome
from sentinel.services import Services
from sentinel.telemetry.finished import job_key

#: The failure code of an attempt refused by the caller's spend cap (the others are provider outcomes).
SPEND_CAP_REACHED = "spend_cap_reached"

#: The failure code of an attempt that had not started when its job was cancelled (it never will), or that was under
#: way then and whose worker stopped before it delivered (see :meth:`JobProgress.abandon_after_cancel`).
CANCELLED = "cancelled"

#: The error of an attempt that had not started when its job was cancelled.
NOT_STARTED = "not started: the job was cancelled"

#: The error of an attempt under way at a cancel whose worker stopped before it delivered an image.
ABANDONED = (
    "abandoned: the worker generating it stopped after the job was cancelled; it is not generated again, so nothing "
    "more is paid for it"
)

#: Failures another attempt cannot mend: the provider refused the request itself (a size or parameter it does not
#: take) or the credentials, or the caller's spend cap is reached. The same request again is one more paid call to
#: the same answer, so the slot ends at once. Rate limits, outages, timeouts and content filters (an output filter
#: may pass another seed) are retried while attempts and budget last.
FINAL_FAILURES = frozenset({Outcome.INVALID_REQUEST.value, Outcome.AUTH.value, SPEND_CAP_REACHED})


def ends_slot(attempt: JobAttempt) -> bool:
    """Whether a failed attempt's failure is one no further attempt could mend: a final failure, or one the set-up
    refused (``unchanging``: no key for any candidate, every model parked or gone, or every one left paid for images
    it could not deliver), which stays so until an operator changes it, not within a job's budget."""
    return attempt.state == AttemptState.FAILED and (attempt.failure in FINAL_FAILURES or bool(attempt.unchanging))


#: Why a job closed, by its verdict.
CLOSING_REASONS = {
    Verdict.GREEN: "every image passed",
    Verdict.AMBER: "one judge objected to an image: it waits for review",
    Verdict.RED: "no attempt passed within max_attempts; the best attempt is returned, marked red",
}


@dataclass
class Transition:
    """What a step did to a job: whether it closed it (readers waiting on the job are told after the commit)."""

    job_id: str
    closed: bool = False


class JobProgress:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings

    def on_verdict(self, evaluation_id: str) -> None:
        """An evaluation has its verdict: if it judged a job's attempt, the job moves on. Safe to run twice."""
        with Session(self.services.engine, expire_on_commit=False) as session:
            evaluation = session.get(Evaluation, evaluation_id)
            transition = self.attempt_judged(session, evaluation) if evaluation is not None else None
            session.commit()
        self.announce(transition)

    def announce(self, transition: Transition | None) -> None:
        """Readers long-polling a job hear that it closed (after the commit that closed it), and the images kept
        for it on this machine while the blob store was away are dropped: no attempt of a closed job runs again."""
        if transition is not None and transition.closed:
            self.services.finished.announce(job_key(transition.job_id))
            unstored_images(self.services).forget_job(transition.job_id)

    # -- after an attempt -------------------------------------------------------------------------

    def attempt_judged(self, session: Session, evaluation: Evaluation) -> Transition | None:
        """Record an evaluation's verdict on its attempt, then regenerate (red) or close the slot."""
        attempt = session.exec(select(JobAttempt).where(JobAttempt.evaluation_id == evaluation.id)).first()
        if attempt is None or evaluation.verdict is None:
            return None
        passed = sum(c["passed"] for j in (evaluation.result or {}).get("judges", []) for c in j["criteria"])
        won = session.execute(
            update(JobAttempt)
            .where(col(JobAttempt.id) == attempt.id, col(JobAttempt.state) == AttemptState.JUDGING)
            .values(
                state=AttemptState.JUDGED,
                verdict=evaluation.verdict,
                failed_judges=evaluation.failed_judges,
                passed_criteria=passed,
                issue_counts=issue_counts(
                    evaluation.result, (c["id"] for c in evaluation.rubric["criteria"] if c.get("critical"))
                ),
                summary=evaluation.summary,
                finished_at=now_to_write(session),
            )
        ).rowcount  # type: ignore[attr-defined]
        if won != 1:
            return None  # a redelivered message: this verdict was recorded already
        # Read once, with the database's clock: after_failure judges the budget by both.
        job, now = job_and_now(session, attempt.job_id)
        if job is not None and job.state == JobState.CANCELLED:
            return self._kept_after_cancel(session, attempt.job_id)
        if evaluation.verdict == Verdict.RED:
            earlier = earlier_evaluations(session, attempt)
            guidance = guidance_from(evaluation, earlier, reviewer_notes(session, earlier))
            return self.after_failure(session, attempt.job_id, attempt.slot, attempt.number, guidance, now=now)
        return self.close_if_complete(session, attempt.job_id)

    def attempt_failed(
        self, session: Session, attempt: JobAttempt, error: str, failure: str | None, said: dict[str, Any] | None = None
    ) -> Transition:
        """No image could be generated for ``attempt`` (``failure``: why, as a code; ``said``: more of the
        provider's answer, as attempt columns): the next one, or, when another attempt cannot help
        (:func:`ends_slot`) or none is left, the slot is done and the job closes once every slot is."""
        session.execute(
            update(JobAttempt)
            .where(col(JobAttempt.id) == attempt.id)
            .values(
                state=AttemptState.FAILED,
                error=error,
                failure=failure,
                finished_at=now_to_write(session),
                lease_until=None,
                **(said or {}),
            )
        )
        final = failure in FINAL_FAILURES or bool((said or {}).get("unchanging"))
        return self.after_failure(session, attempt.job_id, attempt.slot, attempt.number, attempt.guidance, final)

    def after_failure(
        self,
        session: Session,
        job_id: str,
        slot: int,
        number: int,
        guidance: str | None,
        final: bool = False,
        *,
        now: datetime | None = None,
    ) -> Transition:
        """After a red or failed attempt: the next attempt while attempts and budget last (and, ``final``, the
        failure is not one another attempt could mend), else close. The budget is judged by the database's clock
        (``now``, when the caller read it with the job; else read here with the job)."""
        if now is None:
            job, now = job_and_now(session, job_id)
        else:
            job = session.get(Job, job_id)
        if job is None or job.state in FINAL_JOB_STATES:
            return Transition(job_id)
        if as_utc(job.deadline_at) <= now:
            return self.expire(session, job, now)
        if number < job.max_attempts and not final:
            # Nothing is queued for a job closed since it was read (a cancel that committed meanwhile).
            if self.set_state(session, job_id, JobState.REGENERATING):
                self.queue_attempt(session, job, slot, number + 1, guidance)
            return Transition(job_id)
        return self.close_if_complete(session, job_id)

    def queue_attempt(self, session: Session, job: Job, slot: int, number: int, guidance: str | None) -> None:
        """The attempt's row (with exactly what the provider will be asked) and the message that runs it."""
        values = {
            "job_id": job.id,
            "slot": slot,
            "number": number,
            "prompt": regeneration_prompt(job.prompt, guidance),
            "guidance": guidance,
            "state": AttemptState.GENERATING,
            "started_at": now_to_write(session),
        }
        insert_unless_present(session, JobAttempt, values, ["job_id", "slot", "number"])
        write(session, steps.generate_attempt(job.id, slot, number))

    # -- closing ----------------------------------------------------------------------------------

    @staticmethod
    def _slot_done(job: Job, attempts: list[JobAttempt]) -> bool:
        if any(a.verdict in (Verdict.GREEN, Verdict.AMBER) for a in attempts):
            return True
        if not attempts:
            return False
        latest = max(attempts, key=lambda a: a.number)
        if ends_slot(latest):
            return True
        return latest.state in (AttemptState.JUDGED, AttemptState.FAILED) and latest.number >= job.max_attempts

    def close_if_complete(self, session: Session, job_id: str) -> Transition:
        """Close the job once every slot has its answer: its verdict is the worst chosen image's."""
        session.expire_all()  # the attempt rows were just changed by UPDATE statements
        job = session.get(Job, job_id)
        if job is None or job.state in FINAL_JOB_STATES:
            return Transition(job_id)
        attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job_id)))
        if not all(self._slot_done(job, [a for a in attempts if a.slot == s]) for s in range(job.n)):
            return Transition(job_id)
        chosen = chosen_per_slot(job.n, attempts)
        if not any(chosen):
            return self.close(session, job, JobState.FAILED, None, self._failure_reason(attempts))
        verdict = worst(c.verdict for c in chosen if c)
        assert verdict is not None
        return self.close(session, job, JobState.DONE, verdict, self._closing_reason(verdict, attempts))

    @staticmethod
    def _closing_reason(verdict: Verdict, attempts: list[JobAttempt]) -> str:
        """Why a done job closed. A red one whose regeneration the caller's spend cap stopped says so in the cap's
        own words (used, cap, when it resets): blaming max_attempts would have the caller raise the wrong limit."""
        capped = [a for a in attempts if a.failure == SPEND_CAP_REACHED and a.error]
        if verdict != Verdict.RED or not capped:
            return CLOSING_REASONS[verdict]
        last = max(capped, key=lambda a: (a.number, a.slot))
        said = (last.error or "").rstrip(".")
        return f"regeneration stopped by the spend cap: {said}; the best attempt is returned, marked red"

    @staticmethod
    def _failure_reason(attempts: list[JobAttempt]) -> str:
        """Why no image came, in the provider's words: the job's reason is what a judged gateway request answers
        with, and "no image could be generated" alone leaves the caller guessing (a size the provider refuses, a
        rejected key) or retrying what cannot work."""
        failed = [a for a in attempts if a.state == AttemptState.FAILED and a.error]
        if not failed:
            return "no image could be generated"
        last = max(failed, key=lambda a: (a.number, a.slot))
        if last.unchanging:
            return (
                f"no image could be generated: {last.error} (not attempted again: no retry can change this until "
                "the set-up does)"
            )
        if last.failure in FINAL_FAILURES:
            return f"no image could be generated: {last.error} (not attempted again: the same request would be refused)"
        return f"no image could be generated: {last.error}"

    def expire(self, session: Session, job: Job, now: datetime | None = None) -> Transition:
        """The budget ran out by ``now``, the database's clock (read here when not given): close the job with what
        it has."""
        if now is None:
            now = database_now(session)
        if job.state in FINAL_JOB_STATES or as_utc(job.deadline_at) > now:
            return Transition(job.id)  # closed, or a reviewer's regeneration gave it a new budget
        attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job.id)))
        verdict = worst(c.verdict for c in chosen_per_slot(job.n, attempts) if c)
        reason = f"the budget of {job.budget_seconds:g} s ran out after {len(attempts)} attempt(s)"
        return self.close(session, job, JobState.EXPIRED, verdict, reason)

    def cancel(self, session: Session, job: Job) -> Transition:
        """The caller stops the job: attempts not yet started never will be (each is marked failed, ``cancelled``,
        by the same conditional UPDATE a worker's lease needs to win, so of a cancel and a lease exactly one takes
        it), and the job closes ``cancelled`` with its best attempt so far. An attempt under way (its provider
        call, or its judging) finishes and is kept, with no regeneration after it. Cancelling a cancelled job
        changes nothing; one that ended on its own raises :class:`JobFinished`."""
        if job.state == JobState.CANCELLED:
            return Transition(job.id)
        if job.state in FINAL_JOB_STATES:
            raise self._finished(job)
        now = database_now(session)  # leases are judged by the database's clock (see sentinel.jobs.clock)
        # The job's row first: its UPDATE decides a race with any step closing it, and a step that would queue the
        # next attempt meanwhile waits for this transaction, then finds the job closed (set_state wins nothing).
        won = session.execute(
            update(Job)
            .where(col(Job.id) == job.id, col(Job.state).not_in(list(FINAL_JOB_STATES)))
            .values(state=JobState.CANCELLED, finished_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if won != 1:
            session.rollback()
            state = session.exec(select(Job.state).where(Job.id == job.id)).one()
            if state == JobState.CANCELLED:
                return Transition(job.id)  # another cancel got there first: the same answer
            job.state = state
            raise self._finished(job)
        session.execute(
            update(JobAttempt)
            .where(
                col(JobAttempt.job_id) == job.id,
                col(JobAttempt.state) == AttemptState.GENERATING,
                col(JobAttempt.image_id).is_(None),
                (col(JobAttempt.lease_until).is_(None)) | (col(JobAttempt.lease_until) < now),
            )
            .values(
                state=AttemptState.FAILED,
                failure=CANCELLED,
                error=NOT_STARTED,
                finished_at=now,
                lease_until=None,
            )
        )
        session.expire_all()
        attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job.id)))
        verdict = worst(c.verdict for c in chosen_per_slot(job.n, attempts) if c)
        reason = self._cancelled_reason(attempts)
        session.execute(update(Job).where(col(Job.id) == job.id).values(verdict=verdict, reason=reason))
        write(session, *self.webhook(job, "finished"))
        return Transition(job.id, closed=True)

    @staticmethod
    def _cancelled_reason(attempts: list[JobAttempt], kept_after: int = 0) -> str:
        """A cancelled job's reason: how many attempts started, how many of them are still under way, and how many
        (``kept_after``) finished after the cancel and were kept."""
        made = [a for a in attempts if not (a.failure == CANCELLED and a.error == NOT_STARTED)]
        under_way = sum(a.state in (AttemptState.GENERATING, AttemptState.JUDGING) for a in made)
        reason = f"cancelled after {len(made)} attempt(s)"
        if kept_after:
            reason += f"; {kept_after} attempt(s) under way at the cancel finished and were kept"
        if under_way:
            reason += f"; {under_way} attempt(s) under way will finish and be kept, with no regeneration after"
        return reason

    def abandon_after_cancel(self, session: Session, attempt: JobAttempt, now: datetime) -> Transition | None:
        """An attempt under way at its job's cancel whose worker stopped (its lease ran out, or it never had one and
        was started long ago: the caller decides) before it delivered: it ends failed, ``cancelled``, and is not
        generated again, since its job was stopped so as to pay for nothing more. The job's reason stops promising
        it; the webhook is told (``updated``). None when it was not lost after all (the conditional UPDATE, the
        same a lease needs, lost to a worker that renewed or handed it on meanwhile)."""
        settled = session.execute(
            update(JobAttempt)
            .where(lease_free(attempt.id, now))
            .values(state=AttemptState.FAILED, failure=CANCELLED, error=ABANDONED, finished_at=now, lease_until=None)
            # The attempt is in the session (SQLite's times read back naive): the rows are expired below instead.
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if settled != 1:
            return None
        session.expire_all()
        job = session.get(Job, attempt.job_id)
        assert job is not None
        attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job.id)))
        session.execute(update(Job).where(col(Job.id) == job.id).values(reason=self._cancelled_reason(attempts)))
        write(session, *self.webhook(job, "updated"))
        return Transition(job.id, closed=True)

    @staticmethod
    def _finished(job: Job) -> JobFinished:
        return JobFinished(
            f"job '{job.id}' already finished ({job.state}): there is nothing left to cancel", field="id"
        )

    def _kept_after_cancel(self, session: Session, job_id: str) -> Transition:
        """An attempt under way at a cancel was judged afterwards: it is kept (no regeneration follows), and the
        job's verdict becomes its best attempts' again, so the verdict and the chosen images agree; the webhook
        is told (``updated``)."""
        session.expire_all()
        job = session.get(Job, job_id)
        assert job is not None
        attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job_id)))
        verdict = worst(c.verdict for c in chosen_per_slot(job.n, attempts) if c)
        # The reason said these attempts "will finish": now that one has, it says so (and how many still will).
        kept = sum(a.state == AttemptState.JUDGED and _finished_after_the_job(a, job) for a in attempts)
        reason = self._cancelled_reason(attempts, kept)
        session.execute(update(Job).where(col(Job.id) == job_id).values(verdict=verdict, reason=reason))
        write(session, *self.webhook(job, "updated"))
        return Transition(job_id, closed=True)

    def close(self, session: Session, job: Job, state: JobState, verdict: Verdict | None, reason: str) -> Transition:
        """Close once (the state condition decides racing steps), with the job's webhook in the same transaction."""
        won = session.execute(
            update(Job)
            .where(col(Job.id) == job.id, col(Job.state).not_in(list(FINAL_JOB_STATES)))
            .values(state=state, verdict=verdict, reason=reason, finished_at=now_to_write(session))
        ).rowcount  # type: ignore[attr-defined]
        if won != 1:
            return Transition(job.id)
        write(session, *self.webhook(job, "finished"))
        return Transition(job.id, closed=True)

    def webhook(self, job: Job, event: str) -> list[steps.Message]:
        return steps.deliver_webhook("job", job.id, job.callback_url, event, self.settings)

    @staticmethod
    def set_state(session: Session, job_id: str, state: JobState) -> bool:
        """Whether the job was still open (and is now in ``state``)."""
        moved = session.execute(
            update(Job).where(col(Job.id) == job_id, col(Job.state).not_in(list(FINAL_JOB_STATES))).values(state=state)
        ).rowcount  # type: ignore[attr-defined]
        return bool(moved)

    # -- a reviewer's decision --------------------------------------------------------------------

    def record_review(
        self,
        session: Session,
        evaluation: Evaluation,
        verdict: Verdict,
        reason: str,
        regenerate: bool,
        note: str | None,
    ) -> bool:
        """A person's decision on a job's amber attempt becomes that attempt's verdict, and the job's verdict
        follows; with ``regenerate`` the job reopens with a fresh budget for one more attempt on that slot. Runs in
        the transaction that stores the decision. True when the evaluation was a job's attempt."""
        attempt = session.exec(select(JobAttempt).where(JobAttempt.evaluation_id == evaluation.id)).first()
        if attempt is None:
            return False
        attempt.verdict = verdict
        attempt.summary = f"{reason} (the panel said: {evaluation.summary})"
        session.add(attempt)
        session.flush()
        job = session.get(Job, attempt.job_id)
        assert job is not None
        if regenerate and job.state == JobState.CANCELLED:
            # Its caller stopped it to stop paying for attempts: a reviewer's rejection does not start it again.
            raise InvalidInput(
                f"job '{job.id}' was cancelled: reject without regeneration (its caller stopped its attempts)",
                field="regenerate",
            )
        attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job.id)))
        if regenerate:
            number = max(a.number for a in attempts if a.slot == attempt.slot) + 1
            session.execute(
                update(Job)
                .where(col(Job.id) == job.id)
                .values(
                    state=JobState.REGENERATING,
                    verdict=None,
                    reason=f"{reason}; regenerating",
                    finished_at=None,
                    # A fresh budget from now by the database's clock, which every worker judges it by.
                    deadline_at=now_to_write(session) + timedelta(seconds=job.budget_seconds),
                    max_attempts=max(job.max_attempts, number),
                )
            )
            # The reviewer's note (never who reviewed) after the failing criteria's fixes, and the notes of the
            # slot's earlier rejections with it.
            earlier = earlier_evaluations(session, attempt)
            notes = [note] if note and note.strip() else []
            guidance = guidance_from(evaluation, earlier, [*notes, *reviewer_notes(session, earlier)])
            self.queue_attempt(session, job, attempt.slot, number, guidance)
        elif job.state in FINAL_JOB_STATES:
            job_verdict = worst(c.verdict for c in chosen_per_slot(job.n, attempts) if c)
            if job_verdict == Verdict.AMBER:
                reason += "; another image still waits for review"
            session.execute(update(Job).where(col(Job.id) == job.id).values(verdict=job_verdict, reason=reason))
        write(session, *self.webhook(job, "decided"))
        return True

    def undo_review(self, session: Session, evaluation: Evaluation) -> bool:
        """Take back :meth:`record_review` (without a regeneration: the caller refuses to undo one whose attempt
        exists): the attempt is amber again and the job, if closed, waits for review again. Runs in the transaction
        that deletes the decision. True when the evaluation was a job's attempt."""
        attempt = session.exec(select(JobAttempt).where(JobAttempt.evaluation_id == evaluation.id)).first()
        if attempt is None:
            return False
        attempt.verdict = evaluation.verdict
        attempt.summary = evaluation.summary
        session.add(attempt)
        session.flush()
        job = session.get(Job, attempt.job_id)
        assert job is not None
        if job.state in FINAL_JOB_STATES:
            attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job.id)))
            job_verdict = worst(c.verdict for c in chosen_per_slot(job.n, attempts) if c)
            reason = CLOSING_REASONS[job_verdict] if job_verdict else job.reason
            session.execute(update(Job).where(col(Job.id) == job.id).values(verdict=job_verdict, reason=reason))
        write(session, *self.webhook(job, "undone"))
        return True


def _finished_after_the_job(attempt: JobAttempt, job: Job) -> bool:
    """Whether the attempt ended after its job closed (an attempt under way at a cancel, kept when it finished)."""
    return attempt.finished_at is not None and job.finished_at is not None and attempt.finished_at >= job.finished_at
