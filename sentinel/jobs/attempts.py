"""Running one attempt: lease it, generate its image, hand the image to the panel.

The lease makes one worker the generator (a duplicate delivery must not pay the provider twice); it is short and
renewed while the provider call runs, so a worker that dies mid-call is replaced within one lease period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, bindparam, update
from sqlmodel import Session, col, select

from sentinel.db import autocommit, insert_unless_present
from sentinel.errors import NotFound, SentinelError
from sentinel.evaluation.guidance import regeneration_prompt
from sentinel.evaluation.rubric import Rubric
from sentinel.evaluation.service import EvaluationService
from sentinel.generation.service import (
    Generation,
    GenerationRequest,
    GenerationService,
    ImageNotRecorded,
    ImageNotStored,
)
from sentinel.jobs.clock import database_now, lease_free
from sentinel.jobs.in_flight import mark_left_in_flight
from sentinel.jobs.masks import for_providers
from sentinel.jobs.progress import SPEND_CAP_REACHED, JobProgress, Transition
from sentinel.jobs.unstored import KeptSpend, UnstoredImages, unstored_images
from sentinel.models import (
    FINAL_JOB_STATES,
    AttemptState,
    Job,
    JobAttempt,
    JobState,
    ProviderCall,
    as_utc,
    utcnow,
)
from sentinel.net.untrusted import storable_text
from sentinel.providers.base import Operation, Outcome
from sentinel.providers.calls import IN_FLIGHT, InFlightCalls, insert_calls, tasks_left_under_way
from sentinel.providers.router import ImageSpec, RouteResult
from sentinel.services import Services
from sentinel.spend.service import Reservation, SpendCapReached, book_spent
from sentinel.store.orientation import upright_bytes
from sentinel.worker.loop import run_async

logger = logging.getLogger(__name__)

#: The lease is renewed this many times per lease period while the provider call runs.
RENEWALS_PER_LEASE = 3


def attempt_seed(job: Job, slot: int, number: int) -> int:
    """The seed attempt ``number`` of ``slot`` is generated with. A job with a seed: the seed itself for slot 0's
    first attempt and ``+ number - 1`` for its regenerations (a rerun of the job draws the same images where the
    provider honours seeds, a regeneration a different one); further slots start ``max_attempts`` apart, so no two
    attempts of the job share one. Without: a fresh random seed, so a red image is not redrawn the same."""
    if job.seed is None:
        return random.randrange(2**31)
    return (job.seed + slot * job.max_attempts + number - 1) % 2**31


def attempt_request_id(job_id: str, slot: int, number: int) -> str:
    """What an attempt's provider calls are logged (and its spend reserved) under: the job's id, the slot and the
    attempt's number, so a re-run of the attempt finds the image it already paid for (:meth:`AttemptRunner.made`)."""
    return f"{job_id}:{slot}:{number}"


def attempt_of_request(request_id: str) -> tuple[str, int, int] | None:
    """The (job id, slot, number) an :func:`attempt_request_id` names; None for another request's id (a gateway's)."""
    job_id, _, rest = request_id.partition(":")
    slot, _, number = rest.partition(":")
    if not job_id or not slot.isdigit() or not number.isdigit():
        return None
    return job_id, int(slot), int(number)


@dataclass(frozen=True)
class Leased:
    """An attempt this run holds the lease of, with its job and when the job's budget ends."""

    job: Job
    attempt: JobAttempt
    #: When the job's budget ends, on this process's monotonic clock: the budget left by the database's clock at the
    #: lease, counted on from there. Never this machine's wall clock, which may run a minute off the database's.
    budget_ends: float

    def seconds_left(self) -> float:
        return self.budget_ends - time.monotonic()


@dataclass(frozen=True)
class Made:
    """An attempt's image, delivered and stored, as the panel is handed it."""

    image_id: str
    data: bytes
    provider: str
    model: str
    #: The provider calls' time, fallbacks included.
    generation_ms: float


def column_text(value: str | None, limit: int) -> str | None:
    """A provider's words as a text column takes them: storable (:func:`storable_text`; a ProviderResult's are
    already), at most ``limit`` characters (a longer value would fail the whole write, and the attempt with it)."""
    return (storable_text(value)[:limit] or None) if value else None


#: An attempt's calls in the call log, in the order they were made (see :meth:`AttemptRunner.made`).
_CALLS_OF_REQUEST = (
    select(
        ProviderCall.id,
        ProviderCall.outcome,
        ProviderCall.image_id,
        ProviderCall.provider,
        ProviderCall.provider_model,
        ProviderCall.latency_ms,
        ProviderCall.provider_task,
        ProviderCall.created_at,
    )
    .where(col(ProviderCall.request_id) == bindparam("request_id"))
    .order_by(col(ProviderCall.id))
)


#: The (slot, number) of every attempt of a job, to name their calls in the call log.
_ATTEMPTS_OF_JOB = select(JobAttempt.slot, JobAttempt.number).where(col(JobAttempt.job_id) == bindparam("job_id"))
#: Words every paid, undelivered answer's call is logged with (see ``RouteResult.undelivered``), found also when the
#: candidate has no price.
NOT_BOUGHT_AGAIN_WORDS = "not bought again"
#: Words every call given up on after its request went out is logged with (``MAY_BE_BILLED``), found also when the
#: candidate has no price.
MAY_BE_BILLED_WORDS = "may still make, and bill"
#: Calls of the given attempts that failed without being a refusal or a skip: among them, the paid ones whose images
#: could not be delivered, and the ones given up on after their request went out (see
#: :meth:`AttemptRunner.not_bought_again`).
_UNDELIVERED_CALLS = (
    select(
        ProviderCall.provider,
        ProviderCall.provider_model,
        ProviderCall.outcome,
        ProviderCall.cost_estimate,
        ProviderCall.message,
    )
    .where(
        col(ProviderCall.request_id).in_(bindparam("request_ids", expanding=True)),
        col(ProviderCall.outcome).in_(
            [
                Outcome.UNAVAILABLE.value,
                Outcome.UNRECOGNISED_ANSWER.value,
                Outcome.OUTPUT_REFUSED.value,
                Outcome.TIMEOUT.value,
            ]
        ),
    )
    .order_by(col(ProviderCall.id))
)


class AttemptRunner:
    def __init__(
        self,
        services: Services,
        evaluations: EvaluationService,
        progress: JobProgress,
        generation: Callable[[], GenerationService],
    ) -> None:
        self.services = services
        self.evaluations = evaluations
        self.progress = progress
        #: Built on first use: a worker that never generates opens no provider connections.
        self._generation = generation

    @property
    def lease_seconds(self) -> float:
        return self.services.settings.generation_lease_seconds

    def run(self, job_id: str, slot: int, number: int) -> None:
        """Generate attempt ``number`` of slot ``slot`` and hand it to the panel. Safe to run twice."""
        leased = self._lease(job_id, slot, number)
        if leased is None:
            return
        job, attempt = leased.job, leased.attempt
        generation = self._generation()
        try:
            rubric = self.services.rubrics.get(job.task)
            request, edit = self._request(generation, rubric, leased, slot, number)
            # A worker that died between storing the image and handing it on (or a hand-over that failed) left it
            # paid for and logged: this run judges that image instead of paying the provider for another. One whose
            # calls the database could not take (it blinked at the commit) left them kept here: written first.
            self._log_kept_calls(request.request_id)
            calls = self.calls_of(request.request_id)
            made = self.made(request.request_id, job.key_id, calls)
            if made is None:
                try:
                    result = run_async(self._generate_leased(generation, request, job.key_id, attempt.id or 0, calls))
                except (ImageNotStored, ImageNotRecorded) as exc:
                    # Paid for, not stored (or not recorded): kept here, so the retry stores these bytes (made)
                    # instead of paying the provider for another image; with their calls when the call log could
                    # not take them either, for the retry to log them first.
                    for routed in exc.generation.results:
                        if routed.image is not None:
                            self.unstored.keep(job.id, routed.image.info.sha256, routed.image.data)
                    if isinstance(exc, ImageNotRecorded):
                        unsettled = exc.unsettled
                        spend = None
                        if unsettled is not None:
                            spend = KeptSpend(unsettled.key_id, unsettled.period, exc.generation.cost)
                        self.unstored.keep_calls(request.request_id, exc.record.calls, spend)
                    elif exc.unlogged:
                        self.unstored.keep_calls(request.request_id, exc.unlogged)
                    raise
        except SpendCapReached as exc:
            self._fail(attempt, exc.message, SPEND_CAP_REACHED)
            return
        except SentinelError as exc:
            if exc.status_code >= 500:
                # Ours, or a dependency away: the message is retried, and its retry must find the attempt unleased
                # (else it ends at once and the attempt waits for the sweep to see the lease run out).
                with contextlib.suppress(Exception):  # the database away too: the lease runs out by itself
                    self._set_lease(attempt.id or 0, None)
                raise
            # The job's model, size or operation as the routing file now has them (it changed since the job was
            # made): every attempt would be refused the same way, so none is made.
            self._fail(attempt, exc.message, Outcome.INVALID_REQUEST.value)
            return
        width, height = request.spec.width, request.spec.height
        if made is None:
            routed = result.results[0]
            image = routed.image
            if image is None:
                self._fail_unmade(attempt, routed)
                return
            latency = round(sum(a.latency_ms for a in routed.attempts), 1)
            made = Made(image.info.sha256, image.data, image.provider, image.model, latency)
        params = self._judged_params(rubric, job, width, height)
        judged: dict[str, bytes | None] = {"image": made.data}
        if edit is not None:
            # The edit judges compare the result with the source under the mask, as the caller gave them.
            judged |= {"source": edit[0], "mask": edit[1]}
        submission = self.evaluations.validate(job.task, params, judged)

        def hand_to_panel(session: Session) -> Transition:
            # The attempt, its evaluation and the judges' messages: one transaction, so neither exists alone.
            evaluation = self.evaluations.submit_in(session, submission, job.key_id)
            handed = session.execute(
                update(JobAttempt)
                .where(col(JobAttempt.id) == attempt.id, col(JobAttempt.state) == AttemptState.GENERATING)
                .values(
                    state=AttemptState.JUDGING,
                    image_id=made.image_id,
                    evaluation_id=evaluation.id,
                    provider=made.provider,
                    provider_model=made.model,
                    generation_ms=made.generation_ms,
                    lease_until=None,
                )
            ).rowcount  # type: ignore[attr-defined]
            if handed != 1:
                # Another run of this attempt handed it on first (its lease ran out while this one waited): its
                # evaluation is the attempt's, this one is taken back.
                session.rollback()
                return Transition(job_id)
            self.progress.set_state(session, job_id, JobState.JUDGING)
            return Transition(job_id)

        self._finish(attempt, hand_to_panel)

    def _fail_unmade(self, attempt: JobAttempt, routed: RouteResult) -> None:
        """No candidate delivered: the attempt fails with the provider's words."""
        last = routed.last_failure
        error = last.message if last else "no provider could serve it"
        called = [a for a in routed.attempts if a.outcome != "skipped"]
        # Kept for a judged request to answer as a plain one does: the field refused, the provider's code, the wait
        # it asked for, who was called, and whether the set-up itself refused it (no key here, a refused key, a
        # parked or retired model), which no other attempt could change.
        said = {
            "failure_param": column_text(last.param if last else None, 100),
            "failure_code": column_text(last.code if last else None, 64),
            "retry_after": last.retry_after if last else None,  # finite: ProviderResult drops the rest
            "provider": called[-1].provider if called else None,
            "provider_model": called[-1].model if called else None,
            # Or every candidate left was paid for images it could not deliver: another attempt of this job has
            # nobody to buy from (see not_bought_again).
            "unchanging": routed.unchanging or routed.nothing_left,
        }
        # No candidate at all (none configured, all cooling) is the providers being unavailable.
        self._fail(attempt, error, last.outcome.value if last else Outcome.UNAVAILABLE.value, said)

    @property
    def unstored(self) -> UnstoredImages:
        return unstored_images(self.services)

    def calls_of(self, request_id: str) -> list[Row[Any]]:
        """The attempt's calls in the call log, as earlier runs of it left them."""
        # One statement without a transaction (see sentinel.db.autocommit), built once: every attempt makes it.
        with autocommit(self.services.engine).connect() as connection:
            return list(connection.execute(_CALLS_OF_REQUEST, {"request_id": request_id}).all())

    def _log_kept_calls(self, request_id: str) -> None:
        """The calls an earlier run of this attempt kept because the database could not take them (see
        :meth:`run`), written to the call log now, completing the rows written before they were sent (or the ones
        the sweep marked meanwhile: their booking is taken back, as for an answer that came late). Not when the call
        log names a delivered image already (the earlier run's commit went through after all)."""
        kept = self.unstored.kept_calls(request_id)
        if kept is None:
            return
        calls, unsettled = kept
        if not any(c.outcome == Outcome.OK.value and c.image_id for c in self.calls_of(request_id)):
            with self.services.engine.begin() as connection:
                insert_calls(connection, calls)
                if unsettled is not None and unsettled.cost > 0:
                    # The settle that did not happen: what the images cost, out of what the request still holds.
                    booking = Reservation(unsettled.key_id, unsettled.period, request_id, unsettled.cost)
                    book_spent(connection, booking)
            logger.info("the call log of %s, kept while the database was unavailable, is written now", request_id)
        self.unstored.drop_calls(request_id)

    def made(self, request_id: str, key_id: str | None = None, calls: list[Row[Any]] | None = None) -> Made | None:
        """The image an earlier run of this attempt delivered, as its call log records it (``calls``, read here when
        not given); None when none did (or its bytes are gone: then it is generated again). One the blob store could
        not keep then (kept aside, see :mod:`sentinel.jobs.unstored`) is stored now, owned by ``key_id``: raises
        BlobStoreError while it still cannot be."""
        if calls is None:
            calls = self.calls_of(request_id)
        delivered = next((c for c in calls if c.outcome == Outcome.OK.value and c.image_id), None)
        if delivered is None:
            return None
        job_id = request_id.split(":", 1)[0]
        kept = self.unstored.get(job_id, delivered.image_id)
        if kept is not None:
            self._store_kept(job_id, delivered.image_id, kept, key_id)
        try:
            data = kept if kept is not None else self.services.images.read(delivered.image_id)
        except NotFound:
            logger.warning(
                "the image %s of %s is logged but not stored: generating again", delivered.image_id, request_id
            )
            return None
        latency = round(sum(c.latency_ms for c in calls), 1)
        return Made(delivered.image_id, data, delivered.provider, delivered.provider_model, latency)

    def _store_kept(self, job_id: str, image_id: str, data: bytes, key_id: str | None) -> None:
        """An image kept aside, into the image store (its row and blob), then forgotten."""
        info = self.services.images.inspect(data, "image")
        with Session(self.services.engine) as session:
            self.services.images.store(session, info, data, key_id)
            session.commit()
        self.unstored.drop(job_id, image_id)
        logger.info("the image %s, kept while the blob store was unavailable, is stored now", image_id)

    def _request(
        self, generation: GenerationService, rubric: Rubric, leased: Leased, slot: int, number: int
    ) -> tuple[GenerationRequest, tuple[bytes, bytes] | None]:
        """What the provider is asked for this attempt (the route and size as the routing file has them now, within
        what is left of the job's budget), and an edit job's source and mask."""
        job, attempt = leased.job, leased.attempt
        width, height = job.params.get("width"), job.params.get("height")
        size = f"{width}x{height}" if width and height else None
        resolved, width, height = generation.resolve(job.model, rubric.id, size)
        seed = attempt_seed(job, slot, number)
        edit = self._edit_inputs(job)
        if edit is None:
            spec = ImageSpec(prompt=attempt.prompt, width=width, height=height, seed=seed)
        else:
            # An edit keeps its source's size unless the job asks for one (checked against the route and the
            # source when the job was made); only candidates that can edit are asked.
            source, mask = edit
            resolved = generation.router.for_operation(resolved, Operation.EDIT)
            if size is None:
                info = self.services.images.inspect(source, "source")
                width, height = info.width, info.height
            spec = ImageSpec(
                prompt=attempt.prompt,
                width=width,
                height=height,
                seed=seed,
                image=upright_bytes(source),
                mask=for_providers(rubric, upright_bytes(mask)),
                operation=Operation.EDIT,
            )
        remaining = leased.seconds_left()
        request = GenerationRequest(
            model=resolved,
            spec=spec,
            request_id=attempt_request_id(job.id, slot, number),
            timeout_seconds=max(0.01, remaining),
            regeneration=number - 1,
            task=job.task,
            avoid=self.not_bought_again(job.id, attempt_request_id(job.id, slot, number)),
        )
        return request, edit

    def not_bought_again(self, job_id: str, request_id: str) -> dict[str, str]:
        """The candidates (by target) the job's earlier attempts paid for answers whose images could not be delivered
        (an output address that would not download, an animated or broken image, an answer that broke off), with
        what happened: buying from them again pays for the same failure; and those whose call timed out after its
        request went out (the provider may still make, and bill, that image: asking again may pay twice). Read from
        the call log, which every worker shares and a restart keeps. A time-out before the request went out (nothing
        billed) and a blank image (a hidden filter, about the prompt a regeneration changes) do not count."""
        with autocommit(self.services.engine).connect() as connection:
            numbers = connection.execute(_ATTEMPTS_OF_JOB, {"job_id": job_id}).all()
            others = [attempt_request_id(job_id, row.slot, row.number) for row in numbers]
            others = [other for other in others if other != request_id]
            if not others:
                return {}
            calls = connection.execute(_UNDELIVERED_CALLS, {"request_ids": others}).all()
        avoid: dict[str, str] = {}
        for call in calls:
            message = call.message or ""
            if call.outcome == Outcome.TIMEOUT.value:
                if not (call.cost_estimate > 0 or MAY_BE_BILLED_WORDS in message):
                    continue  # never sent in full: nothing was billed, and the provider's moment may pass
                said = (
                    f"an earlier attempt of this job gave up on {call.provider} after its request went out (it may "
                    "still make, and bill, that image)"
                )
            elif call.cost_estimate > 0 or NOT_BOUGHT_AGAIN_WORDS in message:
                said = f"an earlier attempt of this job paid {call.provider} for an image it could not deliver"
            else:
                continue
            avoid.setdefault(f"{call.provider}:{call.provider_model}", f"{said} ({message[:300]})")
        return avoid

    def _fail(self, attempt: JobAttempt, error: str, failure: str, said: dict[str, Any] | None = None) -> None:
        self._finish(attempt, lambda session: self.progress.attempt_failed(session, attempt, error, failure, said))

    def _edit_inputs(self, job: Job) -> tuple[bytes, bytes] | None:
        """An edit job's source and mask bytes, from the image store; None for a job that generates."""
        if job.source_image_id is None or job.mask_image_id is None:
            return None
        return self.services.images.read(job.source_image_id), self.services.images.read(job.mask_image_id)

    def _lease(self, job_id: str, slot: int, number: int) -> Leased | None:
        with Session(self.services.engine, expire_on_commit=False) as session:
            job = session.get(Job, job_id)
            if job is not None and job.state == JobState.CANCELLED:
                self._settle_after_cancel(session, job, slot, number)
                return None
            if job is None or job.state in FINAL_JOB_STATES:
                return None
            # The database's clock, as every worker's: see sentinel.jobs.clock.
            now = database_now(session)
            if as_utc(job.deadline_at) <= now:
                transition = self.progress.expire(session, job, now)
                session.commit()
                self.progress.announce(transition)
                return None
            # Normally queued with the step that asked for it; made here for a job whose first message outran it.
            values = {
                "job_id": job_id,
                "slot": slot,
                "number": number,
                "prompt": regeneration_prompt(job.prompt, None),
                "state": AttemptState.GENERATING,
            }
            insert_unless_present(session, JobAttempt, values, ["job_id", "slot", "number"])
            attempt = session.exec(
                select(JobAttempt).where(
                    JobAttempt.job_id == job_id, JobAttempt.slot == slot, JobAttempt.number == number
                )
            ).one()
            leased = session.execute(
                update(JobAttempt)
                .where(lease_free(attempt.id, now))
                .values(lease_until=now + timedelta(seconds=self.lease_seconds), started_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if leased != 1:
                session.commit()
                return None  # another delivery is generating it, or it already has its image
            self.progress.set_state(session, job_id, JobState.GENERATING if number == 1 else JobState.REGENERATING)
            session.commit()
        # The budget left by the database's clock, read with the lease (no round trip of its own).
        budget_ends = time.monotonic() + (as_utc(job.deadline_at) - now).total_seconds()
        return Leased(job, attempt, budget_ends)

    def _settle_after_cancel(self, session: Session, job: Job, slot: int, number: int) -> None:
        """The attempt's message again, after its job was cancelled: an attempt still generating with no live lease
        was under way at the cancel and its worker stopped without an image (it died, or its call failed and this
        is the retry): it is settled, not generated (see :meth:`JobProgress.abandon_after_cancel`)."""
        job_id = job.id
        attempt = session.exec(
            select(JobAttempt).where(JobAttempt.job_id == job_id, JobAttempt.slot == slot, JobAttempt.number == number)
        ).first()
        now = database_now(session)
        if attempt is None or attempt.state != AttemptState.GENERATING or attempt.image_id is not None:
            return
        if attempt.lease_until is not None and as_utc(attempt.lease_until) >= now:
            return  # its worker still asks the provider: it finishes and is kept
        transition = self.progress.abandon_after_cancel(session, attempt, now)
        if transition is not None:
            why = "the worker generating the attempt stopped (its lease ran out) before the provider answered"
            mark_left_in_flight(session.connection(), job.key_id, attempt_request_id(job_id, slot, number), why)
        session.commit()
        self.progress.announce(transition)

    async def _generate_leased(
        self,
        generation: GenerationService,
        request: GenerationRequest,
        key_id: str | None,
        attempt_id: int,
        calls: list[Row[Any]],
    ) -> Generation:
        """Generate while renewing the lease; the lease ends with the call, however it ends. Each provider call is
        written down before it is sent (see :mod:`sentinel.jobs.in_flight`); a task an earlier run's call left with
        its provider (``calls``) is read before anything is bought again."""
        if any(call.outcome == IN_FLIGHT for call in calls):
            # An earlier run lost its lease with calls unanswered, and its message came back before the sweep saw
            # it: they are marked and booked as the sweep would, so a task read now completes a booked row once.
            why = "an earlier run of the attempt stopped (its lease ran out) before the provider answered"
            await asyncio.to_thread(self._mark_left_in_flight, key_id, request.request_id, why)
        owner = await asyncio.to_thread(generation.owner_of, key_id)
        renewing = asyncio.create_task(self._renew(attempt_id))
        left = tasks_left_under_way(calls, utcnow())
        journal = InFlightCalls(self.services.engine, request.request_id, request.model.requested, left)
        try:
            return await generation.generate(replace(request, journal=journal), owner)
        except ImageNotRecorded:
            # Delivered, not recorded: its calls stay in flight until the retry logs them from what is kept here
            # (the lease is ended by the caller, or runs out while the database is away).
            raise
        except BaseException as exc:
            # Nothing was delivered: the retry of this message (or the sweep) may generate at once. A call the
            # generation stopped waiting for may still be billed: it stays counted (in_flight_at_crash).
            why = f"the worker's generation stopped ({type(exc).__name__}) before the provider answered"
            await asyncio.to_thread(self._left_in_flight, attempt_id, key_id, request.request_id, why)
            raise
        finally:
            renewing.cancel()

    def _mark_left_in_flight(self, key_id: str | None, request_id: str, why: str) -> None:
        with Session(self.services.engine) as session:
            mark_left_in_flight(session.connection(), key_id, request_id, why)
            session.commit()

    def _left_in_flight(self, attempt_id: int, key_id: str | None, request_id: str, why: str) -> None:
        """End the attempt's lease, with its calls left unanswered marked and booked as spent, in one transaction."""
        with Session(self.services.engine) as session:
            mark_left_in_flight(session.connection(), key_id, request_id, why)
            session.execute(
                update(JobAttempt)
                .where(col(JobAttempt.id) == attempt_id, col(JobAttempt.state) == AttemptState.GENERATING)
                .values(lease_until=None)
            )
            session.commit()

    async def _renew(self, attempt_id: int) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / RENEWALS_PER_LEASE)
            try:
                await asyncio.to_thread(self._set_lease, attempt_id, self.lease_seconds)
            except Exception as exc:  # the database blinked: try again at the next renewal
                logger.warning("could not renew the lease of attempt %s (%s)", attempt_id, type(exc).__name__)

    def _set_lease(self, attempt_id: int, seconds: float | None) -> None:
        """Renew the attempt's lease for ``seconds`` from now by the database's clock, or end it (None)."""
        with Session(self.services.engine) as session:
            until = None if seconds is None else database_now(session) + timedelta(seconds=seconds)
            session.execute(
                update(JobAttempt)
                .where(col(JobAttempt.id) == attempt_id, col(JobAttempt.state) == AttemptState.GENERATING)
                .values(lease_until=until)
            )
            session.commit()

    def _finish(self, attempt: JobAttempt, step: Callable[[Session], Transition]) -> None:
        with Session(self.services.engine, expire_on_commit=False) as session:
            transition = step(session)
            session.commit()
        self.progress.announce(transition)

    @staticmethod
    def _judged_params(rubric: Rubric, job: Job, width: int, height: int) -> dict[str, Any]:
        """The params the panel judges an attempt by: the job's, plus the size asked of the provider where the task
        takes one (a 192×128 image delivered for 1536×1024 must fail, and the judge can only tell if it knows)."""
        params = dict(job.params)
        # An edit task's instruction is a param its judges may read: the job's prompt, unless given as a param.
        for name, value in (("width", width), ("height", height), ("prompt", job.prompt)):
            if name in rubric.params and params.get(name) is None:
                params[name] = value
        return params
