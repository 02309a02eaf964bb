"""A job's budget is judged by the database's clock, whatever the clock of the process that reads it (PostgreSQL,
libfaketime).

A job's ``deadline_at`` (its 5-minute regeneration budget) was written from the API process's clock, and the time
left of it, and whether it had run out, read from each worker's: an API process ten minutes behind wrote a budget
that had run out ten minutes early, a worker ten minutes ahead cut its provider call to nothing and expired jobs
with attempts left, and a worker ten minutes behind never expired a job whose budget had run out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, text, update
from sqlmodel import Session, col, select

from sentinel.generation.wiring import open_generation
from sentinel.jobs.clock import database_now, now_to_write
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.models import Job, JobAttempt, OutboxMessage, as_utc, utcnow
from sentinel.services import Services
from sentinel.worker.loop import run_async

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("faketime") is None, reason="libfaketime's faketime is not installed")

#: How far the skewed process's clock is off: well past the 5-minute budget, so a budget judged by it is plainly off.
SKEW = timedelta(minutes=10)

#: What the process whose clock is off does, by ``what``: make a job, run its first attempt, fail its first
#: attempt, or sweep.
SKEWED_PROCESS = """
import json, sys
from datetime import datetime, UTC
from pathlib import Path
from sqlmodel import Session, select
from sentinel.evaluation.service import EvaluationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import AttemptRunner
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.models import JobAttempt
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import run_async

url, data_dir, what, job_id = sys.argv[1:]
services = build_services(Settings(data_dir=Path(data_dir), database_url=url))
progress = JobProgress(services)
seen = {"clock": datetime.now(UTC).isoformat()}
if what == "create":
    generation = run_async(open_generation(services))
    seen["job"] = JobService(services, lambda: generation).create(JobCreate(task="text-to-image", prompt="a kite")).id
elif what == "attempt":
    generation = run_async(open_generation(services))
    AttemptRunner(services, EvaluationService(services), progress, lambda: generation).run(job_id, 0, 1)
elif what == "fail":
    with Session(services.engine) as session:
        attempt = session.exec(select(JobAttempt).where(JobAttempt.job_id == job_id)).one()
        progress.attempt_failed(session, attempt, "the provider was away", "unavailable")
        session.commit()
elif what == "sweep":
    seen["swept"] = JobRecovery(services, progress).sweep()
print(json.dumps(seen))
"""


def run_skewed(offset: str, services: Services, data_dir: Path, what: str, job_id: str = "-") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    url = services.settings.database_url or ""
    done = subprocess.run(
        ["faketime", "-f", offset, sys.executable, "-c", SKEWED_PROCESS, url, str(data_dir), what, job_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # The process really ran with its clock that far off.
    clock = datetime.fromisoformat(seen["clock"])
    assert abs(clock - utcnow()) > SKEW - timedelta(minutes=1)
    return seen


def make_job(services: Services) -> Job:
    generation = run_async(open_generation(services))
    job = JobService(services, lambda: generation).create(JobCreate(task="text-to-image", prompt="a red kite"))
    with Session(services.engine) as session:
        # The messages stay unsent: the test runs each step itself.
        session.execute(update(OutboxMessage).values(sent_at=utcnow()))
        session.commit()
    return job


def read_job(services: Services, job_id: str) -> tuple[Job, list[JobAttempt], datetime]:
    with Session(services.engine, expire_on_commit=False) as session:
        job = session.get(Job, job_id)
        attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job_id)))
        now = database_now(session)
    assert job is not None
    return job, attempts, now


def test_a_job_made_by_a_process_whose_clock_is_behind_gets_its_whole_budget(
    pg_services: Services, tmp_path: Path
) -> None:
    seen = run_skewed("-10m", pg_services, tmp_path / "api", "create")
    job, _, now = read_job(pg_services, seen["job"])
    # Its budget starts now by the database's clock, not ten minutes ago: none of it has run out.
    assert as_utc(job.deadline_at) - as_utc(job.created_at) == timedelta(seconds=job.budget_seconds)
    assert as_utc(job.created_at) > now - SKEW / 2
    assert as_utc(job.deadline_at) > now


def test_a_worker_whose_clock_is_ahead_gives_the_provider_the_jobs_budget(
    pg_services: Services, tmp_path: Path
) -> None:
    job = make_job(pg_services)
    run_skewed("+10m", pg_services, tmp_path / "worker", "attempt", job.id)
    _, [attempt], _ = read_job(pg_services, job.id)
    # The image was made and handed to the panel; by the worker's own clock the budget had run out, and the
    # provider call was given no time at all.
    assert attempt.state == "judging", (attempt.state, attempt.error)
    assert attempt.image_id is not None


def test_a_worker_whose_clock_is_ahead_regenerates_a_job_with_budget_left(
    pg_services: Services, tmp_path: Path
) -> None:
    job = make_job(pg_services)
    run_skewed("+10m", pg_services, tmp_path / "worker", "fail", job.id)
    closed, attempts, _ = read_job(pg_services, job.id)
    assert closed.state == "regenerating", (closed.state, closed.reason)
    assert sorted(a.number for a in attempts) == [1, 2]


def test_a_sweep_whose_clock_is_behind_expires_a_job_whose_budget_ran_out(
    pg_services: Services, tmp_path: Path
) -> None:
    job = make_job(pg_services)
    with Session(pg_services.engine) as session:
        session.execute(
            update(Job).where(col(Job.id) == job.id).values(deadline_at=text("clock_timestamp() - interval '1 second'"))
        )
        session.commit()
    run_skewed("-10m", pg_services, tmp_path / "sweeper", "sweep")
    expired, _, _ = read_job(pg_services, job.id)
    assert expired.state == "expired", (expired.state, expired.reason)


def test_now_and_a_budget_from_now_written_in_one_statement_are_exactly_the_budget_apart(pg_services: Services) -> None:
    # A job's created_at and deadline_at are written by one INSERT. When "now" was read afresh at each place, about
    # one row in forty came out a microsecond longer than its budget (and a job's stated budget was not its own).
    budget = timedelta(seconds=300)
    with Session(pg_services.engine) as session:
        now = now_to_write(session)
        rows = session.execute(
            select(now, now + budget).select_from(func.generate_series(1, 20_000).table_valued("n"))
        ).all()
    assert len(rows) == 20_000
    assert {later - earlier for earlier, later in rows} == {budget}
