"""Recording what generations delivered: their images (rows and blobs) and call log, committed before any answer.

A request waits for the commit that holds its rows, so no answer ever names an image whose row, blob or call log
could still be lost to a crash, and no paid provider call goes unrecorded. What the writer shares between requests
is the commit: the records that arrive while one transaction is being written wait for it to end and then go
together in the next one (a group commit). A lone request pays one thread hop and one transaction, as before; under
load, one hop and one transaction serve every request that finished meanwhile, instead of one each contending for
the database's write lock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from sentinel.providers.calls import CallValues, calls_given_up, delete_unsent, insert_calls
from sentinel.spend.service import Reservation, settle_in
from sentinel.store.blobs import BlobStoreError, StagedBlob
from sentinel.store.images import ImageInfo
from sentinel.store.service import ImageService

logger = logging.getLogger(__name__)


@dataclass
class Record:
    """One request's rows: its delivered images with the key that asked for them, and its call log."""

    images: list[tuple[ImageInfo, bytes, str | None]] = field(default_factory=list)
    calls: list[CallValues] = field(default_factory=list)
    #: Images whose bytes the blob store started writing before they were hashed (its ``write_ahead``), by hash: the
    #: writer claims them (the put renames the file) or discards them (the store holds those bytes already).
    written_ahead: dict[str, StagedBlob] = field(default_factory=dict)
    #: The request's spend reservation, settled to ``cost`` in the rows' own transaction: no moment where its calls
    #: are logged as answered and its hold is still open, for the ledger's sweep to release as if nothing was spent.
    settle: Reservation | None = None
    cost: float = 0.0
    #: Rows written in flight ahead of calls that were never sent (:class:`ReservedCalls`): deleted with the rest.
    unsent: list[int] = field(default_factory=list)
    #: Rows of calls sent whose answer the request stopped waiting for (a deadline, a cancel): marked
    #: ``in_flight_at_crash`` and booked at their price (the provider may bill them).
    given_up: list[int] = field(default_factory=list)
    #: Run, in the writer's thread, when the rows could not be written (see :meth:`GenerationService._rows`).
    then: Callable[[Exception], None] | None = None


#: Said of a call sent that its request stopped waiting for.
_GIVEN_UP = "the request stopped waiting for the provider after the call was sent (it may be billed)"


def write(connection_of: Callable[[], Engine], images: ImageService, records: list[Record]) -> None:
    """Every record's rows in one transaction: the calls, then the images' rows before their blobs (as
    :meth:`ImageService.store` orders them). The calls go first (a call names its image by id, no foreign key): a
    blob still being written (``write_ahead``, ``stage_in_background``) is waited for after every statement but the
    commit, not before the last of them."""
    with connection_of().begin() as connection:
        insert_calls(connection, [call for record in records for call in record.calls])
        unsent = [row for record in records for row in record.unsent]
        if unsent:
            delete_unsent(connection, unsent)
        images.store_many(connection, [image for record in records for image in record.images])
        # Last, so a period's row is locked only for the commit; in one order, so two writers never wait on each other.
        settling = [record for record in records if record.settle is not None]
        for record in sorted(settling, key=lambda r: (r.settle.key_id, r.settle.period)):  # type: ignore[union-attr]
            given_up = calls_given_up(connection, record.given_up, _GIVEN_UP) if record.given_up else 0.0
            settle_in(connection, record.settle, record.cost + given_up)  # type: ignore[arg-type]


def _retrieved(work: asyncio.Future[None]) -> None:
    """Mark a shielded recording's failure as seen: its request, if cancelled, no longer awaits it."""
    if not work.cancelled():
        work.exception()


class GroupWriter:
    """Commits records in groups: ``await writer.record(r)`` returns once ``r`` is committed, or raises why not.

    It belongs to the first event loop that uses it (the API's, a worker's background loop), or the next one once
    that loop is closed; a record sent from any other loop is written on its own, in a transaction of its own.
    """

    def __init__(self, engine: Callable[[], Engine], images: ImageService) -> None:
        self._engine = engine
        self._images = images
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[tuple[Record, asyncio.Future[None]]] = []
        #: The commit of the group being written, in a thread; None while none is.
        self._writing: asyncio.Future[list[Exception | None]] | None = None
        #: Guards the choice of loop, should two loops in two threads ever share this writer.
        self._binding = threading.Lock()

    async def record(self, record: Record) -> None:
        await self.submit(record)

    def submit(self, record: Record) -> asyncio.Future[None]:
        """Start committing ``record`` now, and the future that is done once it is committed (or raises why not).

        The write starts before this returns: a thread is handed the record's group at once, where a task would
        first wait for the loop's next turn, behind whatever the caller does next (an early answer sends a whole
        image first). Cancelling the future cancels only the wait: the record is written all the same."""
        fresh = self._fresh_blobs(record)
        for sha256, staged in record.written_ahead.items():
            if sha256 not in fresh:
                self._discard(staged)  # stored already (or the store cannot stage): written for nothing
        if fresh and self._busy() and self._syncs():
            # Shielded: a request cancelled while its blobs are written still has its rows (and paid calls)
            # recorded.
            work = asyncio.ensure_future(self._stage_and_record(record, fresh))
            work.add_done_callback(_retrieved)
            return asyncio.shield(work)
        # With no group being written, this record's starts at once; its new blobs are written meanwhile by the
        # store's threads, alongside the thread hop and the statements before the put, which then only renames. So
        # too behind a group when the store does not sync: the put then waits only for a write, which the store's
        # threads started at once, and a thread hop of the request's own to wait for it first (~40 us of CPU, with
        # its wake-up of the loop) would cost more than it could save.
        staged = self._staged_all(record, fresh) if fresh else []
        done = self._enqueue(record)
        if staged:
            # The put renamed them; a record cancelled or failed leaves nothing behind (the put writes afresh what
            # was discarded before it came to it).
            done.add_done_callback(lambda _: self._discard_all(staged))
        return done

    def _staged_all(self, record: Record, fresh: dict[str, bytes]) -> list[StagedBlob]:
        if getattr(self._images.blobs, "stage_in_background", None) is None:
            return []
        return [blob for sha256, data in fresh.items() if (blob := self._staged(record, sha256, data)) is not None]

    def _staged(self, record: Record, sha256: str, data: bytes) -> StagedBlob | None:
        """A new blob staged for the put: the one written ahead, named now, else one staged now in the background."""
        blobs = self._images.blobs
        ahead = record.written_ahead.get(sha256)
        if ahead is not None:
            return blobs.claim(ahead, sha256)  # type: ignore[attr-defined]
        return blobs.stage_in_background(sha256, data)  # type: ignore[attr-defined]

    def _busy(self) -> bool:
        """Whether a group is being written on this loop, so a record sent now waits for it anyway."""
        return self._writing is not None and self._loop is asyncio.get_running_loop()

    def _syncs(self) -> bool:
        """Whether the store syncs each blob to disk before a put returns (an fsync of milliseconds, which a group's
        transaction must not wait for: see :meth:`_stage_and_record`)."""
        return bool(getattr(self._images.blobs, "sync", True))

    def _fresh_blobs(self, record: Record) -> dict[str, bytes]:
        """The record's images the store can stage and does not hold yet, by hash."""
        if not record.images or getattr(self._images.blobs, "stage", None) is None:
            return {}
        exists = self._images.blobs.exists
        # A stat on the loop is cheaper than a thread hop, and repeated bytes (a retry, a cached answer) are common.
        return {info.sha256: data for info, data, _ in record.images if not exists(info.sha256)}

    async def _stage_and_record(self, record: Record, fresh: dict[str, bytes]) -> None:
        """The record's new blobs written aside and synced, in a thread of the request's own, before its rows join a
        group: the group's transaction then only renames them, so the requests of one group do not pay their writes
        and fsyncs one after another. Should staging fail, the group's put writes them (and reports why it cannot)."""
        blobs = self._images.blobs

        def stage_all() -> list[StagedBlob]:
            staged: list[StagedBlob] = []
            for sha256, data in fresh.items():
                ahead = record.written_ahead.get(sha256)
                try:
                    if ahead is not None:
                        ahead.written.wait()  # as a blob staged here is: written (and synced) before the group
                        blob = blobs.claim(ahead, sha256)  # type: ignore[attr-defined]
                    else:
                        blob = blobs.stage(sha256, data)  # type: ignore[attr-defined]
                except BlobStoreError:
                    # The store is away or full: the group's put says so (once), as it says why it cannot write.
                    if ahead is not None:
                        self._discard(ahead)
                    continue
                except Exception:
                    logger.warning("staging blob %s failed: the group commit writes it", sha256, exc_info=True)
                    if ahead is not None:
                        self._discard(ahead)
                    continue
                if blob is not None:
                    staged.append(blob)
            return staged

        staged = await asyncio.to_thread(stage_all)
        try:
            await self._enqueue(record)
        finally:
            self._discard_all(staged)

    def _discard(self, blob: StagedBlob) -> None:
        discard = getattr(self._images.blobs, "discard", None)
        if discard is not None:
            discard(blob)

    def _discard_all(self, blobs: list[StagedBlob]) -> None:
        for blob in blobs:
            self._discard(blob)

    def _enqueue(self, record: Record) -> asyncio.Future[None]:
        """The future of ``record``'s commit: in the group being gathered, whose thread starts now if no group is
        being written (else when the one being written ends)."""
        loop = asyncio.get_running_loop()
        with self._binding:
            if self._loop is None or self._loop.is_closed():
                self._loop, self._waiting, self._writing = loop, [], None
            ours = self._loop is loop
        if not ours:
            return asyncio.ensure_future(asyncio.to_thread(self._commit_alone, record))
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((record, done))
        if self._writing is None:
            self._write_group(loop)
        return done

    def _write_group(self, loop: asyncio.AbstractEventLoop) -> None:
        """The records gathered so far, committed in a thread from now on; when it ends, the next group's."""
        group, self._waiting = self._waiting, []
        writing = loop.run_in_executor(None, self._commit, [record for record, _ in group])
        self._writing = writing
        writing.add_done_callback(lambda ended: self._group_written(loop, group, ended))

    def _group_written(
        self,
        loop: asyncio.AbstractEventLoop,
        group: list[tuple[Record, asyncio.Future[None]]],
        ended: asyncio.Future[list[Exception | None]],
    ) -> None:
        self._writing = None
        failures: list[Exception | None]
        if ended.cancelled():
            failures = [RuntimeError("recording stopped")] * len(group)
        elif (error := ended.exception()) is not None:
            failures = [error if isinstance(error, Exception) else RuntimeError("recording stopped")] * len(group)
        else:
            failures = ended.result()
        # A request cancelled while it waited is done already: the group was written all the same.
        for (_, done), failure in zip(group, failures, strict=True):
            if done.done():
                continue
            if failure is None:
                done.set_result(None)
            else:
                done.set_exception(failure)
        if self._waiting and self._loop is loop and not loop.is_closed():
            self._write_group(loop)

    def _commit(self, group: list[Record]) -> list[Exception | None]:
        """Per record, None when committed, else why not. One transaction for the whole group; when it fails, each
        record again in a transaction of its own, so one record that cannot be written fails only its request."""
        try:
            write(self._engine, self._images, group)
        except Exception as exc:
            if len(group) == 1:
                return [self._then(group[0], exc)]
            logger.warning("a group of %d records failed (%s): writing each alone", len(group), type(exc).__name__)
            return [self._commit_alone_quietly(record) for record in group]
        return [self._then(record, None) for record in group]

    def _commit_alone_quietly(self, record: Record) -> Exception | None:
        try:
            write(self._engine, self._images, [record])
        except Exception as exc:
            return self._then(record, exc)
        return self._then(record, None)

    def _commit_alone(self, record: Record) -> None:
        failure = self._commit_alone_quietly(record)
        if failure is not None:
            raise failure

    @staticmethod
    def _then(record: Record, failure: Exception | None) -> Exception | None:
        """Run the record's follow-up when its rows could not be written; the rows' failure is the record's."""
        if failure is not None and record.then is not None:
            try:
                record.then(failure)
            except Exception:
                logger.warning("the follow-up of a record that could not be written failed too", exc_info=True)
        return failure
