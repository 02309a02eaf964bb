"""One generation service for the gateway and for jobs.

A request is routed image by image, all at once: the owner's spend cap is reserved first (the most the images can
cost), and every delivered image is stored together with the call log of the provider calls that made it and the
settle of that reservation to what the calls cost, in one transaction. A capped key's gateway request writes its
calls down, in flight, in the transaction that reserves (see :class:`sentinel.providers.calls.ReservedCalls`). It
knows nothing of HTTP: the gateway turns a :class:`Generation` into an OpenAI answer, a job turns it into an attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from sentinel.errors import SentinelError
from sentinel.generation.records import GroupWriter, Record, write
from sentinel.keys.caller import Caller
from sentinel.models import ApiKey
from sentinel.providers.base import Outcome, ProviderResult, failure
from sentinel.providers.calls import (
    CallValues,
    ReservedCalls,
    call_values,
    calls_given_up,
    delete_unsent,
    written_ahead,
)
from sentinel.providers.router import (
    CallJournal,
    Disconnected,
    ImageSpec,
    ResolvedModel,
    Router,
    RouteResult,
    SpendClaims,
    WriteAhead,
)
from sentinel.services import Services
from sentinel.spend.budget import ReservedSpend
from sentinel.spend.service import RENEW_EVERY_SECONDS, Reservation, SpendService, UnpricedModel, settle_in
from sentinel.store.blobs import BlobStoreError

logger = logging.getLogger(__name__)


class ImageNotStored(BlobStoreError):
    """Images were delivered (and paid for) but the blob store could not keep them: their calls are in the call log
    (outcome ok, the message saying the image was not stored) and the spend is settled; ``generation`` holds the
    delivered images' bytes for the caller to hand out or keep until the store is back. A retry pays again, so the
    OpenAI SDK is told not to make one of its own."""

    def __init__(self, cause: BlobStoreError, generation: Generation, unlogged: list[CallValues] | None = None) -> None:
        super().__init__(
            f"the image was generated but could not be stored: {cause.message}",
            headers={"x-should-retry": "false"},
        )
        self.cause = cause
        self.generation = generation
        #: The calls whose log could not be written either (the database away too, e.g. a blob store on it), for a
        #: job's attempt to keep with the images; None when they are in the call log.
        self.unlogged = unlogged


class ImageNotRecorded(SentinelError):
    """Images were delivered (and paid for) but the database could not take their rows and call log (it went away
    or stalled at the commit). ``generation`` holds the images' bytes and ``record`` the rows that were to be written.
    A job's attempt (``GenerationRequest.journal``: its calls are in the log as ``in_flight`` already) keeps both
    until the database is back (see :mod:`sentinel.jobs.unstored`) rather than pay for another image; the gateway
    hands a ``b64_json`` answer's images out all the same, marked not stored (a capped key's calls were written in
    flight with its reservation: the ledger's sweep books them). A retry pays again, so the OpenAI SDK is told not to
    make one of its own."""

    status_code = 503
    error_type = "service_unavailable"
    code = "database_unavailable"

    def __init__(
        self, cause: Exception, generation: Generation, record: Record, unsettled: Reservation | None = None
    ) -> None:
        orig = getattr(cause, "orig", None)
        reason = str(orig if orig is not None else cause).strip().splitlines()
        super().__init__(
            "the image was generated but the database could not record it "
            f"({reason[0] if reason else type(cause).__name__})",
            headers={"x-should-retry": "false"},
        )
        self.cause = cause
        self.generation = generation
        self.record = record
        #: The spend reservation whose settle could not be written either (a capped key's): what the images cost
        #: (``generation.cost``) is to be booked when the calls are.
        self.unsettled = unsettled


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """What to generate: a route already resolved and checked (:meth:`GenerationService.resolve`) and the spec."""

    model: ResolvedModel
    spec: ImageSpec
    #: Names the request in the call log and the spend ledger: ``gen_<hex>`` from the gateway,
    #: ``<job_id>:<slot>:<number>`` for a job's attempt.
    request_id: str
    n: int = 1
    #: The most the provider calls of all ``n`` images may take; an image not delivered by then is a TIMEOUT
    #: failure in the result (what was delivered in time is kept), never an exception.
    timeout_seconds: float | None = None
    #: 0 for a first attempt; a job's regeneration (attempt number - 1) rotates the route's candidates where the
    #: route asks for it.
    regeneration: int = 0
    #: The task the images are judged against (a job's): an ``order: quality`` route tries the candidates with the
    #: best recent verdicts for it first. None (a plain gateway generation): the configured order.
    task: str | None = None
    #: Asked before every provider call but an image's first (the gateway: whether the client hung up): when it says
    #: so, no further provider is called for this request.
    disconnected: Disconnected | None = None
    #: Where each provider call is written down before it is sent (a job's attempt: a worker killed mid-call still
    #: leaves the call's row); None: calls are logged once answered, with the images.
    journal: CallJournal | None = None
    #: Candidates not to call, by target, with why (a job's later attempt: those whose paid images an earlier
    #: attempt could not deliver; see ``Router.generate``).
    avoid: Mapping[str, str] | None = None


@dataclass
class Generation:
    """The outcome of one request: per image its route result (the image or the failure that ended the walk)."""

    request_id: str
    model: ResolvedModel
    created: int
    results: list[RouteResult]
    #: Per result, the stored image's id (its SHA-256), None where no image came; filled in when stored.
    image_ids: list[str | None] = field(default_factory=list)
    #: False when images were delivered but the blob store could not keep them (:class:`ImageNotStored`), and why.
    stored: bool = True
    not_stored: str | None = None
    #: Set when the generation was handed back before its rows were committed (``generate(answer_early=True)``):
    #: done once they are, or failed as :meth:`GenerationService.generate` would have (the calls logged whatever
    #: became of the images).
    committed: asyncio.Future[None] | None = None

    @property
    def attempts(self) -> list[dict[str, Any]]:
        return [a.to_dict() | {"image_index": i} for i, r in enumerate(self.results) for a in r.attempts]

    @property
    def cost(self) -> float:
        """What the provider calls cost: only a delivered image carries a price."""
        return sum(attempt.cost for result in self.results for attempt in result.attempts)

    @property
    def last_failure(self) -> ProviderResult | None:
        """The failure that ended the first failed image's walk, if any image failed."""
        return next((r.last_failure for r in self.results if r.last_failure is not None), None)


class _WritesAhead:
    """The blob store's :class:`WriteAhead`, keeping what one request started: a request whose routing fails or is
    cancelled discards them all (a walk may have delivered an image that no one will claim)."""

    def __init__(self, store: WriteAhead) -> None:
        self.store = store
        self.started: list[Any] = []

    def write_ahead(self, data: bytes) -> Any:
        staged = self.store.write_ahead(data)
        self.started.append(staged)
        return staged

    def discard(self, staged: Any) -> None:
        self.store.discard(staged)

    def discard_all(self) -> None:
        for staged in self.started:
            self.store.discard(staged)


def _log_failed_commit(work: asyncio.Future[None]) -> None:
    """Say, once, that an early-answered generation's commit failed (its answer is cut short where its end was due)."""
    if not work.cancelled() and (failure := work.exception()) is not None:
        logger.error(
            "the images and call log of a generation being answered were not committed: its answer is cut short",
            exc_info=failure,
        )


#: How long past a generation's deadline the router may take to deliver an image already answered in time (its
#: download and checks) before the generation gives up on it.
DELIVERY_GRACE_SECONDS = 2.0


class GenerationService:
    def __init__(self, services: Services, router: Router, client: httpx.AsyncClient | None = None) -> None:
        self.services = services
        self.router = router
        #: The HTTP client the provider adapters share; closed with the service.
        self.client = client
        self.spend = SpendService(services)
        self.records = GroupWriter(lambda: services.engine, services.images)

    @property
    def _write_ahead(self) -> WriteAhead | None:
        """The blob store, when it can start writing an image's bytes while the router hashes them."""
        blobs = self.services.images.blobs
        return blobs if hasattr(blobs, "write_ahead") and hasattr(blobs, "claim") else None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        close = getattr(self.router.cooldowns, "close", None)
        if close is not None:
            await close()

    # -- before any provider is called --------------------------------------------------------------

    def resolve(
        self, model: str | None, task: str | None = None, size: str | None = None, quality: str | None = None
    ) -> tuple[ResolvedModel, int, int]:
        """The route and the image size, checked: the model asked for (else the task's preferred one, else the
        default), the size (``None`` or ``auto``: the route's first) and the quality. Raises the caller's errors
        (unknown or parked model, unknown task, unsupported size or quality) before anything is spent."""
        preferred = self.services.rubrics.get(task).preferred_model if task else None
        resolved = self.router.resolve(model, task, preferred)
        chosen = size if size not in (None, "auto") else resolved.route.sizes[0]
        width, height = self.router.check_size(resolved, chosen)
        self.router.check_quality(resolved, quality)
        return resolved, width, height

    def owner_of(self, key_id: str | None) -> Caller | None:
        """The key a job was made with, as the spend ledger and the image store need it; a revoked key is still
        found, so its jobs still stop at its cap. Blocking: call it from a thread."""
        if key_id is None:
            return None
        with Session(self.services.engine) as session:
            key = session.get(ApiKey, key_id)
        return Caller.of(key) if key is not None else None

    # -- generating ---------------------------------------------------------------------------------

    async def generate(
        self, request: GenerationRequest, owner: Caller | None = None, answer_early: bool = False
    ) -> Generation:
        """Every image of the request, within the owner's spend cap, stored and logged.

        Raises SpendCapReached before any provider call when the most the images can cost does not fit the owner's
        cap. Otherwise returns the generation whether or not any image came: each delivered image is stored, owned
        by the owner's key, in the same transaction as the call log, and the cap is settled to the actual cost.

        ``answer_early``: return as soon as the images are checked and their bytes are being written, with the
        commit under way in ``committed``, when the store is expected to keep them (see :meth:`_answers_early`),
        so the caller can start sending an answer whose end waits for that commit. Should the store fail all the
        same, the calls are logged and ``committed`` raises :class:`ImageNotStored`: the answer, already under way
        without ``x-sentinel-stored: false``, is to be cut short, not completed as if stored. Should the database
        not take the rows, ``committed`` raises :class:`ImageNotRecorded` (the answer may still end saying so).
        """
        reservation = await self._reserve(request, owner)
        # While the request works its reservation is renewed: the sweep releases only one whose process died.
        renewing = asyncio.create_task(self._keep_reserved(reservation)) if reservation is not None else None
        try:
            return await self._generate_reserved(request, owner, reservation, answer_early)
        finally:
            if renewing is not None:
                renewing.cancel()

    async def _keep_reserved(self, reservation: Reservation) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_SECONDS)
            try:
                await asyncio.to_thread(self.spend.renew, reservation)
            except Exception as exc:  # the database blinked: the next renewal says it again
                logger.warning("could not renew the spend reservation of %s (%s)", reservation.request_id, exc)

    async def _generate_reserved(
        self, request: GenerationRequest, owner: Caller | None, reservation: Reservation | None, answer_early: bool
    ) -> Generation:
        store = self._write_ahead
        started = _WritesAhead(store) if store is not None else None
        # Each call's price is claimed from the reservation before it is made: a walk that paid for an answer our
        # checks refused tops the reservation up before buying another, or stops at the cap (the settle books
        # every paid call).
        claims = ReservedSpend(self.spend, reservation) if reservation is not None else None
        journal = None
        if reservation is not None and reservation.in_flight_ids and request.journal is None:
            # A gateway request's calls, written down with its reservation (see sentinel.providers.calls).
            journal = ReservedCalls(
                self.services.engine, request.request_id, request.model.requested, reservation.in_flight_ids
            )
            request = replace(request, journal=journal)
        try:
            generation = await self.route(request, started, claims)
        except BaseException:
            # Routing itself broke (or the request was cancelled): nothing known was delivered, release the hold,
            # but for the calls sent and not waited for (the provider may bill them): those are booked.
            if started is not None:
                started.discard_all()
            if reservation is not None:
                await asyncio.to_thread(self._abandon, reservation, journal)
            raise
        # One thread hop, shared with the requests that finish meanwhile, for everything the database needs.
        record, image_ids = self._rows(generation, owner, reservation, journal)
        if request.journal is not None and record.images and record.then is not None:
            # A job's attempt keeps a paid image whose rows the database could not take (ImageNotRecorded below):
            # its calls and its settle are written when the attempt runs again, not apart here.
            written_apart = record.then

            def unless_kept(failure: Exception) -> None:
                if not isinstance(failure, (OperationalError, PoolTimeout)):
                    written_apart(failure)

            record.then = unless_kept
        if answer_early and self._answers_early(record):
            generation.image_ids = image_ids
            # The commit's thread starts before the answer does: the two overlap from the first byte sent.
            committing = asyncio.ensure_future(
                self._commit(record, generation, self.records.submit(record), reservation)
            )
            committing.add_done_callback(_log_failed_commit)
            generation.committed = committing
            return generation
        await self._commit(record, generation, self.records.submit(record), reservation)
        generation.image_ids = image_ids
        return generation

    def _answers_early(self, record: Record) -> bool:
        """Whether an answer may start before ``record`` is committed: every image's bytes are being written aside
        already (``write_ahead``) and the store has room, so the commit is expected to keep them and its end (rows,
        rename, commit) can overlap the sending of the answer. A store without room, or one that writes only in the
        commit, answers once committed, so the answer's headers say whether the images were stored."""
        if not record.images or any(info.sha256 not in record.written_ahead for info, _, _ in record.images):
            return False
        check_space = getattr(self.services.images.blobs, "check_space", None)
        if check_space is None:
            return False
        try:
            check_space()
        except BlobStoreError:
            return False
        return True

    async def _commit(
        self,
        record: Record,
        generation: Generation,
        written: asyncio.Future[None],
        reservation: Reservation | None = None,
    ) -> None:
        """The generation's rows committed (``written``: their commit, under way); when the blob store could not keep
        its images, ImageNotStored, with their calls logged all the same (the provider was paid, and the spend was
        settled); when the database could not take the rows of delivered images, ImageNotRecorded."""
        try:
            await written
        except BlobStoreError as exc:
            if exc.status_code != 503 or not record.images:
                raise
            unlogged = await self._record_calls_only(record, exc)
            raise ImageNotStored(exc, generation, unlogged) from exc
        except (OperationalError, PoolTimeout) as exc:
            if not record.images:
                raise
            raise ImageNotRecorded(exc, generation, record, reservation) from exc

    def _abandon(self, reservation: Reservation, journal: ReservedCalls | None) -> None:
        """A request whose routing broke or was cancelled: its calls sent and not answered marked ``in_flight_at_crash``
        and booked at their price, the rows written for calls never sent deleted, the rest of its hold released; one
        transaction. (A job's attempt marks its own calls: see :mod:`sentinel.jobs.in_flight`.)"""
        with self.services.engine.begin() as connection:
            cost = 0.0
            if journal is not None:
                if journal.unused:
                    delete_unsent(connection, journal.unused)
                if journal.sent:
                    why = "the request stopped (cancelled, or its routing failed) after the call was sent"
                    cost = calls_given_up(connection, journal.sent, why)
            settle_in(connection, reservation, cost)

    async def _record_calls_only(self, record: Record, cause: BlobStoreError) -> list[CallValues] | None:
        """A record's call log without its images, each delivering call saying its image was not stored (its
        ``image_id`` names the image by hash, so a re-run of a job's attempt can find the bytes it kept). Returns
        the calls when they could not be written (None when they were)."""
        note = f"delivered but not stored: {cause.message}"
        calls = [
            call._replace(message=(f"{call.message}; {note}" if call.message else note)[:1000])
            if call.image_id is not None
            else call
            for call in record.calls
        ]
        only = Record(
            calls=calls, settle=record.settle, cost=record.cost, unsent=record.unsent, given_up=record.given_up
        )
        try:
            await self.records.record(only)
        except Exception:
            logger.exception("the call log of %d paid provider call(s) could not be written", len(calls))
            return calls
        return None

    async def route(
        self, request: GenerationRequest, write_ahead: WriteAhead | None = None, claims: SpendClaims | None = None
    ) -> Generation:
        """Every image through the router, checked but not stored, logged or charged (``generate`` does that; the
        CLI's offline run writes files itself). ``write_ahead``: where the images' bytes start being written while
        they are hashed (each image's ``written_ahead``, for the caller to claim or discard). ``claims``: where
        each call's price is claimed from a capped key's reservation before it is made."""
        loop = asyncio.get_running_loop()
        deadline = None if request.timeout_seconds is None else loop.time() + request.timeout_seconds
        spec = request.spec
        # A seed steps per image, so the n images of one request differ where the provider honours seeds.
        specs = [spec if spec.seed is None else replace(spec, seed=spec.seed + i) for i in range(request.n)]
        if len(specs) == 1:
            results = [await self._route_one(request, specs[0], deadline, write_ahead, claims)]
        else:
            # Each image walks the route on its own: one slow provider does not hold up the others.
            walks = (self._route_one(request, s, deadline, write_ahead, claims) for s in specs)
            results = list(await asyncio.gather(*walks))
        return Generation(request.request_id, request.model, int(time.time()), results)

    async def _route_one(
        self,
        request: GenerationRequest,
        spec: ImageSpec,
        deadline: float | None,
        write_ahead: WriteAhead | None,
        claims: SpendClaims | None,
    ) -> RouteResult:
        walk = self.router.generate(
            request.model,
            spec,
            request.regeneration,
            deadline=deadline,
            disconnected=request.disconnected,
            task=request.task,
            write_ahead=write_ahead,
            journal=request.journal,
            claims=claims,
            avoid=request.avoid,
        )
        if deadline is None:
            return await walk
        if deadline <= asyncio.get_running_loop().time():
            walk.close()
            return self._timed_out(request)  # no time left: no provider is called at all
        # The router ends its walk at the deadline itself, keeping the log of the calls it made; this outer bound,
        # a little later, only catches what it does not bound (an output download, the image checks).
        bound = asyncio.timeout_at(deadline + DELIVERY_GRACE_SECONDS)
        try:
            async with bound:
                return await walk
        except TimeoutError:
            if not bound.expired():
                raise  # not our deadline
            return self._timed_out(request)

    @staticmethod
    def _timed_out(request: GenerationRequest) -> RouteResult:
        message = f"no image within the {request.timeout_seconds:g} s this generation was given"
        return RouteResult(None, [], failure(Outcome.TIMEOUT, message))

    # -- the ledger and the store -------------------------------------------------------------------

    async def _reserve(self, request: GenerationRequest, owner: Caller | None) -> Reservation | None:
        # No cap, no ledger: a thread hop saved on every uncapped call.
        if not self.spend.capped(owner):
            return None
        unpriced = self.router.unpriced(request.model)
        if unpriced:
            raise UnpricedModel(
                f"model '{request.model.requested}' may be served by {', '.join(unpriced)}, whose price the routing "
                "file does not set: this key's spend cap could not count what it costs, so it is not called (set "
                "cost_per_image on the candidate or its model)",
                field="model",
            )
        price = self.router.most_expensive(request.model, request.spec)
        # A gateway request's calls are written down (in flight) in the reservation's own transaction: no write of
        # their own before the call (see sentinel.providers.calls.ReservedCalls). A job's attempt writes its own.
        ahead = (
            written_ahead(request.request_id, request.model.requested, price, request.n)
            if request.journal is None
            else []
        )
        return await asyncio.to_thread(self.spend.reserve, owner, request.n * price, request.request_id, ahead)

    def _rows(
        self,
        generation: Generation,
        owner: Caller | None,
        reservation: Reservation | None,
        journal: ReservedCalls | None = None,
    ) -> tuple[Record, list[str | None]]:
        """The images and the call log that name them, and the cap settled to what the calls cost, in the same
        transaction (should it fail, the calls alone are written again with the settle, see :meth:`_rows_failed`:
        the provider was paid all the same). The call log is committed before the answer goes out, so a crash right
        after answering loses no record of a paid call. Also each result's image id."""
        key_id = owner.id if owner else None
        record = Record()
        image_ids: list[str | None] = []
        for result in generation.results:
            image = result.image
            if image is not None:
                record.images.append((image.info, image.data, key_id))
                if image.written_ahead is not None:
                    record.written_ahead[image.info.sha256] = image.written_ahead
            image_id = image.info.sha256 if image is not None else None
            image_ids.append(image_id)
            requested = generation.model.requested
            record.calls.extend(call_values(generation.request_id, requested, result.attempts, image_id))
        if reservation is not None:
            record.settle, record.cost = reservation, generation.cost
            record.then = lambda failure: self._rows_failed(record, failure)
        if journal is not None:
            answered = {call.in_flight_id for call in record.calls}
            record.given_up = [row for row in journal.sent if row not in answered]
            record.unsent = list(journal.unused)
        return record, image_ids

    def _rows_failed(self, record: Record, failure: Exception) -> None:
        """A capped request's rows could not be written (a database blink): its calls alone, with the settle, in a
        transaction of their own (in the writer's thread). A blob store that could not keep the images is answered
        by :meth:`_record_calls_only`, which does the same. Should this fail too, the request's calls are left in
        flight beside its reservation: the ledger's sweep books them (at their price) when it releases the hold."""
        if isinstance(failure, BlobStoreError) and failure.status_code == 503 and record.images:
            return
        # No image is named: its row was not written (a later run of a job's attempt must not take it as stored).
        note = f"delivered, but its rows could not be written ({type(failure).__name__})"
        calls = [
            call._replace(image_id=None, message=(f"{call.message}; {note}" if call.message else note)[:1000])
            if call.image_id is not None
            else call
            for call in record.calls
        ]
        only = Record(
            calls=calls, settle=record.settle, cost=record.cost, unsent=record.unsent, given_up=record.given_up
        )
        write(lambda: self.services.engine, self.services.images, [only])
