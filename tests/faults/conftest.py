"""Fault tests run real processes: a Redis server of their own (so it can be restarted), a PostgreSQL database of
their own (so its connections can be cut), `sentinel serve` and `sentinel worker`."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import create_engine, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from sentinel.evaluation.service import EvaluationService
from sentinel.models import Evaluation, EvaluationStatus, Vote
from sentinel.outbox.relay import Relay
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import SENTINEL, RunningProcess, free_port, own_postgres_database, png_bytes

pytestmark = pytest.mark.integration


def wait_until(condition: Callable[[], object], seconds: float, what: str, every: float = 0.05) -> object:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {seconds} s")


class OwnRedis:
    """A redis-server on a free port, restartable on the same port, with or without keeping its data."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    def start(self, *, persist: bool = True) -> None:
        # appendfsync always: every accepted command is on disk before Redis answers, so a restart loses nothing.
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if persist else ["--appendonly", "no"]
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen(
            [*command, "--dir", str(self.directory), *durability],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: self._pings(client), 10, "redis-server up")
        client.close()

    @staticmethod
    def _pings(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes its append-only file and exits
            self.process.wait(timeout=15)
        self.process = None

    def wipe(self) -> None:
        """Forget everything on disk: the next start is a Redis that lost its data."""
        for path in self.directory.rglob("*"):
            if path.is_file():
                path.unlink()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL database for this test alone (its connections get cut), dropped afterwards."""
    with own_postgres_database() as url:
        yield url


def engine_for_url(url: str) -> Engine:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://"), pool_pre_ping=True)


class SweepHere:
    """The cluster's sweep, run from the test process against the stack's database and Redis broker: what it
    asks for goes through the outbox and a relay of its own."""

    def __init__(self, service: EvaluationService, relay: Relay) -> None:
        self.service = service
        self.relay = relay

    def sweep(self, stalled_after_seconds: float) -> dict[str, int]:
        counts = self.service.sweep(stalled_after_seconds)
        self.relay.send_pending()
        return counts


def sweeper(database_url: str, redis_url: str, namespace: str, data_dir: Path) -> tuple[SweepHere, Callable]:
    """The sweep and a closer."""
    broker = RedisBroker(url=redis_url, namespace=namespace)
    settings = Settings(database_url=database_url, data_dir=data_dir, redis_url=redis_url, redis_namespace=namespace)
    services = build_services(settings)
    return SweepHere(EvaluationService(services), Relay(services.engine, broker)), broker.close


class Stack:
    """`sentinel serve` and `sentinel worker` on PostgreSQL and a Redis, with a fast sweep and short heartbeats."""

    def __init__(self, tmp_path: Path, database_url: str, redis_url: str) -> None:
        self.tmp_path = tmp_path
        self.namespace = f"sentinel-fault-{uuid.uuid4().hex[:10]}"
        self.env = {
            "SENTINEL_DATABASE_URL": database_url,
            "SENTINEL_REDIS_URL": redis_url,
            "SENTINEL_REDIS_NAMESPACE": self.namespace,
            "SENTINEL_DATA_DIR": str(tmp_path / "data"),
            # A dead consumer's messages are requeued within seconds, not a minute.
            "SENTINEL_REDIS_HEARTBEAT_TIMEOUT_MS": "2000",
            "SENTINEL_REDIS_MAINTENANCE_CHANCE": "1000000",
            "SENTINEL_SWEEP_INTERVAL_SECONDS": "1",
            "SENTINEL_EVALUATION_STALLED_SECONDS": "3",
            "SENTINEL_ANONYMOUS_RPM": "1000000",
        }
        self.engine = engine_for_url(database_url)
        self.workers: list[RunningProcess] = []

    def start_worker(self, threads: int = 2) -> RunningProcess:
        from tests.conftest import clean_env

        log = self.tmp_path / f"worker{len(self.workers)}.log"
        worker = RunningProcess(
            [SENTINEL, "worker", "--processes", "1", "--threads", str(threads)], clean_env(**self.env), log
        )
        self.workers.append(worker)
        return worker

    def counts(self, ids: list[str]) -> tuple[int, int]:
        """(finished evaluations, votes) among ``ids``."""
        with Session(self.engine) as session:
            done = session.exec(
                select(func.count())
                .select_from(Evaluation)
                .where(col(Evaluation.id).in_(ids), Evaluation.status == EvaluationStatus.DONE)
            ).one()
            votes = session.exec(select(func.count()).select_from(Vote).where(col(Vote.evaluation_id).in_(ids))).one()
        return done, votes

    def assert_one_vote_per_judge(self, ids: list[str]) -> None:
        with Session(self.engine) as session:
            evaluations = list(session.exec(select(Evaluation).where(col(Evaluation.id).in_(ids))))
            votes = list(session.exec(select(Vote).where(col(Vote.evaluation_id).in_(ids))))
        assert len(evaluations) == len(ids)
        for evaluation in evaluations:
            judges = sorted(v.judge for v in votes if v.evaluation_id == evaluation.id)
            assert evaluation.status == EvaluationStatus.DONE, evaluation.id
            assert evaluation.verdict in ("green", "amber", "red"), evaluation.id
            assert judges == sorted(evaluation.panel), (evaluation.id, judges, evaluation.panel)
            # Every judge really voted: no verdict was forced by the deadline with votes missing.
            assert evaluation.result["verdict"] == evaluation.verdict


def submit(base: str, index: int, timeout: float = 30) -> httpx.Response:
    """One evaluation of a small image of its own (distinct bytes, so nothing is shared between them)."""
    image = png_bytes(96, 96, color=(index % 250, 40, 200))
    return httpx.post(
        f"{base}/v1/evaluations",
        data={"task": "text-to-image"},
        files={"image": (f"{index}.png", image, "image/png")},
        timeout=timeout,
    )
