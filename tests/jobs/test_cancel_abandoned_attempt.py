"""A job cancelled while an attempt is being generated keeps that attempt (it finishes and is kept); when the worker
holding it dies instead, the sweep settles it: failed, ``cancelled``, with the reason, and never asked of the
provider again. An attempt being judged at the cancel whose verdict message was lost gets its verdict."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.evaluation.service import EvaluationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import AttemptRunner
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.models import Evaluation, JobAttempt, OutboxMessage, ProviderCall, utcnow
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import run_async
from tests.conftest import png_bytes


@pytest.fixture(params=["sqlite", "postgresql"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Services:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_services")
    return build_services(Settings(data_dir=tmp_path))


@pytest.fixture
def jobs(services: Services) -> JobService:
    generation = run_async(open_generation(services))
    return JobService(services, lambda: generation)


def shift(services: Services, where, **values) -> None:  # type: ignore[no-untyped-def]
    with Session(services.engine) as session:
        session.execute(update(JobAttempt).where(where).values(**values))
        session.commit()


def generate_messages(services: Services) -> int:
    with Session(services.engine) as session:
        return len(session.exec(select(OutboxMessage).where(OutboxMessage.actor == "generate_attempt")).all())


def test_an_attempt_whose_worker_died_after_the_cancel_is_settled_not_left_generating(services, jobs) -> None:
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite"))
    of_job = col(JobAttempt.job_id) == job.id
    # A worker leased the attempt and is asking the provider (it renews the lease while it lives).
    shift(services, of_job, lease_until=utcnow() + timedelta(seconds=10))
    cancelled, attempts = jobs.cancel(job.id)
    assert [a.state for a in attempts] == ["generating"]
    assert "1 attempt(s) under way will finish" in (cancelled.reason or "")
    asked = generate_messages(services)
    recovery = JobRecovery(services, JobProgress(services))
    # Its worker is alive: left to finish.
    assert recovery.sweep().get("abandoned", 0) == 0
    assert jobs.get(job.id)[1][0].state == "generating"

    # The worker died: its lease ran out without renewal.
    shift(services, of_job, lease_until=utcnow() - timedelta(seconds=1))
    counts = recovery.sweep()
    job_now, attempts = jobs.get(job.id)
    view = jobs.view(job_now, attempts)
    assert view["state"] == "cancelled"
    [attempt] = view["attempts"]
    assert attempt["state"] == "failed" and attempt["failure"] == "cancelled", attempt
    assert "abandoned" in attempt["error"] and "not generated again" in attempt["error"]
    assert attempt["finished_at"] is not None
    assert view["reason"] == "cancelled after 1 attempt(s)", view["reason"]
    assert counts["abandoned"] == 1
    # Nothing asks the provider again, now or at a later sweep.
    assert generate_messages(services) == asked
    assert recovery.sweep() == {
        "expired": 0,
        "resumed": 0,
        "judged": 0,
        "abandoned": 0,
        "in_flight_at_crash": 0,
        "unstored_dropped": 0,
        "spend_released": 0,
    }
    assert generate_messages(services) == asked


def test_a_verdict_whose_message_was_lost_after_the_cancel_reaches_the_attempt(services, jobs) -> None:
    evaluations = EvaluationService(services)
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite"))
    judged = evaluations.submit(evaluations.validate("text-to-image", {}, {"image": png_bytes(210, 210)}))
    of_job = col(JobAttempt.job_id) == job.id
    shift(services, of_job, evaluation_id=judged.id, state="judging", image_id="0" * 64)
    jobs.cancel(job.id)
    # The panel's verdict is stored; the message that tells the job was lost.
    with Session(services.engine) as session:
        session.execute(
            update(Evaluation).where(col(Evaluation.id) == judged.id).values(verdict="red", summary="too soft")
        )
        session.commit()
    assert JobRecovery(services, JobProgress(services)).sweep()["judged"] == 1
    job_now, attempts = jobs.get(job.id)
    assert [(a.state, a.verdict) for a in attempts] == [("judged", "red")]
    assert job_now.state == "cancelled" and job_now.verdict == "red"


def test_the_message_again_after_the_cancel_settles_an_attempt_its_worker_let_go(services, jobs) -> None:
    """The provider call under way at the cancel failed (its worker let the lease go) and the message is retried:
    the retry settles the attempt instead of leaving it "generating", and asks no provider."""
    generation = run_async(open_generation(services))
    runner = AttemptRunner(services, EvaluationService(services), jobs.progress, lambda: generation)
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite"))
    of_job = col(JobAttempt.job_id) == job.id
    shift(services, of_job, lease_until=utcnow() + timedelta(seconds=10))
    jobs.cancel(job.id)
    runner.run(job.id, 0, 1)  # a duplicate delivery while the worker still holds it: nothing changes
    assert jobs.get(job.id)[1][0].state == "generating"
    shift(services, of_job, lease_until=None)
    runner.run(job.id, 0, 1)
    [attempt] = jobs.get(job.id)[1]
    assert (attempt.state, attempt.failure) == ("failed", "cancelled")
    assert "abandoned" in (attempt.error or "")
    with Session(services.engine) as session:
        assert session.exec(select(ProviderCall)).all() == []
