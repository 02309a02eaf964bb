"""Finding jobs that stopped moving (a worker died, a broker lost a message) and moving them on.

Runs inside the scheduled sweep; every step is a transition of :mod:`sentinel.jobs.progress`, so a sweep that
runs twice, or beside the step it stands in for, moves a job once.
"""

from __future__ import annotations

import math
import time
import weakref
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from sentinel.db import autocommit
from sentinel.jobs.attempts import attempt_of_request, attempt_request_id
from sentinel.jobs.clock import database_now
from sentinel.jobs.in_flight import mark_left_in_flight
from sentinel.jobs.progress import JobProgress, Transition, ends_slot
from sentinel.jobs.schemas import MAX_BUDGET_SECONDS
from sentinel.jobs.unstored import unstored_images
from sentinel.models import (
    FINAL_JOB_STATES,
    AttemptState,
    Evaluation,
    Job,
    JobAttempt,
    JobState,
    ProviderCall,
    Verdict,
    as_utc,
)
from sentinel.outbox import steps
from sentinel.outbox.store import write
from sentinel.providers.calls import IN_FLIGHT, calls_left_in_flight
from sentinel.services import Services
from sentinel.spend.service import RENEW_EVERY_SECONDS, SpendService

#: An attempt asked for this long ago that no worker has started was lost with its message: ask again.
STUCK_AFTER_SECONDS = 30.0

#: The states a job can still leave: the sweep reads the jobs in them by name, so the state index finds the few open
#: ones. "Not final" read the whole table every sweep period (5 ms of PostgreSQL's CPU per 50,000 jobs kept, every
#: 2 s), on every deployment that keeps its history.
OPEN_JOB_STATES = tuple(state for state in JobState if state not in FINAL_JOB_STATES)


#: The sweep's read, built once.
_OPEN_JOBS = select(Job.id).where(col(Job.state).in_(OPEN_JOB_STATES))

#: How long after its job was made the sweep looks for an attempt a cancel left under way (see
#: :data:`_CANCELLED_LATELY`): an attempt runs no later than its job's deadline (at most MAX_BUDGET_SECONDS
#: after the job was made) plus one lease, so this leaves the sweep an hour of periods to see its worker gone. Past
#: it, a redelivered message settles it instead (:meth:`AttemptRunner.run`).
SETTLE_AFTER_CANCEL_WITHIN_SECONDS = MAX_BUDGET_SECONDS + 3600

#: The jobs cancelled lately whose attempts a cancel may have left under way (a cancelled job is final, so the read
#: of the open jobs misses them): one whose worker dies would stay "generating" for ever, and one whose verdict
#: message was lost "judging". Read through the (created_at, id) index, then only those jobs' attempts, through
#: their (job_id, slot, number) key (:data:`_UNDER_WAY`): one join let PostgreSQL read the whole attempts table
#: every sweep period (4.5 ms of its CPU per 50,000 attempts kept, every 2 s), as the open jobs' read once did.
_CANCELLED_LATELY = select(Job.id).where(
    col(Job.created_at) >= bindparam("since"), col(Job.state) == JobState.CANCELLED
)
_UNDER_WAY = select(JobAttempt.id).where(
    col(JobAttempt.job_id).in_(bindparam("jobs", expanding=True)),
    col(JobAttempt.state).in_((AttemptState.GENERATING, AttemptState.JUDGING)),
)


#: The calls still in flight that were sent this long ago: the sweep asks whether their request's process is still
#: there (a job's attempt whose lease ran out, or whose job ended, is not). Past any lease, so a live call is not
#: read every period.
ORPHANED_AFTER_SECONDS = 2 * STUCK_AFTER_SECONDS
_OLD_IN_FLIGHT = (
    select(ProviderCall.request_id)
    .where(col(ProviderCall.outcome) == IN_FLIGHT, col(ProviderCall.created_at) < bindparam("before"))
    .distinct()
)
#: Said of a call whose request's reservation the ledger's sweep found no longer renewed (its process died).
_REQUEST_GONE = "the process serving the request stopped (its spend reservation was no longer renewed)"

#: When this process last released stale spend reservations of a database (time.monotonic): a JobRecovery is made
#: per sweep.
_SPEND_SWEPT_AT: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


class JobRecovery:
    def __init__(self, services: Services, progress: JobProgress) -> None:
        self.services = services
        self.progress = progress
        #: Calls of dead attempts marked ``in_flight_at_crash`` (and booked) by the step not yet committed.
        self._left_in_flight = 0

    def sweep(self) -> dict[str, int]:
        """Expire jobs past their budget; resume attempts whose worker died or whose message was lost; settle the
        attempts a cancel left under way whose worker died (``abandoned``) or whose verdict message was lost; drop
        the images this machine kept for jobs that ended (``unstored_dropped``, see :mod:`sentinel.jobs.unstored`);
        release the spend reservations of requests whose process died (``spend_released``, see
        :meth:`SpendService.release_stale`). The provider calls a dead attempt's worker left unanswered are marked
        ``in_flight_at_crash`` and booked as spent (``in_flight_at_crash``, see :mod:`sentinel.jobs.in_flight`)."""
        counts = {
            "expired": 0,
            "resumed": 0,
            "judged": 0,
            "abandoned": 0,
            "in_flight_at_crash": 0,
            "unstored_dropped": 0,
            "spend_released": 0,
        }
        # One statement committed alone, every sweep period: a read-only session's BEGIN and ROLLBACK were two more
        # round trips, and psycopg drops a connection's prepared statements at a ROLLBACK.
        with autocommit(self.services.engine).connect() as connection:
            open_jobs = list(connection.scalars(_OPEN_JOBS))
            # Leases are judged by the database's clock, as they were written (see sentinel.jobs.clock): a worker
            # whose own clock runs ahead must not see live leases run out. Read once: the sweep's steps judge by
            # its start, which only leaves a lease a little longer.
            now = database_now(connection)
            since = now - timedelta(seconds=SETTLE_AFTER_CANCEL_WITHIN_SECONDS)
            cancelled = list(connection.scalars(_CANCELLED_LATELY, {"since": since}))
            under_way = list(connection.scalars(_UNDER_WAY, {"jobs": cancelled})) if cancelled else []
        for job_id in open_jobs:
            self._left_in_flight = 0  # only what the step about to be committed marks
            with Session(self.services.engine) as session:
                transition, what = self._recover(session, job_id, now)
                session.commit()
            if what:
                counts[what] += 1
            counts["in_flight_at_crash"] += self._left_in_flight
            self.progress.announce(transition)
        for attempt_id in under_way:
            self._left_in_flight = 0
            with Session(self.services.engine) as session:
                transition, what = self._settle_after_cancel(session, attempt_id, now)
                session.commit()
            if what:
                counts[what] += 1
            counts["in_flight_at_crash"] += self._left_in_flight
            self.progress.announce(transition)
        # Images kept on this machine while the blob store was away whose job ended elsewhere (or that were stored
        # since): one directory listing when none are kept.
        counts["unstored_dropped"] = unstored_images(self.services).sweep(self.services.engine).dropped
        counts["spend_released"] = self._release_stale_spend(now, counts)
        return counts

    def _mark_left_in_flight(self, session: Session, key_id: str | None, attempt: JobAttempt) -> None:
        """The dead attempt's unanswered calls marked and booked as spent, in the step's transaction."""
        request_id = attempt_request_id(attempt.job_id, attempt.slot, attempt.number)
        why = "the worker generating the attempt stopped (its lease ran out) before the provider answered"
        left = mark_left_in_flight(session.connection(), key_id, request_id, why)
        if left is not None:
            self._left_in_flight += left.count

    def _release_stale_spend(self, now: datetime, counts: dict[str, int]) -> int:
        """The spend ledger's stale reservations, read at most once per renewal period by this process (a reservation
        is stale only after several): a busy key's rows are not grouped every sweep period. What a dead request had
        in flight is marked ``in_flight_at_crash`` and booked as spent by the release, not released. Before them, the
        calls left in flight by job attempts whose worker is gone that the steps above did not reach (their job
        ended meanwhile: expired, cancelled long ago, or closed while the call's row was left)."""
        monotonic = time.monotonic()
        engine = self.services.engine
        if monotonic < _SPEND_SWEPT_AT.get(engine, -math.inf) + RENEW_EVERY_SECONDS:
            return 0
        _SPEND_SWEPT_AT[engine] = monotonic
        counts["in_flight_at_crash"] += self._sweep_orphaned_calls(now)

        def left_in_flight(connection: Connection, request_id: str) -> tuple[int, float]:
            left = calls_left_in_flight(connection, request_id, _REQUEST_GONE)
            counts["in_flight_at_crash"] += left[0]
            return left

        return SpendService(self.services).release_stale(left_in_flight=left_in_flight)

    def _sweep_orphaned_calls(self, now: datetime) -> int:
        """Calls of job attempts left ``in_flight`` whose worker is gone (the attempt's lease ran out, or the attempt
        is no longer generating), marked and booked as the step that resumes a dead attempt does; how many."""
        before = now - timedelta(seconds=ORPHANED_AFTER_SECONDS)
        with autocommit(self.services.engine).connect() as connection:
            requests = list(connection.scalars(_OLD_IN_FLIGHT, {"before": before}))
        marked = 0
        for request_id in requests:
            attempt_named = attempt_of_request(request_id)
            if attempt_named is None:
                continue  # a gateway request's: its reservation's release marks it (see SpendService.release_stale)
            job_id, slot, number = attempt_named
            with Session(self.services.engine) as session:
                attempt = session.exec(
                    select(JobAttempt).where(
                        JobAttempt.job_id == job_id, JobAttempt.slot == slot, JobAttempt.number == number
                    )
                ).first()
                if attempt is not None and attempt.state == AttemptState.GENERATING and not self._lost(attempt, now):
                    continue  # its worker still works on it
                job = session.get(Job, job_id)
                why = "the worker generating the attempt stopped before the provider answered (found by the sweep)"
                left = mark_left_in_flight(session.connection(), job.key_id if job else None, request_id, why)
                session.commit()
            marked += left.count if left is not None else 0
        return marked

    def _settle_after_cancel(
        self, session: Session, attempt_id: int, now: datetime
    ) -> tuple[Transition | None, str | None]:
        """An attempt under way when its job was cancelled: its worker gone, it ends ``cancelled`` (not generated
        again: the job was stopped to pay for nothing more); judged meanwhile, its verdict is recorded as the lost
        message would have. One still moving is left to finish."""
        attempt = session.get(JobAttempt, attempt_id)
        if attempt is None:
            return None, None
        if attempt.state == AttemptState.GENERATING and attempt.image_id is None and self._lost(attempt, now):
            transition = self.progress.abandon_after_cancel(session, attempt, now)
            if transition is not None:
                job = session.get(Job, attempt.job_id)
                self._mark_left_in_flight(session, job.key_id if job is not None else None, attempt)
            return transition, "abandoned" if transition is not None else None
        if attempt.state == AttemptState.JUDGING and attempt.evaluation_id:
            evaluation = session.get(Evaluation, attempt.evaluation_id)
            if evaluation is not None and evaluation.verdict is not None:
                transition = self.progress.attempt_judged(session, evaluation)
                return transition, "judged" if transition is not None else None
        return None, None

    def _recover(self, session: Session, job_id: str, now: datetime) -> tuple[Transition | None, str | None]:
        job = session.get(Job, job_id)
        if job is None or job.state in FINAL_JOB_STATES:
            return None, None
        if as_utc(job.deadline_at) <= now:
            return self.progress.expire(session, job, now), "expired"
        attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job_id)))
        what = None
        for slot in range(job.n):
            mine = [a for a in attempts if a.slot == slot]
            if not mine:
                if (now - as_utc(job.created_at)).total_seconds() > STUCK_AFTER_SECONDS:
                    self.progress.queue_attempt(session, job, slot, 1, None)
                    write(session, steps.generate_attempt(job.id, slot, 1, resend=True))
                    what = "resumed"
                continue
            latest = max(mine, key=lambda a: a.number)
            if latest.state == AttemptState.GENERATING and latest.image_id is None and self._lost(latest, now):
                self._mark_left_in_flight(session, job.key_id, latest)
                # Asked again from now: a message that only waits in a backlog is not re-sent every sweep.
                session.execute(
                    update(JobAttempt).where(col(JobAttempt.id) == latest.id).values(lease_until=None, started_at=now)
                )
                write(session, steps.generate_attempt(job.id, slot, latest.number, resend=True))
                what = "resumed"
            elif latest.state == AttemptState.JUDGING and latest.evaluation_id:
                evaluation = session.get(Evaluation, latest.evaluation_id)
                if evaluation is not None and evaluation.verdict is not None:
                    transition = self.progress.attempt_judged(session, evaluation)
                    if transition is not None:
                        return transition, "judged"
            elif latest.state in (AttemptState.JUDGED, AttemptState.FAILED) and latest.verdict in (None, Verdict.RED):
                idle = (now - as_utc(latest.finished_at or latest.started_at)).total_seconds()
                if idle > STUCK_AFTER_SECONDS:
                    # The step after it never ran (or never closed the job): carry on from here.
                    transition = self.progress.after_failure(
                        session, job.id, slot, latest.number, latest.guidance, ends_slot(latest), now=now
                    )
                    return transition, "resumed"
        return self.progress.close_if_complete(session, job_id), what

    @staticmethod
    def _lost(attempt: JobAttempt, now: datetime) -> bool:
        if attempt.lease_until is not None:
            # A lease is renewed while its worker lives: one that ran out means the worker is gone.
            return as_utc(attempt.lease_until) < now
        return (now - as_utc(attempt.started_at)).total_seconds() > STUCK_AFTER_SECONDS
