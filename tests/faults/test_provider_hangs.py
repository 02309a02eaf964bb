"""A provider that hangs for ever: no answer at all, headers then nothing, or an image URL that never finishes.
Sentinel's timeouts bound each: the gateway answers soon with a clear error, the call is logged with its outcome,
and a job on that provider ends instead of waiting."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine
from sqlmodel import Session, select

from sentinel.models import ProviderCall
from tests.conftest import clean_env, start_server

PROVIDER_TIMEOUT = 1.0
FETCH_TIMEOUT = 1.0
#: How long a hung handler holds its connection at most, so a broken test cannot hang the run.
HOLD_SECONDS = 30.0


class Hanging(BaseHTTPRequestHandler):
    """`/silent/v1/...` reads the request and never answers; `/stall/v1/...` sends headers and a few bytes and
    then nothing; `/url/v1/...` answers at once with an image URL whose download stalls like `/stall`."""

    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/silent/"):
            self.server.release.wait(HOLD_SECONDS)  # type: ignore[attr-defined]
        elif self.path.startswith("/stall/"):
            self._stall()
        elif self.path.startswith("/url/"):
            host = self.headers["Host"]
            body = json.dumps({"created": 1, "data": [{"url": f"http://{host}/files/never.png"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._stall()

    def _stall(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b'{"created": 1, "da')
        self.wfile.flush()
        self.server.release.wait(HOLD_SECONDS)  # type: ignore[attr-defined]

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hanging() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    server.daemon_threads = True
    server.release = threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.release.set()  # type: ignore[attr-defined]
    server.shutdown()


@pytest.fixture(scope="module")
def api(hanging, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("hang")
    providers = {
        mode: {
            "kind": "openai",
            "base_url": f"{hanging}/{mode}/v1",
            "api_key_env": "HANG_KEY",
            "timeout_seconds": PROVIDER_TIMEOUT,
        }
        for mode in ("silent", "stall", "url")
    }
    routes = {
        "providers": providers,
        "models": {mode: {"candidates": [{"target": f"{mode}:gpt-image-1"}]} for mode in providers},
        "default_model": "silent",
        "max_passes": 1,
    }
    (data / "routes.yaml").write_text(yaml.safe_dump(routes))
    env = clean_env(
        SENTINEL_DATA_DIR=str(data),
        SENTINEL_ROUTES=str(data / "routes.yaml"),
        SENTINEL_FETCH_TIMEOUT_SECONDS=str(FETCH_TIMEOUT),
        SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
        HANG_KEY="sk-hang",
    )
    server, base = start_server(env, data / "serve.log")
    yield base, data
    server.stop()
    assert "unhandled error" not in server.output(), server.output()


def logged_calls(data: Path, provider: str) -> list[ProviderCall]:
    engine = create_engine(f"sqlite:///{data / 'sentinel.db'}")
    with Session(engine) as session:
        calls = list(session.exec(select(ProviderCall).where(ProviderCall.provider == provider)))
    engine.dispose()
    return calls


@pytest.mark.parametrize("mode", ["silent", "stall"])
def test_a_provider_that_never_answers_is_a_504_within_its_timeout(api, mode) -> None:
    base, data = api
    started = time.monotonic()
    response = httpx.post(f"{base}/v1/images/generations", json={"model": mode, "prompt": "a lighthouse"}, timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert error["code"] == "provider_timeout"
    assert f"{mode} did not answer within 1 s" in error["message"]
    assert PROVIDER_TIMEOUT <= elapsed < PROVIDER_TIMEOUT + 10, elapsed  # the fake never answers
    (call,) = logged_calls(data, mode)
    assert call.outcome == "timeout"
    # The event loop's timer may fire a hair early: the bound is the timeout, give or take clock granularity.
    assert PROVIDER_TIMEOUT * 1000 - 50 <= call.latency_ms < (PROVIDER_TIMEOUT + 10) * 1000
    assert call.bytes == 0 and call.image_id is None


def test_an_image_download_that_never_finishes_is_bounded_by_the_fetch_timeout(api) -> None:
    base, data = api
    started = time.monotonic()
    response = httpx.post(f"{base}/v1/images/generations", json={"model": "url", "prompt": "a lighthouse"}, timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code in (503, 504), response.text
    assert "timed out after 1 s" in response.json()["error"]["message"]
    assert elapsed < PROVIDER_TIMEOUT + FETCH_TIMEOUT + 10, elapsed
    (call,) = logged_calls(data, "url")
    assert call.outcome in ("timeout", "unavailable")
    assert "timed out" in call.message


def test_a_job_on_a_hanging_provider_ends_instead_of_waiting(api) -> None:
    base, _ = api
    created = httpx.post(
        f"{base}/v1/jobs",
        json={"task": "text-to-image", "prompt": "a lighthouse", "model": "silent", "max_attempts": 1},
        timeout=30,
    )
    assert created.status_code == 202, created.text
    started = time.monotonic()
    job = httpx.get(f"{base}/v1/jobs/{created.json()['id']}?wait=30", timeout=40).json()
    assert job["state"] == "failed", job
    assert time.monotonic() - started < 15
    assert "did not answer within 1 s" in json.dumps(job)
