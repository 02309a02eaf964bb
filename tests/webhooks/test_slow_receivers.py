"""Slow webhook receivers do not stall judging: deliveries run on threads of their own (P2-F18).

A receiver that holds every delivery open (as one past the webhook timeout, or a firewall that drops packets, does)
once held the worker threads that judge: with as many hung deliveries as worker threads, no other evaluation was
judged until the deliveries timed out. Here the receiver holds them until the test ends; an evaluation without a
callback, sent meanwhile, must get its verdict while they are all still held.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import clean_env, png_bytes, start_server

#: The embedded worker's threads: as many hung deliveries as this once stalled all judging.
WORKER_THREADS = 2
#: Hooked evaluations: more than the worker threads.
HOOKED = WORKER_THREADS + 1
#: Longer than any wait below: no delivery times out while the test runs.
WEBHOOK_TIMEOUT_SECONDS = 60
GENEROUS_WAIT_SECONDS = 30


class HangingReceiver:
    """Holds every delivery it gets, unanswered, until ``release``."""

    def __init__(self) -> None:
        self.held = 0
        self.answered = 0
        self.changed = threading.Condition()
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.changed:
                    receiver.held += 1
                    receiver.changed.notify_all()
                receiver.released.wait(WEBHOOK_TIMEOUT_SECONDS * 2)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver.changed:
                    receiver.answered += 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hang"

    def wait_for_held(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.held >= count, timeout=GENEROUS_WAIT_SECONDS)


@pytest.fixture
def receiver() -> Iterator[HangingReceiver]:
    hanging = HangingReceiver()
    threading.Thread(target=hanging.server.serve_forever, daemon=True).start()
    try:
        yield hanging
    finally:
        hanging.released.set()
        hanging.server.shutdown()


@pytest.fixture
def api(tmp_path) -> Iterator[str]:
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path),
        SENTINEL_WORKER_THREADS=str(WORKER_THREADS),
        SENTINEL_WEBHOOK_TIMEOUT_SECONDS=str(WEBHOOK_TIMEOUT_SECONDS),
        SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
        SENTINEL_SHUTDOWN_GRACE_SECONDS="0",
    )
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        yield base
    finally:
        server.stop()


def evaluate(base: str, callback_url: str | None = None) -> str:
    data = {"task": "text-to-image"}
    if callback_url:
        data["callback_url"] = callback_url
    answer = httpx.post(f"{base}/v1/evaluations", data=data, files={"image": ("a.png", png_bytes(128, 128))})
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def test_an_evaluation_is_judged_while_hung_deliveries_hold_as_many_threads_as_judge(api, receiver) -> None:
    for _ in range(HOOKED):
        evaluate(api, receiver.url)
    # Every worker thread's worth of deliveries is in flight, held by the receiver.
    assert receiver.wait_for_held(WORKER_THREADS)

    plain = evaluate(api)
    answer = httpx.get(f"{api}/v1/evaluations/{plain}", params={"wait": GENEROUS_WAIT_SECONDS}, timeout=60).json()

    assert answer["status"] != "judging", answer
    assert answer["verdict"] in ("green", "amber", "red")
    # Judged while the deliveries were still held: none has been answered (or timed out) yet.
    with receiver.changed:
        assert receiver.held >= WORKER_THREADS
        assert receiver.answered == 0
    assert not receiver.released.is_set()
