"""The durable production shape: API process and `sentinel worker` processes on RabbitMQ and PostgreSQL.

Each module run gets a RabbitMQ virtual host of its own (made with ``rabbitmqctl``, deleted afterwards): every queue
dramatiq declares, with its delay and dead-letter queues, lives inside it, so parallel runs never share a message,
and nothing in Sentinel needs a queue-name prefix that only tests would use.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from PIL import Image
from sqlalchemy import create_engine
from sqlmodel import Session, col, select

from sentinel.models import Evaluation, EvaluationStatus, Vote
from sentinel.ops.metrics import _rabbitmq_depths
from tests.conftest import SENTINEL, RunningProcess, clean_env, png_bytes, start_server
from tests.integration.test_redis_postgres import wait_for_verdict
from tests.support.rabbitmq import RABBITMQ_URL, rabbitmq_vhost

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rabbitmq_url() -> Iterator[str]:
    """An AMQP URL on a virtual host of our own on the real RabbitMQ server, deleted (with its queues) afterwards."""
    with rabbitmq_vhost() as vhost:
        yield f"{RABBITMQ_URL}/{vhost}"


@pytest.fixture(scope="module")
def rabbitmq_env(postgres_url, rabbitmq_url, tmp_path_factory) -> dict[str, str]:
    return clean_env(
        SENTINEL_DATABASE_URL=postgres_url,
        SENTINEL_BROKER_URL=rabbitmq_url,
        SENTINEL_DATA_DIR=str(tmp_path_factory.mktemp("rabbitmq")),
    )


@pytest.fixture(scope="module")
def api(rabbitmq_env, tmp_path_factory) -> Iterator[str]:
    server, base = start_server(rabbitmq_env, tmp_path_factory.mktemp("logs") / "api.log")
    yield base
    server.stop()


def start_worker(env: dict[str, str], log: Path, processes: int = 1) -> RunningProcess:
    return RunningProcess([SENTINEL, "worker", "--processes", str(processes), "--threads", "2"], env, log)


def submit(base: str, image: bytes, params: str) -> dict:
    response = httpx.post(
        f"{base}/v1/evaluations",
        data={"task": "text-to-image", "params": params},
        files={"image": ("image.png", image, "image/png")},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()


def wait_until(condition: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {seconds} s")


def test_verdict_through_rabbitmq_workers_and_postgres(api, rabbitmq_env, tmp_path) -> None:
    ready = httpx.get(f"{api}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    broker = ready.json()["checks"]["broker"]
    assert broker["ok"] and broker["detail"].startswith("RabbitMQ at amqp://guest:***@127.0.0.1:5672/"), broker
    worker = start_worker(rabbitmq_env, tmp_path / "worker.log", processes=2)
    try:
        flat = io.BytesIO()
        Image.new("RGB", (512, 512), (128, 128, 128)).save(flat, "PNG")
        created = submit(api, flat.getvalue(), '{"width": 512, "height": 512}')
        done = wait_for_verdict(api, created["id"], seconds=60)
        assert done["verdict"] == "red", done
        assert "not-blank" in done["critical_failures"]
        assert {j["judge"] for j in done["judges"]} == set(created["judges_expected"])
    finally:
        worker.stop()
    assert "Traceback" not in worker.output(), worker.output()


def test_message_of_a_worker_killed_mid_task_is_redelivered(api, rabbitmq_env, rabbitmq_url, tmp_path) -> None:
    database_url = rabbitmq_env["SENTINEL_DATABASE_URL"]
    database = database_url.rsplit("/", 1)[1]
    # Submitted while no worker runs: the judge messages wait in RabbitMQ.
    created = submit(api, png_bytes(300, 300), '{"width": 300, "height": 300}')
    evaluation_id = created["id"]
    inspector = RabbitmqBroker(url=rabbitmq_url)
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as lock:
        # Nothing may touch the votes table: the first judge message to get that far waits, mid-task, unacknowledged.
        lock.execute("LOCK TABLE votes IN ACCESS EXCLUSIVE MODE")
        # libpq names the doomed worker's connections, so only its waits count (not the API's sweep).
        doomed = start_worker({**rabbitmq_env, "PGAPPNAME": "doomed-worker"}, tmp_path / "doomed.log")
        with psycopg.connect(database_url, autocommit=True) as watcher:

            def worker_waits_on_the_lock() -> bool:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
                    " AND application_name = 'doomed-worker'",
                    (database,),
                ).fetchone()
                return bool(row and row[0])

            wait_until(worker_waits_on_the_lock, 60, "a worker's judge task waiting on the votes table")
        doomed.kill()
        lock.rollback()
    try:
        # RabbitMQ puts the killed worker's unacknowledged messages back on the queue when its connection drops.
        # (what the queue-depth metric reads: sentinel_queue_messages{queue="judging", state="ready"})
        wait_until(lambda: _rabbitmq_depths(inspector, ["judging"])[0][2] >= 1, 30, "the message back in the queue")
        replacement = start_worker(rabbitmq_env, tmp_path / "replacement.log")
        try:
            # The sweep would re-send missing judge messages only after 120 s, the deadline is 300 s: this verdict
            # within a minute is the redelivered message's.
            done = wait_for_verdict(api, evaluation_id, seconds=60)
        finally:
            replacement.stop()
    finally:
        inspector.close()
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with Session(engine) as session:
        evaluation = session.get(Evaluation, evaluation_id)
        votes = session.exec(select(Vote).where(col(Vote.evaluation_id) == evaluation_id)).all()
    engine.dispose()
    assert evaluation is not None and evaluation.status == EvaluationStatus.DONE
    assert sorted(v.judge for v in votes) == sorted(created["judges_expected"])  # one vote each, none doubled
    assert evaluation.verdict == done["verdict"]
    assert "Traceback" not in replacement.output(), replacement.output()
