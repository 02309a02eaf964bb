"""Webhooks: signed with HMAC-SHA256, retried after a failure, every try recorded, private URLs refused."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from sentinel.models import WebhookDelivery
from sentinel.webhooks.service import SIGNATURE_HEADER, verify
from tests.conftest import clean_env, png_bytes, start_server

SECRET = "test-webhook-secret-0123456789"


class Receiver(BaseHTTPRequestHandler):
    #: Deliveries seen, per resource id: (signature valid?, body).
    seen: dict[str, list[tuple[bool, dict]]] = {}
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        payload = json.loads(body)
        valid = verify(SECRET, self.headers[SIGNATURE_HEADER], body)
        with self.lock:
            tries = self.seen.setdefault(payload["id"], [])
            tries.append((valid, payload))
            first = len(tries) == 1
        # The first delivery of everything fails, so the retry is exercised.
        self.send_response(500 if first or not valid else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[tuple[str, str]]:
    data = tmp_path_factory.mktemp("webhooks")
    env = clean_env(
        SENTINEL_DATA_DIR=str(data),
        SENTINEL_WEBHOOK_SECRET=SECRET,
        SENTINEL_WEBHOOK_MIN_BACKOFF_MS="100",
        SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
    )
    server, base = start_server(env, data / "serve.log")
    yield base, f"sqlite:///{data / 'sentinel.db'}"
    server.stop()


def wait_for_deliveries(database: str, resource_id: str, count: int) -> list[WebhookDelivery]:
    engine = create_engine(database)
    deadline = time.monotonic() + 30
    rows: list[WebhookDelivery] = []
    while time.monotonic() < deadline:
        with Session(engine) as session:
            rows = list(session.exec(select(WebhookDelivery).where(WebhookDelivery.resource_id == resource_id)))
        if len(rows) >= count:
            break
        time.sleep(0.05)
    return sorted(rows, key=lambda r: r.attempt)


def test_job_webhook_is_signed_retried_and_recorded(api, receiver) -> None:
    base, database = api
    created = httpx.post(
        f"{base}/v1/jobs",
        json={
            "task": "text-to-image",
            "prompt": "a red ball",
            "params": {"width": 256, "height": 256},
            "callback_url": receiver,
        },
    ).json()
    rows = wait_for_deliveries(database, created["id"], 2)
    assert [(r.attempt, r.delivered, r.status_code) for r in rows] == [(1, False, 500), (2, True, 204)]
    assert rows[0].error == "receiver answered HTTP 500"
    tries = Receiver.seen[created["id"]]
    assert all(valid for valid, _ in tries)
    payload = tries[-1][1]
    assert payload["type"] == "job.finished"
    assert payload["data"]["state"] == "done" and payload["data"]["result"]["images"]


def test_evaluation_webhook(api, receiver) -> None:
    base, database = api
    created = httpx.post(
        f"{base}/v1/evaluations",
        data={"task": "text-to-image", "callback_url": receiver},
        files={"image": ("a.png", png_bytes(128, 128))},
    ).json()
    rows = wait_for_deliveries(database, created["id"], 2)
    assert [r.delivered for r in rows] == [False, True]
    payload = Receiver.seen[created["id"]][-1][1]
    assert payload["type"] == "evaluation.finished"
    assert payload["data"]["verdict"] in ("green", "amber", "red")


def test_signature_check_rejects_tampering() -> None:
    from sentinel.webhooks.service import sign

    body = b'{"id": "job_1"}'
    header = sign(SECRET, int(time.time()), body)
    assert verify(SECRET, header, body)
    assert not verify(SECRET, header, body + b" ")
    assert not verify("another-secret-0123456789", header, body)
    assert not verify(SECRET, sign(SECRET, int(time.time()) - 3600, body), body)


@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://169.254.169.254/", "ftp://example.com/x"])
def test_private_or_odd_callback_urls_are_refused_up_front(api, url) -> None:
    base, _ = api
    job = httpx.post(f"{base}/v1/jobs", json={"task": "text-to-image", "prompt": "x", "callback_url": url})
    assert job.status_code == 400, job.text
    assert job.json()["error"]["field"] == "callback_url"
    evaluation = httpx.post(
        f"{base}/v1/evaluations",
        data={"task": "text-to-image", "callback_url": url},
        files={"image": ("a.png", png_bytes())},
    )
    assert evaluation.status_code == 400
    assert evaluation.json()["error"]["field"] == "callback_url"
