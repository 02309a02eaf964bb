"""A polled provider's task made for an attempt whose worker was killed is read by the run that takes the attempt
over: the image paid for is the attempt's image, and the provider is not asked (nor paid) for another.

Before, the sweep marked the dead worker's call ``in_flight_at_crash`` (booked as spent) and the resumed attempt
created a second prediction: the customer paid twice, once for an image nobody read. Now the call's row keeps where
the provider's task can be read once it exists, and the resumed attempt polls it. Against PostgreSQL, the fake
Replicate and fal APIs on 127.0.0.1 (which keep their tasks while the worker dies), and a real worker process killed
with SIGKILL."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.evaluation.service import EvaluationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import AttemptRunner, attempt_request_id
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.keys.caller import Caller
from sentinel.keys.service import KeyService
from sentinel.models import (
    AttemptState,
    Job,
    JobAttempt,
    OutboxMessage,
    ProviderCall,
    SpendEntry,
    SpendPeriod,
    utcnow,
)
from sentinel.services import Services
from sentinel.worker.loop import run_async
from sentinel_fakes.fal import create_app as fal_app
from sentinel_fakes.replicate import create_app as replicate_app
from sentinel_fakes.server import Script, serve
from tests.support.attempt_worker import ATTEMPT_WORKER, calls_of, lease_run_out, services_on_postgres

REPO = Path(__file__).resolve().parents[2]
PRICE = 0.04
TOKEN = "test-resume-token"
#: Per provider kind: the model asked for, the fake, and the Authorization scheme its API takes.
KINDS = {
    "replicate": ("black-forest-labs/flux-schnell", replicate_app, "Bearer"),
    "fal": ("fal-ai/flux/dev", fal_app, "Key"),
}
#: How long the fake takes over a task: long enough for the worker to be killed while it is running.
TASK_SECONDS = 4.0


@pytest.fixture(params=sorted(KINDS))
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Script]]:
    kind = request.param
    script = Script(default="slow", slow_seconds=TASK_SECONDS)
    with serve(KINDS[kind][1](script)) as server:
        yield kind, server.url, script


@pytest.fixture
def services(tmp_path: Path, provider: tuple[str, str, Script], monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    kind, url, _ = provider
    monkeypatch.setenv("FAKE_TASK_TOKEN", TOKEN)
    routes = {
        "providers": {
            kind: {
                "kind": kind,
                "base_url": url,
                "api_key_env": "FAKE_TASK_TOKEN",
                "timeout_seconds": 30,
                "poll_interval_seconds": 0.05,
            }
        },
        "models": {"paid": {"candidates": [{"target": f"{kind}:{KINDS[kind][0]}"}], "cost_per_image": PRICE}},
        "default_model": "paid",
    }
    with services_on_postgres(tmp_path, routes) as built:
        yield built


def created_tasks(script: Script) -> list[dict[str, Any]]:
    """The submissions the fake received (a prediction created, a request queued)."""
    return [r for r in script.requests if r["method"] == "POST" and not str(r["path"]).endswith("/cancel")]


def wait_for(condition: Any, worker: subprocess.Popen[bytes], what: str) -> None:
    ends = time.monotonic() + 60
    while not condition() and worker.poll() is None and time.monotonic() < ends:
        time.sleep(0.02)
    assert condition(), (what, worker.poll())


def kill_while_the_task_runs(services: Services, script: Script, request_id: str, job_id: str, tmp: Path) -> None:
    """A worker that runs the attempt, SIGKILLed once the fake holds its task and the call's row says where
    the task is read (written beside the call, so the kill waits for it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    settings = services.settings
    args = [str(settings.database_url), str(tmp / "worker"), str(settings.routes), job_id]
    worker = subprocess.Popen([sys.executable, "-c", ATTEMPT_WORKER, *args], env=env, start_new_session=True)
    try:
        wait_for(lambda: created_tasks(script), worker, "the task created")
        wait_for(lambda: any(c.provider_task for c in calls_of(services, request_id)), worker, "its task kept")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def output_sha256(kind: str, base: str, task: str) -> str:
    """The sha256 of the image the task at ``task`` made, read from the fake as a client would."""
    headers = {"Authorization": f"{KINDS[kind][2]} {TOKEN}"}
    answer = httpx.get(task, headers=headers, timeout=10).json()
    if kind == "replicate":
        assert answer["status"] == "succeeded", answer
        [url] = answer["output"]
    else:
        [url] = [image["url"] for image in answer["images"]]
    assert url.startswith(base)
    return hashlib.sha256(httpx.get(url, timeout=10).content).hexdigest()


def capped_job(services: Services) -> tuple[Caller, Any, Job, str]:
    """A job of a key with a spend cap, its messages marked sent (each test runs the steps itself): the caller, the
    generation to run its attempts with, the job and its first attempt's request id."""
    key, _ = KeyService(services).create("capped", ["generate"], spend_cap=1.0, period="day")
    caller = Caller.of(key)
    generation = run_async(open_generation(services))
    job = JobService(services, lambda: generation).create(JobCreate(task="text-to-image", prompt="a kite"), caller)
    with Session(services.engine) as session:
        session.execute(update(OutboxMessage).values(sent_at=utcnow()))
        session.commit()
    return caller, generation, job, attempt_request_id(job.id, 0, 1)


@pytest.mark.parametrize("taken_over_by", ["the sweep", "the message back on its queue"])
def test_a_task_made_before_its_worker_was_killed_gives_the_resumed_attempt_its_image_bought_once(
    services: Services, provider: tuple[str, str, Script], tmp_path: Path, taken_over_by: str
) -> None:
    kind, base, script = provider
    caller, generation, job, request_id = capped_job(services)

    kill_while_the_task_runs(services, script, request_id, job.id, tmp_path)
    [call] = calls_of(services, request_id)
    assert call.outcome == "in_flight" and call.provider_task is not None
    assert call.provider_task.startswith(base) and call.provider_task != base

    # The dead worker's lease runs out. The sweep marks its call (booked as spent) and asks for the attempt again;
    # or the attempt's message, back on its queue, comes to another worker first, which finds the call in flight.
    lease_run_out(services, job.id)
    if taken_over_by == "the sweep":
        swept = JobRecovery(services, JobProgress(services)).sweep()
        assert swept["resumed"] == 1 and swept["in_flight_at_crash"] == 1

    # The run that takes the attempt over.
    AttemptRunner(services, EvaluationService(services), JobProgress(services), lambda: generation).run(job.id, 0, 1)

    # One task was made at the provider, not two.
    assert len(created_tasks(script)) == 1, created_tasks(script)
    # The attempt's image is the one that task made.
    with Session(services.engine) as session:
        attempt = session.exec(select(JobAttempt).where(JobAttempt.job_id == job.id)).one()
    assert attempt.state == AttemptState.JUDGING and attempt.image_id is not None
    assert attempt.image_id == output_sha256(kind, base, call.provider_task)
    # Its call's row is completed with that answer, at its price; no second call was logged.
    [answered] = calls_of(services, request_id)
    assert (answered.id, answered.outcome, answered.image_id) == (call.id, "ok", attempt.image_id)
    assert answered.cost_estimate == pytest.approx(PRICE)
    assert "none made again" in answered.message and "missed its lease renewals" not in answered.message
    # Spent once: the sweep's booking was taken back when the answer came, and the answer booked.
    with Session(services.engine) as session:
        period = session.exec(select(SpendPeriod).where(SpendPeriod.key_id == caller.id)).one()
        entries = list(session.exec(select(SpendEntry).where(SpendEntry.request_id == request_id)))
    assert period.spent == pytest.approx(PRICE) and period.reserved == pytest.approx(0.0), entries


def test_a_task_that_cannot_be_read_is_bought_again_and_the_dead_call_stays_counted(
    services: Services, provider: tuple[str, str, Script], tmp_path: Path
) -> None:
    """The attempt's message comes back to another worker before the sweep saw the dead one, and the task it left is
    gone at the provider: the image is bought again, as before tasks were kept, and the dead call, which the provider
    may bill, is marked and counted too (it once stayed ``in_flight`` for good, outside the key's spend)."""
    _, _, script = provider
    caller, generation, job, request_id = capped_job(services)
    kill_while_the_task_runs(services, script, request_id, job.id, tmp_path)
    [dead] = calls_of(services, request_id)
    assert dead.provider_task is not None
    with Session(services.engine) as session:
        # The provider no longer has the task (its retention passed, its queue was flushed).
        gone = f"{dead.provider_task.rsplit('/', 1)[0]}/gone00000000000000000000"
        session.execute(update(ProviderCall).where(col(ProviderCall.id) == dead.id).values(provider_task=gone))
        session.execute(
            update(JobAttempt)
            .where(col(JobAttempt.job_id) == job.id)
            .values(lease_until=utcnow() - timedelta(seconds=60))
        )
        session.commit()

    AttemptRunner(services, EvaluationService(services), JobProgress(services), lambda: generation).run(job.id, 0, 1)

    assert len(created_tasks(script)) == 2
    calls = {call.id: call for call in calls_of(services, request_id)}
    assert calls[dead.id].outcome == "in_flight_at_crash" and calls[dead.id].cost_estimate == pytest.approx(PRICE)
    [bought] = [call for call in calls.values() if call.id != dead.id]
    assert bought.outcome == "ok" and bought.cost_estimate == pytest.approx(PRICE)
    with Session(services.engine) as session:
        period = session.exec(select(SpendPeriod).where(SpendPeriod.key_id == caller.id)).one()
    assert period.spent == pytest.approx(2 * PRICE) and period.reserved == pytest.approx(0.0)
