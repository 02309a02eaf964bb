"""A worker's messages failing on an unreachable database: one warning per message naming it, as the outbox relay
says it, not a full SQLAlchemy traceback on every try (outside probe F4: 54 of them for one 25 s cut). Other
failures keep their traceback."""

from __future__ import annotations

import logging

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.worker import Worker
from sqlalchemy import create_engine

from sentinel.telemetry.logging import quiet_libraries
from tests.conftest import free_port


@pytest.fixture
def broker():
    broker = StubBroker()
    broker.emit_after("process_boot")
    yield broker
    broker.close()


def run(broker: StubBroker, actor: dramatiq.Actor) -> None:
    worker = Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        actor.send()
        broker.join(actor.queue_name, fail_fast=False)
        worker.join()
    finally:
        worker.stop()


def test_a_message_failing_on_an_unreachable_database_is_one_warning(broker, caplog) -> None:
    quiet_libraries()
    # Nothing listens there: each connect fails as it does while PostgreSQL is cut off.
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2")

    @dramatiq.actor(broker=broker, max_retries=2, min_backoff=1, max_backoff=1)
    def reads_the_database() -> None:
        with engine.connect():
            pass

    with caplog.at_level(logging.INFO):
        run(broker, reads_the_database)
    failures = [r for r in caplog.records if r.name == "dramatiq.worker.WorkerThread"]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert failures[0].levelno == logging.WARNING and failures[0].exc_info is None
    assert "database unreachable (OperationalError)" in failures[0].getMessage()
    assert "reads_the_database" in failures[0].getMessage()


def test_other_failures_keep_their_traceback(broker, caplog) -> None:
    quiet_libraries()

    @dramatiq.actor(broker=broker, max_retries=0)
    def breaks() -> None:
        raise ValueError("a bug")

    with caplog.at_level(logging.INFO):
        run(broker, breaks)
    failures = [r for r in caplog.records if r.name == "dramatiq.worker.WorkerThread"]
    assert [r.levelno for r in failures] == [logging.ERROR]
    assert failures[0].exc_info is not None
