"""`GET /v1/jobs/{id}` reads a job and its attempts as of one moment: a step that commits while the job is being read
(an attempt judged after a cancel, which sets the attempt's verdict and the job's together) shows on both or on
neither, never an attempt's red verdict beside the job's verdict from before it. The step is committed from another
connection at the moment the read reaches the attempts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlmodel import Session, col

from sentinel.generation.wiring import open_generation
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.models import Job, JobAttempt
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import run_async


@pytest.fixture(params=["sqlite", "postgresql"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Services:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_services")
    return build_services(Settings(data_dir=tmp_path))


def test_a_step_committed_during_the_read_shows_on_the_job_and_its_attempt_alike(services: Services) -> None:
    generation = run_async(open_generation(services))
    jobs = JobService(services, lambda: generation)
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite"))
    stepped: list[bool] = []

    def judged_meanwhile() -> None:
        with Session(services.engine) as session:
            session.execute(
                update(JobAttempt).where(col(JobAttempt.job_id) == job.id).values(state="judged", verdict="red")
            )
            session.execute(update(Job).where(col(Job.id) == job.id).values(state="cancelled", verdict="red"))
            session.commit()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not stepped and "job_attempts" in statement and statement.lstrip().upper().startswith("SELECT"):
            stepped.append(True)
            judged_meanwhile()

    event.listen(services.engine, "before_cursor_execute", before)
    try:
        read, attempts = jobs.get(job.id)
    finally:
        event.remove(services.engine, "before_cursor_execute", before)
    assert stepped
    assert [a.verdict for a in attempts] == [read.verdict], (read.state, read.verdict, attempts)
