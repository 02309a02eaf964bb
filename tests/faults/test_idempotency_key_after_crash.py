"""A gateway request with an Idempotency-Key whose server died mid-generation (SIGKILL, OOM, a node lost) must not
leave the key claimed forever: the OpenAI SDKs retry with the same key, and every retry was a 409 "still being
processed". Once nobody renews the claim, a retry takes it over and generates; a live request keeps its own."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, update
from sqlmodel import Session, select

from sentinel.idempotency.http import CLAIM_HEARTBEAT_SECONDS
from sentinel.models import IdempotencyRecord, Job, utcnow
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server, write_fake_routes

BODY = {"prompt": "a lighthouse at dusk", "model": "house", "response_format": "b64_json"}
KEY = {"Idempotency-Key": "retry-after-crash-1"}


def test_a_retry_takes_over_the_key_of_a_request_whose_server_was_killed(tmp_path: Path) -> None:
    script = Script(default="slow", slow_seconds=4)
    with serve(create_app(script)) as fake:
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_ROUTES=str(write_fake_routes(tmp_path / "routes.yaml", fake.url)),
            FAKE_KEY="k",
        )
        _killed_while_it_generates(env, tmp_path / "first.log", script, BODY, KEY)
        # What a dead server's claim looks like once the stale bound has passed with nobody renewing it.
        engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'sentinel.db'}")
        with Session(engine) as session:
            session.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(minutes=5)))
            session.commit()
        engine.dispose()
        script.default = "ok"
        server, base = start_server(env, tmp_path / "second.log")
        try:
            retry = httpx.post(f"{base}/v1/images/generations", json=BODY, headers=KEY, timeout=60)
            assert retry.status_code == 200, retry.text
            assert retry.json()["data"][0]["b64_json"]
            again = httpx.post(f"{base}/v1/images/generations", json=BODY, headers=KEY, timeout=60)
            assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true"
        finally:
            server.stop()
    assert len(script.requests) == 2  # the killed request's call and the retry's: the replay called nobody


def _killed_while_it_generates(
    env: dict[str, str], log: Path, script: Script, body: dict[str, object], key: dict[str, str]
) -> None:
    """A server sent ``body`` with ``key``, SIGKILLed once the request reached the provider."""
    server, base = start_server(env, log)
    try:
        threading.Thread(target=_post_ignoring_failure, args=(base, body, key), daemon=True).start()
        deadline = time.monotonic() + 30
        while not script.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert script.requests, "the first request never reached the provider"
        server.process.kill()
        server.process.wait(timeout=10)
    finally:
        server.stop()


def _post_ignoring_failure(base: str, body: dict[str, object], key: dict[str, str]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
        httpx.post(f"{base}/v1/images/generations", json=body, headers=key, timeout=30)


def test_a_live_request_keeps_its_claim_fresh_while_it_works(tmp_path: Path) -> None:
    script = Script(default="slow", slow_seconds=CLAIM_HEARTBEAT_SECONDS * 2 + 1)
    with serve(create_app(script)) as fake:
        routes = write_fake_routes(tmp_path / "routes.yaml", fake.url)
        routes.write_text(routes.read_text().replace("timeout_seconds: 5", "timeout_seconds: 60"))
        env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ROUTES=str(routes), FAKE_KEY="k")
        server, base = start_server(env, tmp_path / "serve.log")
        engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'sentinel.db'}")
        try:
            answer: list[httpx.Response] = []
            worker = threading.Thread(
                target=lambda: answer.append(
                    httpx.post(f"{base}/v1/images/generations", json=BODY, headers=KEY, timeout=120)
                )
            )
            worker.start()
            claimed_at = renewed_at = None
            while worker.is_alive() and renewed_at is None:
                with Session(engine) as session:
                    record = session.exec(select(IdempotencyRecord)).first()
                if record is not None and record.status_code is None:
                    claimed_at = claimed_at or record.created_at
                    if record.created_at > claimed_at:
                        renewed_at = record.created_at
                time.sleep(0.2)
            worker.join(timeout=120)
        finally:
            engine.dispose()
            server.stop()
    assert renewed_at is not None, "the claim was never renewed while the request worked"
    assert answer and answer[0].status_code == 200, answer


JUDGED = BODY | {"sentinel": {"task": "text-to-image", "max_attempts": 1}}
JUDGED_KEY = {"Idempotency-Key": "judged-retry-after-crash-1"}


def test_a_judged_retry_after_a_crash_waits_for_the_job_the_dead_request_started(tmp_path: Path) -> None:
    # A judged request runs as a job, which outlives the request: the retry that takes over the dead request's claim
    # answers with that job's result; it used to start a second job, which bought its images again.
    script = Script(default="slow", slow_seconds=4)
    with serve(create_app(script)) as fake:
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_ROUTES=str(write_fake_routes(tmp_path / "routes.yaml", fake.url)),
            SENTINEL_GENERATION_LEASE_SECONDS="3",
            FAKE_KEY="k",
        )
        _killed_while_it_generates(env, tmp_path / "first.log", script, JUDGED, JUDGED_KEY)
        engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'sentinel.db'}")
        with Session(engine) as session:
            started = [job.id for job in session.exec(select(Job)).all()]
            assert len(started) == 1
            claim = session.exec(select(IdempotencyRecord)).one()
            assert claim.job_id == started[0]  # written with the job, before the provider was called
            session.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(minutes=5)))
            session.commit()
        script.default = "ok"
        server, base = start_server(env, tmp_path / "second.log")
        try:
            retry = httpx.post(f"{base}/v1/images/generations", json=JUDGED, headers=JUDGED_KEY, timeout=120)
            assert retry.status_code == 200, retry.text
            assert retry.headers["x-sentinel-job-id"] == started[0]
            assert retry.json()["sentinel"]["job_id"] == started[0]
        finally:
            server.stop()
        with Session(engine) as session:
            assert len(session.exec(select(Job)).all()) == 1  # no second job bought a second image
        engine.dispose()


def test_a_judged_retry_after_a_failed_job_does_the_request_again(tmp_path: Path) -> None:
    # README: a key whose first request failed can be used again, and gets the answer once the failure has passed.
    # The failed request's claim names its job (kept for a retry after a crash); a failed job is not waited for.
    script = Script(default="content_filter")
    with serve(create_app(script)) as fake:
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_ROUTES=str(write_fake_routes(tmp_path / "routes.yaml", fake.url)),
            FAKE_KEY="k",
        )
        server, base = start_server(env, tmp_path / "serve.log")
        try:
            key = {"Idempotency-Key": "judged-after-a-failure-1"}
            refused = httpx.post(f"{base}/v1/images/generations", json=JUDGED, headers=key, timeout=120)
            assert refused.status_code == 400, refused.text
            script.default = "ok"
            retry = httpx.post(f"{base}/v1/images/generations", json=JUDGED, headers=key, timeout=120)
            assert retry.status_code == 200, retry.text
            assert retry.headers["x-sentinel-job-id"] != refused.json()["error"].get("job_id", "")
        finally:
            server.stop()
