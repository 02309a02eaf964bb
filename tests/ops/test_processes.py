"""Real processes: graceful shutdown of `sentinel serve`, and the production shape (Redis worker) end to end."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    REDIS_URL,
    SENTINEL,
    RunningProcess,
    clean_env,
    delete_redis_keys,
    free_port,
    png_bytes,
    start_server,
)
from tests.support.job_load import wait_for_workers


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            lines.append(json.loads(line[start:]))
        except json.JSONDecodeError:
            continue
    return lines


def test_sigterm_lets_a_slow_request_finish_then_exits_0(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        yaml.safe_dump(
            {
                "providers": {"local": {"kind": "local"}},
                "models": {
                    "slow": {
                        "sizes": ["256x256"],
                        "candidates": [{"target": "local:procedural", "params": {"inject": "slow", "slow_seconds": 3}}],
                    }
                },
                "default_model": "slow",
            }
        )
    )
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_ROUTES=str(routes),
        SENTINEL_SHUTDOWN_GRACE_SECONDS="15",
        SENTINEL_LOG_FORMAT="json",
    )
    server, base = start_server(env, tmp_path / "serve.log", cwd=tmp_path)
    answer: dict[str, httpx.Response] = {}

    def generate() -> None:
        answer["response"] = httpx.post(
            f"{base}/v1/images/generations",
            json={"model": "slow", "prompt": "a red circle", "size": "256x256"},
            headers={"X-Request-Id": "slow-one"},
            timeout=30,
        )

    try:
        request = threading.Thread(target=generate)
        request.start()
        time.sleep(1.0)  # the provider call is now in flight (it takes 3 s)
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):  # no new connections once stopping
            httpx.get(f"{base}/healthz", timeout=2)
        request.join(30)
        response = answer["response"]
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == "slow-one"
        assert response.json()["data"][0]["url"]
        assert server.process.wait(timeout=20) == 0
        assert time.monotonic() - stopped_at < 10
    finally:
        server.stop()
    lines = json_lines(server.output())
    messages = [line.get("message", "") for line in lines]
    assert any("Waiting for connections to close" in m for m in messages), messages
    assert any("Application shutdown complete" in m for m in messages)
    access = [line for line in lines if line.get("logger") == "sentinel.access" and line.get("status") == 200]
    assert any(line["request_id"] == "slow-one" and line["route"] == "/v1/images/generations" for line in access)


def scrape(url: str, seconds: float = 20) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            text = httpx.get(url, timeout=2).text
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(found: dict, name: str, **labels: str) -> float:
    return sum(
        value
        for (metric, have), value in found.items()
        if metric == name and all(dict(have).get(k) == v for k, v in labels.items())
    )


@pytest.mark.integration
def test_a_redis_worker_logs_the_request_id_and_serves_metrics(tmp_path: Path, fresh_database: str) -> None:
    namespace = f"sentinel-test-ops-{uuid.uuid4().hex[:8]}"
    env = clean_env(
        SENTINEL_DATABASE_URL=fresh_database,
        SENTINEL_REDIS_URL=REDIS_URL,
        SENTINEL_REDIS_NAMESPACE=namespace,
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_LOG_FORMAT="json",
        SENTINEL_WEBHOOK_SECRET="w" * 32,
        SENTINEL_SESSION_SECRET="s" * 32,
    )
    metrics_port = free_port()
    server, base = start_server(env, tmp_path / "api.log", cwd=tmp_path)
    worker = RunningProcess(
        [SENTINEL, "worker", "--processes", "2", "--threads", "2", "--metrics-port", str(metrics_port)],
        env,
        tmp_path / "worker.log",
    )
    try:
        # The 40 s below is for judging one image, not for the worker's start-up (its processes import the judges
        # and load the OCR models first, which took longer than that on a loaded machine).
        wait_for_workers([worker])
        ready = httpx.get(f"{base}/readyz", timeout=10).json()
        assert ready["status"] == "ready" and "PING" in ready["checks"]["broker"]["detail"], ready
        created = httpx.post(
            f"{base}/v1/evaluations",
            data={"task": "text-to-image"},
            files={"image": ("a.png", png_bytes(96, 96), "image/png")},
            headers={"X-Request-Id": "prod-request-1"},
            timeout=30,
        ).json()
        deadline = time.monotonic() + 40
        body: dict = {}
        while time.monotonic() < deadline:
            body = httpx.get(f"{base}/v1/evaluations/{created['id']}?wait=10", timeout=20).json()
            if body["status"] == "done":
                break
        assert body["status"] == "done", body

        # The worker process that finalised it logged the request id of the POST (a JSON line through dramatiq).
        finalised: list[dict] = []
        for _ in range(50):
            finalised = [line for line in json_lines(worker.output()) if line.get("evaluation_id") == created["id"]]
            if finalised:
                break
            time.sleep(0.1)
        assert finalised, worker.output()[-3000:]
        assert finalised[0]["request_id"] == "prod-request-1"
        assert finalised[0]["verdict"] == body["verdict"]

        found = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        for vote in body["judges"]:
            assert total(found, "sentinel_judge_duration_seconds_count", judge=vote["judge"]) >= 1
        assert total(found, "sentinel_verdicts_total", task="text-to-image", verdict=body["verdict"]) == 1
        assert ("sentinel_queue_messages", (("queue", "judging"), ("state", "ready"))) in found

        api = scrape(f"{base}/metrics")
        states = {dict(labels)["state"] for name, labels in api if name == "sentinel_queue_messages"}
        assert states == {"ready", "in_progress", "delayed", "dead"}
        assert total(api, "sentinel_http_requests_total", route="/v1/evaluations", status="202") == 1
    finally:
        worker.stop()
        server.stop()
        delete_redis_keys(namespace)
    assert worker.process.returncode == 0, worker.output()[-3000:]
