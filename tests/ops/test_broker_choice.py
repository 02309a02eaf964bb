"""SENTINEL_BROKER_URL: RabbitMQ or Redis as the broker, checked by /readyz and `sentinel doctor`, refused clearly when
malformed (the end-to-end run on RabbitMQ is tests/integration/test_rabbitmq_postgres.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sentinel.ops import endpoints
from sentinel.ops.doctor import run_checks
from sentinel.settings import Settings
from tests.conftest import REDIS_URL, SENTINEL, clean_env, free_port
from tests.support.served_services import services_as_served

#: The machine's RabbitMQ, on its default virtual host (these tests only connect; they declare nothing).
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def readyz(settings: Settings) -> tuple[int, dict]:
    api = FastAPI()
    api.include_router(endpoints.router)
    api.state.services = services_as_served(settings)
    with TestClient(api) as http:
        response = http.get("/readyz")
    return response.status_code, response.json()


def test_readiness_connects_to_rabbitmq_and_hides_the_password(tmp_path: Path) -> None:
    status, body = readyz(Settings(data_dir=tmp_path, broker_url=RABBITMQ_URL))
    assert status == 200, body
    assert body["checks"]["broker"]["detail"] == "RabbitMQ at amqp://guest:***@127.0.0.1:5672/%2F accepted a connection"


def test_a_dead_rabbitmq_makes_it_not_ready_and_says_why(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    status, body = readyz(
        Settings(data_dir=tmp_path, broker_url=f"amqp://sentinel:hunter2hunter2@127.0.0.1:{port}/prod")
    )
    assert status == 503
    assert body["failing"] == ["broker"]
    detail = body["checks"]["broker"]["detail"]
    assert detail.startswith(f"RabbitMQ at amqp://sentinel:***@127.0.0.1:{port}/prod: "), detail
    assert "Connection refused" in detail, detail
    assert "hunter2" not in str(body)


def test_doctor_checks_rabbitmq_and_names_a_refused_login(tmp_path: Path) -> None:
    good = {r.name: r for r in run_checks(Settings(data_dir=tmp_path, broker_url=RABBITMQ_URL), timeout=5)}
    assert good["rabbitmq"].ok, good["rabbitmq"]
    assert "RabbitMQ broker" in good["settings"].detail
    # Without Redis the deployment works, but rate limits are per process: worth a warning, not a failure.
    assert good["redis"].status == "warn" and "SENTINEL_REDIS_URL" in good["redis"].hint
    # A broker means several processes: their secrets must be shared, as with Redis.
    assert not good["SENTINEL_WEBHOOK_SECRET"].ok
    bad_login = RABBITMQ_URL.replace("guest:guest", "guest:wrong-password")
    bad = {r.name: r for r in run_checks(Settings(data_dir=tmp_path, broker_url=bad_login), timeout=5)}
    assert not bad["rabbitmq"].ok
    assert "ACCESS_REFUSED" in bad["rabbitmq"].detail and "wrong-password" not in bad["rabbitmq"].detail
    assert "SENTINEL_BROKER_URL" in bad["rabbitmq"].hint


def test_a_redis_broker_url_is_also_the_shared_redis() -> None:
    settings = Settings(broker_url=REDIS_URL)
    assert settings.broker_kind == "redis"
    # Rate limits, provider cool-downs and wake-ups must be shared by every process, as with SENTINEL_REDIS_URL.
    assert settings.redis_url == REDIS_URL
    both = Settings(broker_url=RABBITMQ_URL, redis_url=REDIS_URL)
    assert both.broker_kind == "rabbitmq" and both.redis_url == REDIS_URL


def test_readiness_reports_the_redis_used_beside_a_rabbitmq_broker(tmp_path: Path) -> None:
    # RabbitMQ carries the messages; Redis still shares rate limits, provider cool-downs and long-poll wake-ups
    # between the processes: the probe says whether it answers, as it does for a Redis broker.
    status, body = readyz(Settings(data_dir=tmp_path, broker_url=RABBITMQ_URL, redis_url=REDIS_URL))
    assert status == 200, body
    assert body["checks"]["redis"]["ok"] and "answered PING" in body["checks"]["redis"]["detail"], body
    port = free_port()  # nothing listens there
    dead = f"redis://:hunter2hunter2@127.0.0.1:{port}/0"
    status, body = readyz(Settings(data_dir=tmp_path, broker_url=RABBITMQ_URL, redis_url=dead))
    assert status == 503, body
    assert body["failing"] == ["redis"], body
    detail = body["checks"]["redis"]["detail"]
    assert detail.startswith(f"Redis at redis://:***@127.0.0.1:{port}/0 (rate limits"), detail
    assert "hunter2" not in str(body)
    assert body["checks"]["broker"]["ok"], body
    # Shared by every replica: reported, but no replica leaves rotation for it alone.
    api = FastAPI()
    api.include_router(endpoints.router)
    api.state.services = services_as_served(Settings(data_dir=tmp_path, broker_url=RABBITMQ_URL, redis_url=dead))
    with TestClient(api) as http:
        instance = http.get("/readyz", params={"scope": "instance"})
    assert instance.status_code == 200 and instance.json()["checks"]["redis"]["ok"] is False, instance.text


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://sentinel:hunter2hunter2@rabbit:5672/", "has the scheme 'http://'"),
        ("rabbit:5672", "has no scheme"),
        ("amqp://sentinel:hunter2hunter2@/prod", "names no host"),
        ("amqp://rabbit-1:5672/;kafka://rabbit-2", "has the scheme 'kafka://'"),
    ],
)
def test_a_malformed_broker_url_stops_the_worker_with_one_line(url: str, problem: str, tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path), SENTINEL_BROKER_URL=url)
    result = subprocess.run([SENTINEL, "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: SENTINEL_BROKER_URL {problem}; it must be an `amqp://`"), result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_a_worker_without_a_broker_says_which_variable_to_set(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path))
    result = subprocess.run([SENTINEL, "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SENTINEL_BROKER_URL" in result.stderr and "SENTINEL_REDIS_URL" in result.stderr
