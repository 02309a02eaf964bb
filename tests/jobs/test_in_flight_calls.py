"""A provider call in flight when its worker is killed is still in the call log, and in the key's spend.

A job's attempt writes each provider call down (``in_flight``, at its price) before it is sent. A worker SIGKILLed
mid-call once left no row at all (only the redo was logged), while the provider billed the call all the same: the call
log and the dashboard's cost undercounted, and the ledger's sweep released the key's reservation as if nothing had
been spent. Now the sweep that resumes the dead attempt marks the row ``in_flight_at_crash`` and books its price.
Against PostgreSQL, a fake OpenAI provider on 127.0.0.1 that is still working on the image, and a real worker process
killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import attempt_request_id
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.keys.caller import Caller
from sentinel.keys.service import KeyService
from sentinel.models import Job, OutboxMessage, ProviderCall, SpendEntry, SpendPeriod, utcnow
from sentinel.services import Services
from sentinel.worker.loop import run_async
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.support.attempt_worker import ATTEMPT_WORKER, calls_of, lease_run_out, services_on_postgres

REPO = Path(__file__).resolve().parents[2]
PRICE = 0.04


@pytest.fixture
def provider() -> Iterator[tuple[str, Script]]:
    script = Script(default="slow", slow_seconds=20.0)
    with serve(create_app(script)) as server:
        yield server.url, script


@pytest.fixture
def services(tmp_path: Path, provider: tuple[str, Script], monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    url, _ = provider
    monkeypatch.setenv("FAKE_KEY", "sk-test-in-flight")
    routes = {
        "providers": {"slow": {"kind": "openai", "base_url": f"{url}/v1", "api_key_env": "FAKE_KEY"}},
        "models": {"paid": {"candidates": [{"target": "slow:dall-e-3"}], "cost_per_image": PRICE}},
        "default_model": "paid",
    }
    with services_on_postgres(tmp_path, routes) as built:
        yield built


def spend_of(services: Services, caller: Caller) -> SpendPeriod:
    with Session(services.engine) as session:
        return session.exec(select(SpendPeriod).where(SpendPeriod.key_id == caller.id)).one()


def kill_mid_call(services: Services, provider: Script, job_id: str, tmp_path: Path) -> None:
    """A worker that runs the attempt, SIGKILLed once the provider has the call."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    settings = services.settings
    args = [str(settings.database_url), str(tmp_path / "worker"), str(settings.routes), job_id]
    worker = subprocess.Popen(
        [sys.executable, "-c", ATTEMPT_WORKER, *args], env=env, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        ends = time.monotonic() + 60
        while not provider.requests and worker.poll() is None and time.monotonic() < ends:
            time.sleep(0.05)
        assert provider.requests, (worker.poll(), worker.stderr.read() if worker.poll() is not None else b"")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        assert worker.stderr is not None
        worker.stderr.close()


def test_a_call_in_flight_when_its_worker_is_killed_is_logged_and_counted_as_spent(
    services: Services, provider: tuple[str, Script], tmp_path: Path
) -> None:
    caller, job, request_id = capped_job_killed_mid_call(services, provider[1], tmp_path)

    # The call the provider is making (and will bill) is in the call log, at its price, as in flight.
    [call] = calls_of(services, request_id)
    assert (call.provider, call.outcome, call.cost_estimate) == ("slow", "in_flight", pytest.approx(PRICE))

    # The dead worker's lease runs out; the sweep resumes the attempt and settles what its call left.
    lease_run_out(services, job.id)
    swept = JobRecovery(services, JobProgress(services)).sweep()
    assert swept["resumed"] == 1 and swept["in_flight_at_crash"] == 1
    [call] = calls_of(services, request_id)
    assert call.outcome == "in_flight_at_crash" and call.cost_estimate == pytest.approx(PRICE)
    assert "stopped" in call.message
    # The key's cap counts it as spent: nothing of it is left for the ledger's sweep to release as unspent.
    period = spend_of(services, caller)
    assert period.spent == pytest.approx(PRICE) and period.reserved == pytest.approx(0.0)
    # A later sweep books it no second time.
    with Session(services.engine) as session:
        rows = session.exec(select(SpendEntry).where(SpendEntry.request_id == request_id))
        for entry in rows:
            entry.created_at = entry.created_at - timedelta(minutes=10)
            session.add(entry)
        session.commit()
    swept = JobRecovery(services, JobProgress(services)).sweep()
    assert swept["in_flight_at_crash"] == 0
    assert spend_of(services, caller).spent == pytest.approx(PRICE)


def test_a_call_left_in_flight_when_the_job_ended_before_the_sweep_saw_its_worker_dead_is_still_booked(
    services: Services, provider: tuple[str, Script], tmp_path: Path
) -> None:
    # The worker is killed mid-call; before the sweep sees its lease run out (a database away, a sweep not running),
    # the job's budget runs out and the job closes as expired. The sweep that resumes dead attempts reads only open
    # jobs: the call stayed in flight for good, and the ledger's sweep released the reservation as if nothing had
    # been spent, while the provider billed the call.
    caller, job, request_id = capped_job_killed_mid_call(services, provider[1], tmp_path)

    # Minutes pass: the job's budget runs out, the dead worker's lease and its ledger rows grow old.
    lease_run_out(services, job.id)
    with Session(services.engine) as session:
        session.execute(update(Job).where(Job.id == job.id).values(deadline_at=utcnow() - timedelta(minutes=1)))
        session.execute(
            update(ProviderCall)
            .where(ProviderCall.request_id == request_id)
            .values(created_at=ProviderCall.created_at - timedelta(minutes=10))
        )
        session.execute(
            update(SpendEntry)
            .where(SpendEntry.request_id == request_id)
            .values(created_at=SpendEntry.created_at - timedelta(minutes=10))
        )
        session.commit()
    swept = JobRecovery(services, JobProgress(services)).sweep()
    assert swept["expired"] == 1
    assert swept["in_flight_at_crash"] == 1

    [call] = calls_of(services, request_id)
    assert call.outcome == "in_flight_at_crash" and call.cost_estimate == pytest.approx(PRICE)
    period = spend_of(services, caller)
    assert period.spent == pytest.approx(PRICE) and period.reserved == pytest.approx(0.0)


def capped_job_killed_mid_call(services: Services, script: Script, tmp_path: Path) -> tuple[Caller, Job, str]:
    """A capped key's job whose first attempt's worker is killed while the provider makes its image: the key's
    caller, the job and the attempt's request id. This test runs each step itself (the job's message is not sent)."""
    key, _ = KeyService(services).create("capped", ["generate"], spend_cap=1.0, period="day")
    caller = Caller.of(key)
    generation = run_async(open_generation(services))
    job = JobService(services, lambda: generation).create(JobCreate(task="text-to-image", prompt="a kite"), caller)
    with Session(services.engine) as session:
        session.execute(update(OutboxMessage).values(sent_at=utcnow()))
        session.commit()
    kill_mid_call(services, script, job.id, tmp_path)
    return caller, job, attempt_request_id(job.id, 0, 1)
