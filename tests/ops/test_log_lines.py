"""With ``SENTINEL_LOG_FORMAT=json`` every line Sentinel's processes write is a JSON object (outside probe P2-F9):
the serve banner, the dramatiq main process of ``sentinel worker`` and its metrics process included; and pika's INFO
chatter (a dozen lines per AMQP connection, on every /readyz with RabbitMQ) is not logged (P2-F8)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    REDIS_URL,
    SENTINEL,
    RunningProcess,
    clean_env,
    delete_redis_keys,
    free_port,
    start_server,
)

#: RabbitMQ on this machine (the default virtual host).
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def not_json(text: str) -> list[str]:
    """The lines of ``text`` that are not one JSON object each."""
    bad = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            bad.append(line)
            continue
        if not isinstance(parsed, dict):
            bad.append(line)
    return bad


def test_the_serve_banner_is_json_when_asked(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_LOG_FORMAT="json")
    server, _ = start_server(env, tmp_path / "serve.log", cwd=tmp_path)
    server.stop()
    output = server.output()
    assert not_json(output) == []
    messages = [json.loads(line)["message"] for line in output.splitlines() if line.strip()]
    assert any(m.startswith("Sentinel on http://") for m in messages), messages
    assert any(m.startswith("Review queue and dashboard: ") for m in messages), messages


@pytest.mark.integration
def test_every_worker_line_is_json_when_asked(tmp_path: Path) -> None:
    namespace = f"sentinel-test-fg-{uuid.uuid4().hex[:8]}"
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_REDIS_URL=REDIS_URL,
        SENTINEL_REDIS_NAMESPACE=namespace,
        SENTINEL_LOG_FORMAT="json",
    )
    worker = RunningProcess(
        [SENTINEL, "worker", "--processes", "1", "--threads", "1", "--metrics-port", str(free_port())],
        env,
        tmp_path / "worker.log",
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            output = worker.output()
            if "worker metrics on" in output and "Worker process is ready" in output:
                break
            assert worker.process.poll() is None, output
            time.sleep(0.2)
    finally:
        worker.stop()
        delete_redis_keys(namespace)
    output = worker.output()
    assert "worker metrics on" in output, output
    # The dramatiq main process ("is booting up"), the worker and the fork (metrics) processes: JSON all.
    assert "dramatiq.MainProcess" in output
    assert not_json(output) == []
    # Alembic's set-up chatter (7 "setup plugin" lines and 2 more per worker process) is left out.
    assert "setup plugin" not in output and "Will assume transactional DDL" not in output


@pytest.mark.integration
def test_readiness_with_rabbitmq_logs_no_pika_chatter(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_BROKER_URL=AMQP_URL, SENTINEL_LOG_FORMAT="json")
    server, base = start_server(env, tmp_path / "serve.log", cwd=tmp_path)
    try:
        before = len(server.output().splitlines())
        ready = httpx.get(f"{base}/readyz", timeout=30)
        assert "RabbitMQ" in ready.json()["checks"]["broker"]["detail"], ready.text
        httpx.get(f"{base}/metrics", timeout=30)
    finally:
        server.stop()
    added = server.output().splitlines()[before:]
    assert [line for line in added if '"pika' in line] == []
