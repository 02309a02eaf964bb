"""Keeping the blob store tidy: deleting blobs nothing needs (``storage gc``), moving blobs (``storage migrate``).

Deleting is safe while jobs run because writers and the collector take the same lock in opposite order to
nothing: a writer upserts an image's row (locking it, and stamping ``stored_at``) before it puts the blob
and commits the rows that reference it; the collector locks an image's row, checks again that nothing
live references it and that it was not stored recently, and only then deletes the blob, in the same
transaction. A blob with no row is claimed by inserting one: a writer's uncommitted row makes that insert
wait, then conflict, and the blob is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice

from sqlalchemy import exists, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from sentinel.db import dialect_insert
from sentinel.models import (
    Evaluation,
    EvaluationStatus,
    ImageOwner,
    Job,
    JobAttempt,
    ProviderCall,
    ReviewDecision,
    StoredImage,
    utcnow,
)
from sentinel.store.blobs import BlobEntry, BlobNotFound, BlobStore
from sentinel.store.images import sniff_mime
from sentinel.verdicts import Verdict

IMAGES = StoredImage.__table__
OWNERS = ImageOwner.__table__
EVALUATIONS = Evaluation.__table__
ATTEMPTS = JobAttempt.__table__
JOBS = Job.__table__
CALLS = ProviderCall.__table__
DECISIONS = ReviewDecision.__table__

#: Rows locked and blobs deleted per transaction: short transactions keep writers waiting briefly.
BATCH = 100

Progress = Callable[[int], None]


@dataclass
class GcReport:
    scanned_rows: int = 0
    scanned_blobs: int = 0
    #: Images whose row was deleted with their blob: nothing names them.
    deleted: int = 0
    #: Images whose blob was deleted under retention; the row stays for the finished work that names it.
    purged: int = 0
    #: Blobs that had no row at all (a writer that crashed before committing).
    orphans: int = 0
    #: Temporary files a crashed writer left in a folder store (``.incoming-*``), removed once older than the grace.
    leftover_files: int = 0
    freed_bytes: int = 0
    dry_run: bool = False
    would_delete: list[str] = field(default_factory=list)


@dataclass
class MigrateReport:
    copied: int = 0
    already_there: int = 0
    copied_bytes: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def _batches(items: Iterable[str], size: int = BATCH) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class StorageMaintenance:
    def __init__(self, engine: Engine, blobs: BlobStore) -> None:
        self.engine = engine
        self.blobs = blobs

    # ----- what is still needed

    def _live(self, image_id: ColumnElement, retention_cutoff: datetime | None) -> ColumnElement:
        """A condition true while a row that must keep its image names ``image_id``."""
        if retention_cutoff is None:
            return self._named_at_all(image_id)
        job_live = JOBS.c.finished_at.is_(None) | (JOBS.c.finished_at >= retention_cutoff)
        live_attempt = exists().where(ATTEMPTS.c.image_id == image_id, ATTEMPTS.c.job_id == JOBS.c.id, job_live)
        # An evaluation made for a job attempt lives as long as its job; one a caller submitted, forever.
        of_expired_job = exists().where(
            ATTEMPTS.c.evaluation_id == EVALUATIONS.c.id, ATTEMPTS.c.job_id == JOBS.c.id, ~job_live
        )
        live_evaluation = exists().where(_names(image_id), ~of_expired_job)
        live_call = exists().where(CALLS.c.image_id == image_id, CALLS.c.created_at >= retention_cutoff)
        # An edit job's source and mask: every attempt reads them until the job ends.
        live_edit_input = exists().where(_job_names(image_id), job_live)
        # A person still has to look at an amber result (a finished job's included: it is done while its image
        # waits), and retention of a decided one counts from the decision.
        decided = exists().where(DECISIONS.c.evaluation_id == EVALUATIONS.c.id)
        recently_decided = exists().where(
            DECISIONS.c.evaluation_id == EVALUATIONS.c.id, DECISIONS.c.created_at >= retention_cutoff
        )
        awaiting_review = exists().where(
            _names(image_id),
            EVALUATIONS.c.status == EvaluationStatus.DONE.value,
            EVALUATIONS.c.verdict == Verdict.AMBER.value,
            ~decided | recently_decided,
        )
        return or_(live_attempt, live_evaluation, live_call, live_edit_input, awaiting_review)

    def _named_at_all(self, image_id: ColumnElement) -> ColumnElement:
        """True while any row names the image (a purged image's row must stay for them)."""
        return or_(
            exists().where(_names(image_id)),
            exists().where(ATTEMPTS.c.image_id == image_id),
            exists().where(CALLS.c.image_id == image_id),
            exists().where(_job_names(image_id)),
        )

    # ----- garbage collection

    def gc(
        self,
        *,
        grace: timedelta,
        retention: timedelta | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> GcReport:
        """Delete blobs nothing live needs: rows first (locked, re-checked), then blobs with no row at all."""
        report = GcReport(dry_run=dry_run)
        now = utcnow()
        recent = now - grace
        retention_cutoff = now - retention if retention is not None else None
        with self.engine.connect() as connection:
            candidates = [
                row.id
                for row in connection.execute(
                    select(IMAGES.c.id).where(
                        IMAGES.c.purged_at.is_(None),
                        IMAGES.c.stored_at < recent,
                        ~self._live(IMAGES.c.id, retention_cutoff),
                    )
                )
            ]
        report.scanned_rows = len(candidates)
        for batch in _batches(candidates):
            self._collect_rows(batch, recent, retention_cutoff, report)
            if progress:
                progress(len(batch))
        self._collect_orphans(recent, report, progress)
        sweep = getattr(self.blobs, "sweep_incoming", None)
        if sweep is not None and not dry_run:
            report.leftover_files = sweep(recent)
        return report

    def _collect_rows(
        self, batch: list[str], recent: datetime, retention_cutoff: datetime | None, report: GcReport
    ) -> None:
        with self.engine.begin() as connection:
            locked = self._lock(connection, batch)
            still = select(IMAGES.c.id, IMAGES.c.size_bytes, self._named_at_all(IMAGES.c.id).label("named")).where(
                IMAGES.c.id.in_(locked),
                IMAGES.c.purged_at.is_(None),
                IMAGES.c.stored_at < recent,
                ~self._live(IMAGES.c.id, retention_cutoff),
            )
            doomed = connection.execute(still).all()
            if report.dry_run:
                report.would_delete.extend(row.id for row in doomed)
                report.freed_bytes += sum(row.size_bytes for row in doomed)
                return
            named = [row.id for row in doomed if row.named]
            unnamed = [row.id for row in doomed if not row.named]
            if named:
                connection.execute(update(IMAGES).where(IMAGES.c.id.in_(named)).values(purged_at=utcnow()))
            if unnamed:
                connection.execute(IMAGES.delete().where(IMAGES.c.id.in_(unnamed)))
                # Whoever stores these bytes again owns them afresh.
                connection.execute(OWNERS.delete().where(OWNERS.c.image_id.in_(unnamed)))
            # The blobs go while the rows are still locked: a writer storing the same bytes now waits for
            # this commit, then writes its row and its blob afresh.
            for row in doomed:
                self.blobs.delete(row.id)
            report.purged += len(named)
            report.deleted += len(unnamed)
            report.freed_bytes += sum(row.size_bytes for row in doomed)

    def _lock(self, connection: Connection, ids: list[str]) -> list[str]:
        """Lock the rows of ``ids`` for this transaction; rows a writer holds are skipped, not waited for."""
        if connection.dialect.name == "postgresql":
            query = select(IMAGES.c.id).where(IMAGES.c.id.in_(ids)).order_by(IMAGES.c.id)
            return [row.id for row in connection.execute(query.with_for_update(skip_locked=True))]
        # SQLite has one writer at a time: a write as the first statement holds it until this commit.
        connection.execute(update(IMAGES).where(IMAGES.c.id.in_(ids)).values(stored_at=IMAGES.c.stored_at))
        return ids

    def _collect_orphans(self, recent: datetime, report: GcReport, progress: Progress | None) -> None:
        def old_entries() -> Iterator[BlobEntry]:
            for entry in self.blobs.entries():
                report.scanned_blobs += 1
                if entry.modified_at < recent:
                    yield entry

        entries = old_entries()
        while batch := list(islice(entries, BATCH)):
            sizes = {entry.sha256: entry.size_bytes for entry in batch}
            with self.engine.connect() as connection:
                known = set(connection.scalars(select(IMAGES.c.id).where(IMAGES.c.id.in_(list(sizes)))))
            for sha256 in sizes.keys() - known:
                if report.dry_run:
                    report.would_delete.append(sha256)
                    report.freed_bytes += sizes[sha256]
                elif self._claim_and_delete(sha256, sizes[sha256]):
                    report.orphans += 1
                    report.freed_bytes += sizes[sha256]
            if progress:
                progress(len(batch))

    def _claim_and_delete(self, sha256: str, size: int) -> bool:
        """Delete a blob that has no row, unless a writer is storing it right now."""
        claim = (
            dialect_insert(self.engine)(IMAGES)
            .values(id=sha256, mime="application/octet-stream", width=0, height=0, size_bytes=size)
            .values(created_at=utcnow(), stored_at=datetime(1970, 1, 1, tzinfo=UTC))
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(IMAGES.c.id)
        )
        with self.engine.begin() as connection:
            if connection.execute(claim).first() is None:
                return False  # a writer committed a row for it meanwhile: it is in use
            self.blobs.delete(sha256)
            connection.execute(IMAGES.delete().where(IMAGES.c.id == sha256))
        return True

    # ----- moving between stores

    def migrate(self, source: BlobStore, target: BlobStore, progress: Progress | None = None) -> MigrateReport:
        """Copy every blob from ``source`` to ``target``, checking each one's hash; blobs already there are skipped.

        Safe to run while Sentinel runs and to run again: nothing is deleted from the source.
        """
        report = MigrateReport()
        for entry in source.entries():
            try:
                if target.exists(entry.sha256):
                    report.already_there += 1
                else:
                    data = source.get(entry.sha256)
                    if hashlib.sha256(data).hexdigest() != entry.sha256:
                        report.failed[entry.sha256] = "the bytes in the source store do not match their hash"
                        continue
                    target.put(entry.sha256, data, sniff_mime(data) or "application/octet-stream")
                    report.copied += 1
                    report.copied_bytes += len(data)
            except BlobNotFound:
                continue  # deleted by gc while we listed
            except Exception as exc:
                report.failed[entry.sha256] = str(exc)
            if progress:
                progress(1)
        return report

    def count(self, store: BlobStore) -> tuple[int, int]:
        """How many blobs the store holds, and their bytes."""
        blobs = total = 0
        for entry in store.entries():
            blobs += 1
            total += entry.size_bytes
        return blobs, total


def _names(image_id: ColumnElement) -> ColumnElement:
    """An evaluation names the image as the one judged, or as an edit's source or mask."""
    return or_(
        EVALUATIONS.c.image_id == image_id,
        EVALUATIONS.c.source_image_id == image_id,
        EVALUATIONS.c.mask_image_id == image_id,
    )


def _job_names(image_id: ColumnElement) -> ColumnElement:
    """An edit job names the source it edits and its mask."""
    return or_(JOBS.c.source_image_id == image_id, JOBS.c.mask_image_id == image_id)
