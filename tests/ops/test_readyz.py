"""/healthz says the process is up; /readyz says whether it can work, and what stops it when it cannot."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sentinel.ops import endpoints
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import free_port
from tests.support.served_services import services_as_served


def ops_client(settings: Settings) -> TestClient:
    app = FastAPI()
    app.include_router(endpoints.router)
    app.state.services = services_as_served(settings)
    return TestClient(app)


def test_ready_when_everything_answers(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "blob_store", "outbox", "judging"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "waiting" in body["checks"]["outbox"]["detail"]
    assert "in-process" in body["checks"]["broker"]["detail"]
    assert response.headers["cache-control"] == "no-store"


def test_a_dead_redis_makes_it_not_ready_quickly_and_says_why(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    settings = Settings(data_dir=tmp_path, redis_url=f"redis://:hunter2hunter2@127.0.0.1:{port}/0")
    with ops_client(settings) as http:
        started = time.monotonic()
        response = http.get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "not ready"
    assert body["failing"] == ["broker"]
    detail = body["checks"]["broker"]["detail"]
    assert "Redis" in detail and str(port) in detail and "onnect" in detail, detail
    assert "hunter2" not in response.text  # the password never leaves the process
    assert body["checks"]["database"]["ok"] and body["checks"]["blob_store"]["ok"]
    assert elapsed < 10  # refused connections answer at once; only a retry loop would take this long


def test_a_replicas_probe_reports_a_shared_outage_without_leaving_rotation(tmp_path: Path) -> None:
    # Redis (the broker) is one for every replica: a probe failing on it takes all of them out at once, while reads,
    # review pages and plain generations still work. scope=instance fails only for this process's own faults.
    port = free_port()
    settings = Settings(data_dir=tmp_path, redis_url=f"redis://127.0.0.1:{port}/0")
    with ops_client(settings) as http:
        instance = http.get("/readyz", params={"scope": "instance"})
        everything = http.get("/readyz")
    assert everything.status_code == 503 and everything.json()["failing"] == ["broker"]
    assert instance.status_code == 200, instance.text
    assert instance.json()["status"] == "ready"
    assert instance.json()["checks"]["broker"]["ok"] is False  # still reported, for whoever reads it
    broken = Settings(data_dir=tmp_path, blob_dir=tmp_path / "file-not-folder")
    (tmp_path / "file-not-folder").write_text("")
    with ops_client(broken) as http:
        own_fault = http.get("/readyz", params={"scope": "instance"})
    assert own_fault.status_code == 503 and own_fault.json()["failing"] == ["blob_store"], own_fault.text


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung PostgreSQL)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


def test_a_hung_database_cannot_hang_the_probe(tmp_path: Path, silent_server: int) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"postgresql://sentinel:secret@127.0.0.1:{silent_server}/sentinel",
        readiness_timeout_seconds=0.5,
    )
    services = build_services(settings)
    # The engine is built without touching the database (start-up would migrate it; this one never answers).
    from sentinel.db import build_engine

    services.__dict__["engine"] = build_engine(settings.resolved_database_url)
    app = FastAPI()
    app.include_router(endpoints.router)
    app.state.services = services
    with TestClient(app) as http:
        started = time.monotonic()
        response = http.get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database"]
    assert "no answer within 0.5 s" in body["checks"]["database"]["detail"]
    assert "secret" not in response.text
    assert elapsed < 10  # the 0.5 s limit holds; a hung database would hold the probe forever


def test_an_unwritable_blob_store_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the blob folder should be")
    with ops_client(Settings(data_dir=tmp_path, blob_dir=blocker)) as http:
        response = http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["blob_store"]


def test_readiness_shows_anyone_no_path_of_the_machine(tmp_path: Path) -> None:
    """/readyz answers without a key: it says what is wrong, but not where the data lives."""
    with ops_client(Settings(data_dir=tmp_path)) as http:
        healthy = http.get("/readyz")
    assert healthy.status_code == 200
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the blob folder should be")
    with ops_client(Settings(data_dir=tmp_path, blob_dir=blocker / "blobs")) as http:
        broken = http.get("/readyz")
    assert broken.status_code == 503
    assert broken.json()["failing"] == ["blob_store"]
    assert "path in the log" in broken.json()["checks"]["blob_store"]["detail"]
    for response in (healthy, broken):
        assert str(tmp_path) not in response.text, response.text
