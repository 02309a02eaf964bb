"""Probe G3: a running job can be cancelled (POST /v1/jobs/{id}/cancel). No further attempt starts, the one under
way finishes and is kept, the job ends `cancelled` with its best attempt, its webhook fires; a second cancel answers
the same, another tenant's job is 404, a job that already ended is 409."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlmodel import Session, select

from sentinel.evaluation.service import EvaluationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import AttemptRunner
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.models import JobAttempt, ProviderCall, SpendEntry
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import run_async
from tests.conftest import SENTINEL, clean_env, start_server
from tests.support.never_sharp import write_never_sharp_rubric

#: Each image of the slow model takes this long: time enough to cancel while the first is being made.
SLOW_SECONDS = 3


def _set_up(tmp_path: Path) -> dict[str, str]:
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    write_never_sharp_rubric(rubrics, "g3-never-sharp")
    routes = {
        "providers": {"local": {"kind": "local"}},
        "models": {
            "slow-local": {
                "candidates": [
                    {"target": "local:procedural", "params": {"inject": "slow", "slow_seconds": SLOW_SECONDS}}
                ]
            }
        },
        "default_model": "slow-local",
    }
    (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
    return clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_RUBRICS_DIR=str(rubrics),
        SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
        SENTINEL_API_KEY_CACHE_SECONDS="0",
        # The webhook receiver is this test, on loopback.
        SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
        SENTINEL_SHUTDOWN_GRACE_SECONDS="1",
    )


def create_key(env: dict[str, str], name: str, scopes: str, tenant: str) -> str:
    args = [SENTINEL, "keys", "create", "--name", name, "--scopes", scopes, "--tenant", tenant]
    made = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


class _Hooks:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Condition()

    def wait_for(self, wanted: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: any(wanted(b) for b in self.bodies), timeout), self.bodies
            return next(b for b in self.bodies if wanted(b))


@pytest.fixture
def hooks() -> Iterator[tuple[_Hooks, str]]:
    got = _Hooks()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()
            with got.arrived:
                got.bodies.append(body)
                got.arrived.notify_all()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield got, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


def _until(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_cancelling_a_running_job_stops_its_regenerations_and_keeps_what_it_made(tmp_path: Path, hooks) -> None:
    received, hook_url = hooks
    env = _set_up(tmp_path)
    mine = {"Authorization": f"Bearer {create_key(env, 'acme-app', 'generate', 'acme')}"}
    theirs = {"Authorization": f"Bearer {create_key(env, 'globex-app', 'generate', 'globex')}"}
    server, base = start_server(env, tmp_path / "serve.log", timeout=60)
    try:
        with httpx.Client(base_url=base, headers=mine, timeout=60) as http:
            body = {"task": "g3-never-sharp", "prompt": "a red lighthouse", "max_attempts": 3, "callback_url": hook_url}
            created = http.post("/v1/jobs", json=body)
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            path = f"/v1/jobs/{job_id}"
            # The first image is being made (its attempt leased, the provider asked).
            running = _until(lambda: http.get(path).json(), lambda j: j["state"] == "generating")
            assert running["state"] == "generating", running

            assert http.post(f"{path}/cancel", headers=theirs).status_code == 404
            cancelled = http.post(f"{path}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            job = cancelled.json()
            assert job["state"] == "cancelled" and job["finished_at"], job
            assert "cancelled after 1 attempt(s)" in job["reason"] and "under way" in job["reason"], job
            again = http.post(f"{path}/cancel")
            assert again.status_code == 200 and again.json()["state"] == "cancelled", again.text
            hook = received.wait_for(lambda b: b["type"] == "job.finished")
            assert hook["id"] == job_id and hook["data"]["state"] == "cancelled"

            # The image under way finishes and is judged (red); no regeneration follows it.
            job = _until(lambda: http.get(path).json(), lambda j: j["attempts"][0]["verdict"] is not None)
            assert [(a["number"], a["verdict"]) for a in job["attempts"]] == [(1, "red")], job
            assert job["state"] == "cancelled" and job["verdict"] == "red", job
            # The reason no longer promises what has happened (it said "will finish" for good).
            assert "will finish" not in job["reason"], job["reason"]
            assert "1 attempt(s) under way at the cancel finished and were kept" in job["reason"], job["reason"]
            assert job["result"]["images"][0]["attempt"] == 1
            assert received.wait_for(lambda b: b["type"] == "job.updated")["data"]["verdict"] == "red"
            listed = http.get("/v1/jobs", params={"state": "cancelled"})
            assert [j["id"] for j in listed.json()["data"]] == [job_id], listed.text

            # A job that ended on its own cannot be cancelled: it says so.
            done = http.post("/v1/jobs", json=body | {"max_attempts": 1, "callback_url": None}).json()
            finished = _until(lambda: http.get(f"/v1/jobs/{done['id']}").json(), lambda j: j["state"] == "done")
            assert finished["state"] == "done", finished
            refused = http.post(f"/v1/jobs/{done['id']}/cancel")
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"]["type"] == "job_finished"
            assert "already finished (done)" in refused.json()["error"]["message"]
    finally:
        server.stop()
    log = (tmp_path / "serve.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_services(request: pytest.FixtureRequest, tmp_path: Path) -> Services:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_services")
    return build_services(Settings(data_dir=tmp_path))


def test_a_generate_message_for_a_cancelled_job_makes_no_provider_call(any_services: Services) -> None:
    """A job cancelled before its first attempt started: that attempt's message, delivered afterwards (or twice),
    does nothing: no provider call, nothing reserved against the key's spend."""
    services = any_services
    generation = run_async(open_generation(services))
    jobs = JobService(services, lambda: generation)
    job = jobs.create(JobCreate(task="text-to-image", prompt="a red ball", n=2))
    cancelled, attempts = jobs.cancel(job.id)
    assert cancelled.state == "cancelled" and cancelled.verdict is None
    assert [(a.state, a.failure) for a in attempts] == [("failed", "cancelled")] * 2
    runner = AttemptRunner(services, EvaluationService(services), jobs.progress, lambda: generation)
    for slot in (0, 1, 0):
        runner.run(job.id, slot, 1)
    with Session(services.engine) as session:
        assert session.exec(select(ProviderCall)).all() == []
        assert session.exec(select(SpendEntry)).all() == []
        assert [a.state for a in session.exec(select(JobAttempt))] == ["failed", "failed"]
    assert jobs.cancel(job.id)[0].reason == "cancelled after 0 attempt(s)"


def test_the_client_cancels_a_job(tmp_path: Path) -> None:
    from sentinel.client import Sentinel
    from sentinel.client.errors import SentinelAPIError

    env = _set_up(tmp_path)
    server, base = start_server(env, tmp_path / "serve.log", timeout=60)
    try:
        with Sentinel(base) as client:
            job = client.create_job("g3-never-sharp", "a red lighthouse", max_attempts=3)
            cancelled = client.cancel_job(job.id)
            assert cancelled.state == "cancelled" and cancelled.done
            assert client.wait_for_job(job.id, timeout=5).state == "cancelled"
            with pytest.raises(SentinelAPIError) as refused:
                client.cancel_job("job_nope")
            assert refused.value.status_code == 404
    finally:
        server.stop()
