"""Images a job's attempt paid for that the blob store could not keep (away, full), or whose rows the database
could not take (away, stalled), kept until they can be.

The provider was paid for the image: a re-run of the attempt (the message retried, the sweep's re-send) stores these
bytes instead of calling the provider again. They are kept in a folder on the worker's own disk (they outlive the
process), one folder per job, else, when that fails too (the same full disk), in the process's memory, up to a
bound. A re-run on another machine finds neither and generates again, as before: the call log still records both
calls.

When the database could not take the call log either, the attempt's calls are kept beside the bytes (one file per
attempt, :meth:`UnstoredImages.keep_calls`): the re-run writes them first, so the one paid call is logged once, then
stores the bytes as above.

Kept bytes are only ever wanted by a re-run of their attempt, which only runs while its job is open: they are
forgotten once stored, when their job ends (:meth:`UnstoredImages.forget_job`, on the machine that ends it), and by
the job sweep and ``sentinel storage gc`` (:meth:`UnstoredImages.sweep`, on the machine that runs them), which also
drop anything older than the longest budget a job can have.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from sentinel.jobs.schemas import MAX_BUDGET_SECONDS
from sentinel.keyfiles import write_whole
from sentinel.models import FINAL_JOB_STATES, Job, StoredImage
from sentinel.providers.calls import CallValues
from sentinel.services import Services
from sentinel.store.blobs import is_sha256

logger = logging.getLogger(__name__)

#: The most bytes kept in memory for images the folder could not take either.
MEMORY_LIMIT_BYTES = 256 * 1024 * 1024

#: Kept bytes older than this are dropped whatever the database says: they were kept after their job started, and
#: no attempt runs once its job's budget (at most MAX_BUDGET_SECONDS) is spent. The margin is for clocks.
ORPHAN_AFTER_SECONDS = MAX_BUDGET_SECONDS + 600

#: A job's id as a folder's name (ours are ``job_<hex>``): anything else is not made into a path.
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
#: An attempt's request id (``<job id>:<slot>:<number>``), whose kept calls are in ``calls-<slot>-<number>.json``.
_REQUEST_ID = re.compile(rf"({_JOB_ID.pattern}):([0-9]{{1,6}}):([0-9]{{1,6}})")

#: Kept in memory, by (job id, image hash).
_memory: dict[tuple[str, str], tuple[bytes, float]] = {}
_memory_lock = threading.Lock()


@dataclass(frozen=True)
class KeptSpend:
    """A capped key's spend an attempt could not book (the database was away): booked with its kept calls."""

    key_id: str
    period: str
    cost: float


@dataclass
class SweepReport:
    #: Kept images dropped because their job ended (or is gone), because the store holds them now, or for age.
    dropped: int = 0
    #: Kept images left: their job is open and the store does not hold them yet.
    kept: int = 0


def unstored_images(services: Services) -> UnstoredImages:
    """Where this machine keeps them: ``data_dir/unstored-images``."""
    return UnstoredImages(Path(services.settings.data_dir) / "unstored-images")


class UnstoredImages:
    """Images by job and hash (the id the call log names them by) waiting for the blob store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _job_folder(self, job_id: str) -> Path | None:
        return self.folder / job_id if _JOB_ID.fullmatch(job_id) else None

    def keep(self, job_id: str, sha256: str, data: bytes) -> None:
        folder = self._job_folder(job_id)
        if folder is None or not is_sha256(sha256):
            return
        try:
            write_whole(folder / sha256, data)
            return
        except OSError as exc:
            logger.warning("could not keep image %s on disk (%s): keeping it in memory", sha256, exc.strerror or exc)
        with _memory_lock:
            if sum(len(d) for d, _ in _memory.values()) + len(data) <= MEMORY_LIMIT_BYTES:
                _memory[(job_id, sha256)] = (data, time.time())
            else:
                logger.warning("no room to keep image %s until the blob store is back: it is lost", sha256)

    def _calls_file(self, request_id: str) -> Path | None:
        found = _REQUEST_ID.fullmatch(request_id)
        if found is None:
            return None
        return self.folder / found[1] / f"calls-{found[2]}-{found[3]}.json"

    def keep_calls(self, request_id: str, calls: list[CallValues], unsettled: KeptSpend | None = None) -> None:
        """Keep the call log of an attempt (``request_id``) that the database could not take, for its re-run to
        write, with what its capped key's spend is still to be booked (``unsettled``). On disk only: a worker that
        cannot write its disk either logs them as lost (the sweep marks the calls left in flight, and counts them as
        spent, as for a worker that died)."""
        path = self._calls_file(request_id)
        if path is None or not calls:
            return
        kept = {"calls": [call._asdict() for call in calls], "unsettled": asdict(unsettled) if unsettled else None}
        try:
            write_whole(path, orjson.dumps(kept))
        except OSError as exc:
            logger.warning("could not keep the call log of %s (%s): it is lost", request_id, exc.strerror or exc)

    def kept_calls(self, request_id: str) -> tuple[list[CallValues], KeptSpend | None] | None:
        """The calls kept for ``request_id`` and the spend still to be booked (:meth:`keep_calls`); None when this
        machine kept none."""
        path = self._calls_file(request_id)
        if path is None:
            return None
        try:
            kept = orjson.loads(path.read_bytes())
            unsettled = kept["unsettled"]
            calls = [CallValues(**row) for row in kept["calls"]]
            return calls, KeptSpend(**unsettled) if unsettled else None
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            logger.warning("the call log kept for %s cannot be read (%s): it is dropped", request_id, exc)
            path.unlink(missing_ok=True)
            return None

    def drop_calls(self, request_id: str) -> None:
        """Forget the calls kept for ``request_id`` once the call log holds them."""
        path = self._calls_file(request_id)
        if path is not None:
            path.unlink(missing_ok=True)
            _remove_if_empty(path.parent)

    def get(self, job_id: str, sha256: str) -> bytes | None:
        """The kept bytes of ``sha256`` for ``job_id``, checked against their hash; None when this process's machine
        has none."""
        folder = self._job_folder(job_id)
        if folder is None or not is_sha256(sha256):
            return None
        with _memory_lock:
            held = _memory.get((job_id, sha256))
        data = held[0] if held is not None else None
        # The folder of the job, then the one all jobs shared before (bytes kept by an older version).
        for path in (folder / sha256, self.folder / sha256):
            if data is not None:
                break
            try:
                data = path.read_bytes()
            except OSError:
                continue
        return data if data is not None and hashlib.sha256(data).hexdigest() == sha256 else None

    def drop(self, job_id: str, sha256: str) -> None:
        """Forget ``sha256`` of ``job_id`` once the blob store holds it."""
        folder = self._job_folder(job_id)
        if folder is None or not is_sha256(sha256):
            return
        with _memory_lock:
            _memory.pop((job_id, sha256), None)
        (folder / sha256).unlink(missing_ok=True)
        (self.folder / sha256).unlink(missing_ok=True)
        _remove_if_empty(folder)

    def forget_job(self, job_id: str) -> None:
        """Forget everything kept for ``job_id``: it ended, so no attempt of it runs again. One stat when nothing
        was kept (every job's end asks)."""
        folder = self._job_folder(job_id)
        if folder is None:
            return
        if _memory:
            with _memory_lock:
                for key in [key for key in _memory if key[0] == job_id]:
                    del _memory[key]
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("job %s ended: the images kept for it while the blob store was unavailable are dropped", job_id)

    def sweep(self, engine: Engine, now: float | None = None) -> SweepReport:
        """Drop what no attempt can want any more: the images of jobs that ended (or are gone), those the store
        holds now, and anything older than :data:`ORPHAN_AFTER_SECONDS`. Touches the database only when something
        is kept."""
        now = time.time() if now is None else now
        report = SweepReport()
        kept = self._entries()
        if not kept:
            return report
        too_old = now - ORPHAN_AFTER_SECONDS
        with Session(engine) as session:
            jobs = {job_id for job_id, _, _, _ in kept if job_id is not None}
            open_jobs = set(
                session.exec(
                    select(Job.id).where(col(Job.id).in_(list(jobs)), col(Job.state).not_in(list(FINAL_JOB_STATES)))
                )
            )
            stored = set(
                session.exec(
                    select(StoredImage.id).where(
                        col(StoredImage.id).in_([sha for _, sha, _, _ in kept if sha is not None]),
                        col(StoredImage.purged_at).is_(None),
                    )
                )
            )
        for job_id, sha256, modified, path in kept:
            if modified >= too_old and (sha256 is None or (sha256 not in stored and job_id in open_jobs | {None})):
                # A write under way, or bytes an attempt of an open job (or, kept by an older version, of a job
                # not named) may still want.
                report.kept += sha256 is not None
                continue
            if path is None:
                with _memory_lock:
                    _memory.pop((job_id or "", sha256 or ""), None)
            else:
                path.unlink(missing_ok=True)
            report.dropped += sha256 is not None
        for folder in {path.parent for _, _, _, path in kept if path is not None and path.parent != self.folder}:
            _remove_if_empty(folder)
        if report.dropped:
            logger.info(
                "dropped %d image(s) kept while the blob store was unavailable: no attempt wants them", report.dropped
            )
        return report

    def _entries(self) -> list[tuple[str | None, str | None, float, Path | None]]:
        """What is kept: (job id, hash, when, file) each; the job None for bytes an older version kept, the hash
        None for a write that never finished, the file None for bytes in memory."""
        with _memory_lock:
            entries: list[tuple[str | None, str | None, float, Path | None]] = [
                (job_id, sha256, kept_at, None) for (job_id, sha256), (_, kept_at) in _memory.items()
            ]
        try:
            children = list(os.scandir(self.folder))
        except OSError:
            return entries
        for child in children:
            if child.is_dir(follow_symlinks=False) and _JOB_ID.fullmatch(child.name):
                try:
                    files = list(os.scandir(child.path))
                except OSError:
                    continue
                entries += [_entry(child.name, f) for f in files if f.is_file(follow_symlinks=False)]
            elif child.is_file(follow_symlinks=False):
                entries.append(_entry(None, child))
        return entries


def _entry(job_id: str | None, file: os.DirEntry[str]) -> tuple[str | None, str | None, float, Path | None]:
    try:
        modified = file.stat(follow_symlinks=False).st_mtime
    except OSError:
        modified = 0.0
    return job_id, file.name if is_sha256(file.name) else None, modified, Path(file.path)


def _remove_if_empty(folder: Path) -> None:
    # Not empty (another image of the job), or gone already: left.
    with contextlib.suppress(OSError):
        folder.rmdir()
