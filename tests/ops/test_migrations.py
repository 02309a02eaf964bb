"""Alembic migrations on PostgreSQL: head matches the models, rows survive upgrades, old databases are adopted.

The first test fails whenever sentinel/models.py changes without a revision: add one with
`python -m sentinel.db.migrate revision -m "..."` (see sentinel/db/migrate.py).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.db import build_engine, engine_for
from sentinel.db.migrate import (
    BASELINE,
    BASELINE_COLUMNS,
    MigrationError,
    current,
    head,
    is_at_head,
    model_differences,
    revisions,
    upgrade,
)
from sentinel.models import Evaluation, StoredImage, Vote
from sentinel.settings import Settings

pytestmark = pytest.mark.integration


def test_upgrade_head_on_an_empty_database_gives_exactly_the_models(fresh_database: str) -> None:
    assert upgrade(fresh_database) == head()
    assert is_at_head(fresh_database)
    engine = build_engine(fresh_database)
    try:
        with engine.connect() as connection:
            differences = model_differences(connection)
    finally:
        engine.dispose()
    assert differences == [], (
        "the models and the migrations disagree; add a revision: python -m sentinel.db.migrate revision -m '...'"
    )


def test_the_baseline_manifest_is_what_the_first_revision_creates(fresh_database: str) -> None:
    assert revisions()[0] == BASELINE
    upgrade(fresh_database, BASELINE)
    engine = build_engine(fresh_database)
    try:
        inspector = inspect(engine)
        tables = set(inspector.get_table_names()) - {"alembic_version"}
        assert tables == set(BASELINE_COLUMNS)
        for table, columns in BASELINE_COLUMNS.items():
            assert {c["name"] for c in inspector.get_columns(table)} == columns, table
    finally:
        engine.dispose()


def _insert_baseline_rows(url: str) -> None:
    """Rows written the way the first release wrote them (plain SQL against the baseline schema)."""
    engine = build_engine(url)
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO images (id, mime, width, height, size_bytes, created_at) "
                    "VALUES (:id, 'image/png', 8, 8, 99, :now)"
                ),
                {"id": "a" * 64, "now": now},
            )
            connection.execute(
                text(
                    "INSERT INTO evaluations (id, task, params, image_id, status, rubric, panel, escalation_judges, "
                    "quorum, verdict, created_at, deadline_at) VALUES ('ev_kept', 'text-to-image', '{\"w\": 1}', :img, "
                    "'done', '{}', '[\"pixels\"]', '[]', 1, 'green', :now, :now)"
                ),
                {"img": "a" * 64, "now": now},
            )
            connection.execute(
                text(
                    "INSERT INTO votes (evaluation_id, judge, passed, reasoning, criteria, duration_ms, created_at) "
                    "VALUES ('ev_kept', 'pixels', true, 'fine', '[]', 1.5, :now)"
                ),
                {"now": now},
            )
    finally:
        engine.dispose()


def _assert_rows_kept(url: str) -> None:
    engine = build_engine(url)
    try:
        with Session(engine) as session:
            evaluation = session.get(Evaluation, "ev_kept")
            assert evaluation is not None and evaluation.verdict == "green" and evaluation.params == {"w": 1}
            assert evaluation.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
            assert session.get(StoredImage, "a" * 64) is not None
            assert [v.judge for v in session.exec(select(Vote).where(Vote.evaluation_id == "ev_kept"))] == ["pixels"]
    finally:
        engine.dispose()


def test_rows_written_at_the_first_revision_survive_every_later_one(fresh_database: str) -> None:
    upgrade(fresh_database, BASELINE)
    _insert_baseline_rows(fresh_database)
    assert upgrade(fresh_database) == head()
    _assert_rows_kept(fresh_database)
    assert upgrade(fresh_database) == head()  # a second run changes nothing
    _assert_rows_kept(fresh_database)


def test_a_database_made_by_create_all_at_the_baseline_is_stamped_then_upgraded(fresh_database: str) -> None:
    upgrade(fresh_database, BASELINE)
    _insert_baseline_rows(fresh_database)
    engine = build_engine(fresh_database)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))  # as create_all left it: tables, no history
    engine.dispose()
    assert current(fresh_database) is None
    # What `sentinel serve` does at start-up with a PostgreSQL URL.
    engine_for(Settings(database_url=fresh_database)).dispose()
    assert is_at_head(fresh_database)
    _assert_rows_kept(fresh_database)


def test_a_database_made_by_create_all_from_the_current_models_is_stamped_at_head(fresh_database: str) -> None:
    engine = build_engine(fresh_database)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    assert upgrade(fresh_database) == head()


def test_an_unrecognised_schema_is_refused_with_the_differences(fresh_database: str) -> None:
    upgrade(fresh_database, BASELINE)
    engine = build_engine(fresh_database)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("ALTER TABLE votes DROP COLUMN usage"))
    engine.dispose()
    with pytest.raises(MigrationError, match=r"votes: missing usage"):
        upgrade(fresh_database)
    assert current(fresh_database) is None  # nothing was stamped or changed


def test_a_database_migrated_by_a_newer_version_is_used_as_it_is(fresh_database: str) -> None:
    upgrade(fresh_database)
    engine = build_engine(fresh_database)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    assert upgrade(fresh_database) == "9999"  # an older pod restarting during a rolling upgrade still starts
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE votes DROP COLUMN usage"))
    engine.dispose()
    with pytest.raises(MigrationError, match=r"votes\.usage"):
        upgrade(fresh_database)  # ... but not on a schema that lacks what it needs


def test_processes_starting_together_take_turns(fresh_database: str) -> None:
    results: list[object] = []

    def start() -> None:
        try:
            results.append(upgrade(fresh_database))
        except Exception as exc:  # pragma: no cover - the assertion shows it
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [head()] * 3


def test_migrate_command_upgrades_and_prints_sql(fresh_database: str) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["migrate", "--sql"], env={"SENTINEL_DATABASE_URL": fresh_database})
    assert printed.exit_code == 0, printed.output
    assert "CREATE TABLE evaluations" in printed.output and "alembic_version" in printed.output
    assert current(fresh_database) is None  # --sql runs nothing
    ran = runner.invoke(app, ["migrate"], env={"SENTINEL_DATABASE_URL": fresh_database})
    assert ran.exit_code == 0, ran.output
    assert is_at_head(fresh_database)
