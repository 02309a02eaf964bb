"""For tests that kill (SIGKILL) a worker while its provider call or task is under way: the worker process, which
runs one job's first attempt (``python -c ATTEMPT_WORKER DATABASE_URL DATA_DIR ROUTES JOB_ID``), services on a
PostgreSQL database of the test's own with the routes given, and the provider calls a request logged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, col, select, update

from sentinel.models import JobAttempt, ProviderCall, utcnow
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import own_postgres_database

ATTEMPT_WORKER = """
import sys
from pathlib import Path
from sentinel.evaluation.service import EvaluationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import AttemptRunner
from sentinel.jobs.progress import JobProgress
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import run_async

url, data_dir, routes, job_id = sys.argv[1:]
services = build_services(Settings(data_dir=Path(data_dir), database_url=url, routes=Path(routes)))
generation = run_async(open_generation(services))
AttemptRunner(services, EvaluationService(services), JobProgress(services), lambda: generation).run(job_id, 0, 1)
"""


@contextmanager
def services_on_postgres(tmp_path: Path, routes: dict[str, Any]) -> Iterator[Services]:
    """Services on a database of their own, routed by ``routes`` (written to tmp_path/routes.yaml)."""
    (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
    with own_postgres_database() as database:
        settings = Settings(data_dir=tmp_path / "data", database_url=database, routes=tmp_path / "routes.yaml")
        built = build_services(settings)
        yield built
        built.engine.dispose()


def calls_of(services: Services, request_id: str) -> list[ProviderCall]:
    """The provider calls logged for ``request_id``."""
    with Session(services.engine) as session:
        return list(session.exec(select(ProviderCall).where(ProviderCall.request_id == request_id)))


def lease_run_out(services: Services, job_id: str) -> None:
    """The job's attempts' leases ended a minute ago, as a dead worker's do."""
    with Session(services.engine) as session:
        session.execute(
            update(JobAttempt)
            .where(col(JobAttempt.job_id) == job_id)
            .values(lease_until=utcnow() - timedelta(seconds=60))
        )
        session.commit()
