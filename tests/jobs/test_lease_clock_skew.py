"""A worker whose wall clock runs ahead does not take over live leases (PostgreSQL, libfaketime).

Leases are written and judged by the database's clock: a second worker 60 s ahead (an NTP step, a VM resumed from a
pause) once saw every other worker's 15 s lease as run out, resumed their attempts in its sweep and leased them
again, paying the provider for each image two or three times."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.evaluation.service import EvaluationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import AttemptRunner
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.models import JobAttempt, OutboxMessage, as_utc, utcnow
from sentinel.services import Services
from sentinel.worker.loop import run_async

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("faketime") is None, reason="libfaketime's faketime is not installed")

#: What the worker whose clock runs ahead does: its sweep, then a redelivery of the attempt's message to it.
SKEWED_WORKER = """
import json, sys
from datetime import datetime, UTC
from pathlib import Path
from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.attempts import AttemptRunner
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.settings import Settings
from sentinel.wiring import build_services

url, data_dir, job_id = sys.argv[1:]
services = build_services(Settings(data_dir=Path(data_dir), database_url=url))
progress = JobProgress(services)
swept = JobRecovery(services, progress).sweep()
leased = AttemptRunner(services, EvaluationService(services), progress, lambda: None)._lease(job_id, 0, 1)
print(json.dumps({"clock": datetime.now(UTC).isoformat(), "resumed": swept["resumed"], "leased": leased is not None}))
"""


def run_skewed(offset: str, url: str, data_dir: Path, job_id: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        ["faketime", "-f", offset, sys.executable, "-c", SKEWED_WORKER, url, str(data_dir), job_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def lease_of(services: Services, job_id: str) -> object:
    with Session(services.engine) as session:
        return session.exec(select(JobAttempt.lease_until).where(JobAttempt.job_id == job_id)).one()


def test_a_worker_sixty_seconds_ahead_leaves_a_live_lease_alone(pg_services: Services, tmp_path: Path) -> None:
    services = pg_services
    generation = run_async(open_generation(services))
    jobs = JobService(services, lambda: generation)
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite"))
    with Session(services.engine) as session:
        session.execute(update(OutboxMessage).values(sent_at=utcnow()))
        session.commit()
    progress = JobProgress(services)
    runner = AttemptRunner(services, EvaluationService(services), progress, lambda: None)  # type: ignore[arg-type,return-value]
    # This worker (on time) leases the attempt, as for a provider call under way, and keeps renewing it: its lease
    # runs well past the minute the other worker's clock is ahead, however long that worker takes to start.
    assert runner._lease(job.id, 0, 1) is not None
    with Session(services.engine) as session:
        renewed = utcnow() + timedelta(minutes=10)
        session.execute(update(JobAttempt).where(col(JobAttempt.job_id) == job.id).values(lease_until=renewed))
        session.commit()
    held = lease_of(services, job.id)
    assert held is not None and as_utc(held) > utcnow()

    url = services.settings.database_url
    assert url
    seen = run_skewed("+60s", url, tmp_path / "skewed", job.id)
    # The skewed process really runs a minute ahead.
    assert datetime.fromisoformat(seen["clock"]) > utcnow() + timedelta(seconds=50)
    # Neither its sweep nor a redelivered message takes the live lease: the attempt is not generated a second time.
    assert seen == seen | {"resumed": 0, "leased": False}
    assert lease_of(services, job.id) == held
    with Session(services.engine) as session:
        resent = session.exec(
            select(OutboxMessage).where(OutboxMessage.actor == "generate_attempt", col(OutboxMessage.sent_at).is_(None))
        ).all()
    assert resent == []


def test_a_lease_that_ran_out_by_the_databases_clock_is_taken_over(pg_services: Services, tmp_path: Path) -> None:
    # The same worker with a clock that is right: the dead worker's lease (run out by the database's clock) is
    # resumed and leased, so judging by the database's clock still replaces a worker that died.
    services = pg_services
    generation = run_async(open_generation(services))
    jobs = JobService(services, lambda: generation)
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite"))
    with Session(services.engine) as session:
        session.execute(update(OutboxMessage).values(sent_at=utcnow()))
        session.execute(
            update(JobAttempt)
            .where(col(JobAttempt.job_id) == job.id)
            .values(lease_until=utcnow() - timedelta(seconds=1), started_at=utcnow() - timedelta(seconds=20))
        )
        session.commit()
    seen = run_skewed("+0s", services.settings.database_url or "", tmp_path / "late", job.id)
    assert seen["resumed"] == 1 and seen["leased"] is True
