"""Images a job's attempt paid for that the blob store could not keep are kept on disk only while an attempt can
still want them: they go when the job ends (cancelled, expired), when the store holds them, and, whatever the
database says, once older than any job's budget. The store here refuses writes as a full disk does (the subclass
stands in for the kernel); the attempt, the job and the sweep are the real ones, on real files."""

from __future__ import annotations

import errno
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from sentinel.errors import SentinelError
from sentinel.evaluation.service import EvaluationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import AttemptRunner
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.jobs.schemas import MAX_BUDGET_SECONDS, JobCreate
from sentinel.jobs.service import JobService
from sentinel.models import Job, JobState, utcnow
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.store.blobs import FilesystemBlobStore
from sentinel.wiring import build_services
from sentinel.worker.loop import run_async


class FullDisk(FilesystemBlobStore):
    """A folder whose device takes no more bytes while ``full``."""

    full = True

    def _write_aside(self, folder: Path, data: bytes, sync: bool = True) -> Path:  # type: ignore[override]
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super()._write_aside(folder, data, sync)


@pytest.fixture
def services(tmp_path: Path) -> Services:
    built = build_services(Settings(data_dir=tmp_path / "data"))
    built.images.blobs = FullDisk(tmp_path / "blobs", sync=False)
    return built


@pytest.fixture
def jobs(services: Services) -> JobService:
    generation = run_async(open_generation(services))
    return JobService(services, lambda: generation)


def kept_files(services: Services) -> list[Path]:
    folder = Path(services.settings.data_dir) / "unstored-images"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def paid_but_not_stored(services: Services, jobs: JobService) -> tuple[Job, Path]:
    """A job whose first attempt's image was delivered (paid for) while the store could not keep it, and the file
    the image is kept in."""
    before = kept_files(services)
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite"))
    generation = run_async(open_generation(services))
    runner = AttemptRunner(services, EvaluationService(services), jobs.progress, lambda: generation)
    with pytest.raises(SentinelError, match="could not be stored"):
        runner.run(job.id, 0, 1)
    [kept] = set(kept_files(services)) - set(before)
    return job, kept


def test_the_image_kept_for_a_cancelled_job_is_dropped_when_it_is_cancelled(services, jobs) -> None:
    job, _ = paid_but_not_stored(services, jobs)
    other, kept = paid_but_not_stored(services, jobs)
    jobs.cancel(job.id)
    # The other job's attempt may still store its image: it stays.
    assert kept_files(services) == [kept]
    jobs.cancel(other.id)
    assert kept_files(services) == []


def test_the_sweep_drops_the_image_kept_for_a_job_that_expired(services, jobs) -> None:
    job, kept = paid_but_not_stored(services, jobs)
    recovery = JobRecovery(services, JobProgress(services))
    recovery.sweep()
    assert kept_files(services) == [kept]  # the job is open: its attempt's re-run stores these bytes
    with Session(services.engine) as session:
        session.execute(update(Job).where(col(Job.id) == job.id).values(deadline_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert recovery.sweep()["expired"] == 1
    assert jobs.get(job.id)[0].state == JobState.EXPIRED
    assert kept_files(services) == []


def test_the_sweep_drops_images_whose_job_ended_elsewhere_was_stored_since_or_is_older_than_any_budget(
    services, jobs
) -> None:
    (ended, _), (_, stored_file), (_, old_file), (waiting, waiting_file) = (
        paid_but_not_stored(services, jobs) for _ in range(4)
    )
    # Ended by another machine (whose own folder this is not): only the sweep here can drop its image.
    with Session(services.engine) as session:
        session.execute(update(Job).where(col(Job.id) == ended.id).values(state=JobState.FAILED))
        session.commit()
    # The same bytes reached the store by another way (the store is back).
    services.images.blobs.full = False
    data = stored_file.read_bytes()
    with Session(services.engine) as session:
        services.images.store(session, services.images.inspect(data, "image"), data)
        session.commit()
    # Kept longer ago than any job's budget: no attempt can run to want it.
    past = time.time() - MAX_BUDGET_SECONDS - 3600
    os.utime(old_file, (past, past))

    JobRecovery(services, JobProgress(services)).sweep()
    assert kept_files(services) == [waiting_file]
    assert jobs.get(waiting.id)[0].state not in (JobState.FAILED, JobState.EXPIRED, JobState.CANCELLED)
