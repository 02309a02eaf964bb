"""A webhook whose receiver is down is an expected failure: each try is recorded and logged as one warning naming
the delivery, the try, the receiver's host and why; never an error with a traceback."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from tests.conftest import clean_env, png_bytes, start_server


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _deliveries(base: str, resource_id: str) -> list[dict]:
    answer = httpx.get(f"{base}/v1/webhooks/deliveries", params={"resource_id": resource_id}, timeout=10)
    answer.raise_for_status()
    return list(answer.json()["data"])


def test_a_receiver_that_is_down_is_one_warning_per_try(tmp_path: Path) -> None:
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_WEBHOOK_MIN_BACKOFF_MS="50",
        SENTINEL_WEBHOOK_MAX_RETRIES="1",
        SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
    )
    log = tmp_path / "serve.log"
    server, base = start_server(env, log)
    try:
        created = httpx.post(
            f"{base}/v1/evaluations",
            data={"task": "text-to-image", "callback_url": f"http://127.0.0.1:{_closed_port()}/hooks"},
            files={"image": ("a.png", png_bytes(), "image/png")},
            timeout=30,
        )
        assert created.status_code == 202, created.text
        evaluation = created.json()["id"]
        deadline = time.monotonic() + 30
        tries: list[dict] = []
        while time.monotonic() < deadline:
            tries = _deliveries(base, evaluation)
            warned = [line for line in server.output().splitlines() if "webhook delivery" in line]
            if len(tries) == 2 and len(warned) == 2:
                break
            time.sleep(0.05)
        assert sorted(t["attempt"] for t in tries) == [1, 2] and not any(t["delivered"] for t in tries)
        # Something to alert on besides the log: the tries counted by event and outcome.
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        assert 'sentinel_webhook_deliveries_total{event="evaluation.finished",outcome="not_sent"} 2.0' in metrics
    finally:
        server.stop()
    output = log.read_text()
    assert "Traceback" not in output and "ERROR" not in output, output
    delivery = tries[0]["delivery_id"]
    warned = [line for line in output.splitlines() if "webhook delivery" in line]
    assert len(warned) == 2, output
    for number, line in enumerate(warned, start=1):
        assert line.startswith("WARNING"), line
        assert (
            delivery in line and evaluation in line and f"try {number} to 127.0.0.1 failed: could not connect" in line
        )
