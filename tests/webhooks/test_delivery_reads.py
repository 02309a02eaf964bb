"""A webhook's delivery reads the job or evaluation it sends without a transaction: a read-only one ended in
ROLLBACK, at which psycopg forgot the prepared statements of the pooled connection it ran on (and every statement
after it on that connection was parsed and planned afresh)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.service import JobService
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.webhooks.service import WebhookService
from sentinel.wiring import build_services
from tests.conftest import own_postgres_database, png_bytes

pytestmark = pytest.mark.integration


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    # A database of its own: the evaluation's judge message stays unsent in it.
    with own_postgres_database() as url:
        built = build_services(Settings(data_dir=tmp_path / "data", database_url=url))
        yield built
        built.engine.dispose()


def prepared(connection: Connection) -> int:
    """How many statements the server has prepared for this pooled connection (asked in a transaction committed,
    not rolled back, so asking forgets none)."""
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    count = dbapi.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
    dbapi.commit()
    return int(count)


def test_a_delivery_reads_what_it_sends_and_keeps_the_prepared_statements(services: Services) -> None:
    evaluations = EvaluationService(services)
    webhooks = WebhookService(services, evaluations, JobService(services, lambda: None))  # type: ignore[arg-type,return-value]
    evaluation = evaluations.submit(evaluations.validate("text-to-image", {}, {"image": png_bytes(300, 300)}))
    engine = services.engine
    # One pooled connection (used one at a time below), so the delivery's reads run on the one whose statement is
    # prepared.
    engine.pool.dispose()
    with engine.connect() as connection:
        for _ in range(6):  # psycopg prepares a statement on its fifth run on a connection
            connection.execute(text("SELECT 1 AS prepared_probe")).all()
            connection.commit()
        assert prepared(connection) > 0
    # Without a callback_url it reads the evaluation and sends nothing: the reads are what is tested.
    webhooks.deliver_event("evaluation", evaluation.id, "finished", "dlv_reads")
    with engine.connect() as connection:
        assert prepared(connection) > 0
