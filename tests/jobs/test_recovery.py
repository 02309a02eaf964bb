"""Reads change nothing; the sweep alone closes jobs past their budget and resumes attempts whose worker died."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.evaluation.service import EvaluationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.models import Evaluation, EvaluationStatus, Job, JobAttempt, JobState, OutboxMessage, utcnow
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import run_async
from tests.conftest import png_bytes


@pytest.fixture
def services(tmp_path) -> Services:
    return build_services(Settings(data_dir=tmp_path))


@pytest.fixture
def jobs(services) -> JobService:
    generation = run_async(open_generation(services))
    return JobService(services, lambda: generation)


def waiting(services: Services, actor: str) -> list[list]:
    """Arguments of the messages of ``actor`` written and not yet sent."""
    with Session(services.engine) as session:
        query = select(OutboxMessage).where(OutboxMessage.actor == actor, col(OutboxMessage.sent_at).is_(None))
        return [row.args for row in session.exec(query)]


def send_all(services: Services) -> None:
    with Session(services.engine) as session:
        session.execute(update(OutboxMessage).values(sent_at=utcnow()))
        session.commit()


def shift(services: Services, model, where, **values) -> None:
    with Session(services.engine) as session:
        session.execute(update(model).where(where).values(**values))
        session.commit()


def test_a_new_job_and_its_first_attempts_are_written_with_their_messages(services, jobs) -> None:
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite", n=2))
    assert sorted(waiting(services, "generate_attempt")) == [[job.id, 0, 1], [job.id, 1, 1]]
    _, attempts = jobs.get(job.id)
    assert [(a.slot, a.number, a.prompt) for a in attempts] == [(0, 1, "a red kite"), (1, 1, "a red kite")]


def test_reading_a_job_past_its_budget_changes_nothing_and_the_sweep_expires_it(services, jobs) -> None:
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite"))
    shift(services, Job, col(Job.id) == job.id, deadline_at=utcnow() - timedelta(seconds=1))
    for _ in range(2):
        assert jobs.get(job.id)[0].state == JobState.QUEUED
    recovery = JobRecovery(services, JobProgress(services))
    assert recovery.sweep()["expired"] == 1
    expired = jobs.get(job.id)[0]
    assert expired.state == JobState.EXPIRED and "ran out" in (expired.reason or "")
    assert recovery.sweep() == {
        "expired": 0,
        "resumed": 0,
        "judged": 0,
        "abandoned": 0,
        "in_flight_at_crash": 0,
        "unstored_dropped": 0,
        "spend_released": 0,
    }


def test_an_attempt_whose_worker_died_is_asked_again_once_when_its_lease_runs_out(services, jobs) -> None:
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite"))
    send_all(services)
    recovery = JobRecovery(services, JobProgress(services))
    attempt_of_job = col(JobAttempt.job_id) == job.id
    # Leased by a worker that is still alive (it renews the lease): left alone.
    shift(services, JobAttempt, attempt_of_job, lease_until=utcnow() + timedelta(seconds=10))
    assert recovery.sweep()["resumed"] == 0
    assert waiting(services, "generate_attempt") == []
    # The worker died: its lease ran out without renewal.
    shift(services, JobAttempt, attempt_of_job, lease_until=utcnow() - timedelta(seconds=1))
    assert recovery.sweep()["resumed"] == 1
    assert waiting(services, "generate_attempt") == [[job.id, 0, 1]]
    # Asked again just now: the next sweeps wait for it instead of asking every period.
    assert recovery.sweep()["resumed"] == 0
    assert len(waiting(services, "generate_attempt")) == 1


def test_reading_an_evaluation_past_its_deadline_changes_nothing_and_the_sweep_finalises_it(services, jobs) -> None:
    evaluations = EvaluationService(services)
    evaluation = evaluations.submit(evaluations.validate("text-to-image", {}, {"image": png_bytes(200, 200)}))
    # A job's attempt waits for this one's verdict.
    judged = evaluations.submit(evaluations.validate("text-to-image", {}, {"image": png_bytes(210, 210)}))
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red kite"))
    shift(services, JobAttempt, col(JobAttempt.job_id) == job.id, evaluation_id=judged.id, state="judging")
    for late in (evaluation, judged):
        shift(services, Evaluation, col(Evaluation.id) == late.id, deadline_at=utcnow() - timedelta(seconds=1))
    assert evaluations.get(evaluation.id)[0].status == EvaluationStatus.JUDGING
    assert evaluations.sweep(stalled_after_seconds=60)["finalised"] == 2
    assert evaluations.get(evaluation.id)[0].status == EvaluationStatus.DONE
    # The verdict and what follows it were written together: the job's attempt is told; an evaluation of its own
    # moves no job, so nothing follows it (no callback_url, no webhook).
    assert waiting(services, "evaluation_judged") == [[judged.id]]
