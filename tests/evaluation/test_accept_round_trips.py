"""What one evaluation costs PostgreSQL in round trips: no ping before each use of a pooled connection, reads of one
statement without a transaction around them, and the votes that finish an evaluation not read back."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from sentinel.db import build_engine
from sentinel.evaluation.service import EvaluationService
from sentinel.models import EvaluationStatus
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import POSTGRES_ADMIN_URL, png_bytes

pytestmark = pytest.mark.integration


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, bool]]]:
    """Every statement run on ``engine`` meanwhile, as (its SQL, whether it ran outside a transaction)."""
    seen: list[tuple[str, bool]] = []

    def note(conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append((" ".join(statement.split()), bool(conn.connection.dbapi_connection.autocommit)))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


@pytest.fixture
def service(tmp_path: Path, postgres_url: str, monkeypatch) -> Iterator[EvaluationService]:
    built = EvaluationService(build_services(Settings(data_dir=tmp_path / "data", database_url=postgres_url)))
    pings: list[object] = []
    monkeypatch.setattr(built.services.engine.dialect, "do_ping", lambda connection: pings.append(connection) or True)
    yield built
    # A ping is a round trip (and a transaction) before every use of a pooled connection: none was sent.
    assert pings == []
    built.services.engine.dispose()


def test_one_panel_message_reads_without_transactions_and_does_not_read_back_its_votes(service) -> None:
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(300, 300)}))
    engine = service.services.engine
    with statements(engine) as polled:
        found, votes_in = service.read(evaluation.id)
    assert found.status == EvaluationStatus.JUDGING and votes_in == 0
    assert [autocommit for _, autocommit in polled] == [True]  # one statement, no BEGIN/ROLLBACK around it

    with statements(engine) as judged:
        service.process_panel_message(evaluation.id, evaluation.panel)
    # Two statements, each committed alone: the evaluation with its images' types and the judges that voted; then
    # the votes in, the evaluation locked and the verdict written in one (the verdict computed from the votes in
    # hand: they are every panel judge's, so reading them back would return what it has).
    assert [(sql.split()[0], autocommit) for sql, autocommit in judged] == [("SELECT", True), ("WITH", True)], judged

    done, votes = service.get(evaluation.id)
    assert done.status == EvaluationStatus.DONE and done.verdict == "green", done.summary
    assert [j["judge"] for j in done.result["judges"]] == [v.judge for v in votes] == list(evaluation.panel)


def test_votes_from_separate_messages_are_read_back_to_finalise(service) -> None:
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(300, 300)}))
    first, *rest = evaluation.panel
    service.process_panel_message(evaluation.id, [first])
    assert service.read(evaluation.id)[0].status == EvaluationStatus.JUDGING
    with statements(service.services.engine) as judged:
        service.process_panel_message(evaluation.id, rest)
    # The last message stored only some of the votes: the others are read (after the lock) to decide.
    assert any(sql.startswith("SELECT votes.id") and not autocommit for sql, autocommit in judged)
    done, _ = service.get(evaluation.id)
    assert done.status == EvaluationStatus.DONE and done.verdict == "green", done.summary
    assert sorted(j["judge"] for j in done.result["judges"]) == sorted(evaluation.panel)


def test_a_pooled_connection_the_server_closed_is_replaced_without_a_ping(postgres_url: str, monkeypatch) -> None:
    engine = build_engine(postgres_url)
    pings: list[object] = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(connection) or True)
    try:
        with engine.connect() as connection:
            backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            socket = connection.connection.dbapi_connection.fileno()
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        # The server's goodbye reaches the pooled connection's socket (bounded wait on that condition).
        deadline = time.monotonic() + 10
        while not select.select([socket], [], [], 0.05)[0] and time.monotonic() < deadline:
            pass
        with engine.connect() as connection:  # no error: a fresh connection was taken instead
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
        assert pings == []
    finally:
        engine.dispose()
