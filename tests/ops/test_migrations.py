"""Alembic migrations on SQLite and PostgreSQL alike: head matches the models, rows survive upgrades, databases
made before migrations ran everywhere are adopted, processes starting together take turns.

The first test fails whenever sentinel/models.py changes without a revision: add one with
`python -m sentinel.db.migrate revision -m "..."` (see sentinel/db/migrate.py).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.db import build_engine, engine_for
from sentinel.db.migrate import (
    MigrationError,
    current,
    head,
    is_at_head,
    model_differences,
    revision_schemas,
    revisions,
    upgrade,
)
from sentinel.models import ApiKey, Evaluation, ImageOwner, Job, JobAttempt, StoredImage, Vote
from sentinel.settings import Settings

pytestmark = pytest.mark.integration

#: SQLite files as the code before Alembic ran on SQLite left them (see each file's first lines).
OLD_DATABASES = Path(__file__).parent / "old_databases"
FIRST = revisions()[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind Sentinel runs on."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sentinel.db'}"
    return request.getfixturevalue("fresh_database")


def _old_sqlite_file(directory: Path, name: str) -> Path:
    path = directory / "sentinel.db"
    with sqlite3.connect(path) as connection:
        connection.executescript((OLD_DATABASES / f"{name}.sql").read_text())
    return path


def _differences(url: str) -> list[object]:
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            return model_differences(connection)
    finally:
        engine.dispose()


def test_upgrade_head_on_an_empty_database_gives_exactly_the_models(database: str) -> None:
    assert upgrade(database) == head()
    assert is_at_head(database)
    differences = _differences(database)
    assert differences == [], (
        "the models and the migrations disagree; add a revision: python -m sentinel.db.migrate revision -m '...'"
    )


def test_the_schema_each_revision_leaves_is_the_same_on_both_databases(fresh_database: str) -> None:
    # Adoption compares a database with revision_schemas(), found on in-memory SQLite; PostgreSQL must agree.
    for revision, schema in revision_schemas().items():
        upgrade(fresh_database, revision)
        engine = build_engine(fresh_database)
        try:
            inspector = inspect(engine)
            tables = set(inspector.get_table_names()) - {"alembic_version"}
            assert tables == set(schema), revision
            for table in tables:
                columns = {c["name"] for c in inspector.get_columns(table)}
                indexes = {f"index {i['name']}" for i in inspector.get_indexes(table) if i["name"].startswith("ix_")}
                assert columns | indexes == schema[table], (revision, table)
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
    upgrade(fresh_database, FIRST)
    _insert_baseline_rows(fresh_database)
    assert upgrade(fresh_database) == head()
    _assert_rows_kept(fresh_database)
    assert upgrade(fresh_database) == head()  # a second run changes nothing
    _assert_rows_kept(fresh_database)


def test_a_database_made_by_create_all_at_the_baseline_is_stamped_then_upgraded(fresh_database: str) -> None:
    upgrade(fresh_database, FIRST)
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


def test_a_database_made_by_create_all_from_the_current_models_is_stamped_at_head(database: str) -> None:
    engine = build_engine(database)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    assert upgrade(database) == head()
    assert _differences(database) == []


def test_an_unrecognised_schema_is_refused_with_the_differences(database: str) -> None:
    upgrade(database, FIRST)
    engine = build_engine(database)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("ALTER TABLE votes DROP COLUMN usage"))
    engine.dispose()
    with pytest.raises(MigrationError, match=rf"nearest \({FIRST}\).*votes: missing usage"):
        upgrade(database)
    assert current(database) is None  # nothing was stamped or changed
    engine = build_engine(database)
    try:
        assert "api_keys" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_database_migrated_by_a_newer_version_is_used_as_it_is(database: str) -> None:
    upgrade(database)
    engine = build_engine(database)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    assert upgrade(database) == "9999"  # an older pod restarting during a rolling upgrade still starts
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE votes DROP COLUMN usage"))
    engine.dispose()
    with pytest.raises(MigrationError, match=r"votes\.usage"):
        upgrade(database)  # ... but not on a schema that lacks what it needs


#: What each process runs: what `sentinel serve` and `sentinel worker` do first.
START = "import sys; from sentinel.db.migrate import upgrade; print(upgrade(sys.argv[1]))"


def _start_together(url: str, count: int = 3) -> list[str]:
    processes = [
        subprocess.Popen([sys.executable, "-c", START, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err for _, err in outputs]
    return [out.strip().splitlines()[-1] for out, _ in outputs]


def test_processes_starting_together_take_turns(database: str) -> None:
    assert _start_together(database) == [head()] * 3
    assert _differences(database) == []


@pytest.mark.parametrize(
    ("name", "found_at"),
    # The second file was made by the create_all path at revision 0005, the last before Alembic ran on SQLite too.
    [("sqlite_before_migrations", FIRST), ("sqlite_upgraded_by_create_all", "0005")],
)
def test_a_sqlite_file_made_before_alembic_ran_on_sqlite_is_stamped_upgraded_and_keeps_every_row(
    tmp_path: Path, name: str, found_at: str, caplog: pytest.LogCaptureFixture
) -> None:
    _old_sqlite_file(tmp_path, name)
    engine = engine_for(Settings(data_dir=tmp_path))  # what `sentinel serve` and `sentinel worker` do at start-up
    try:
        with Session(engine) as session:
            job = session.get(Job, "job_kept")
            assert job is not None and job.prompt == "a red cube" and job.params == {"w": 1} and job.verdict == "green"
            evaluation = session.get(Evaluation, "ev_kept")
            assert evaluation is not None and evaluation.verdict == "green" and evaluation.panel == ["pixels"]
            image = session.get(StoredImage, "a" * 64)
            assert image is not None and image.size_bytes == 99
            assert [v.judge for v in session.exec(select(Vote).where(Vote.evaluation_id == "ev_kept"))] == ["pixels"]
            attempt = session.exec(select(JobAttempt).where(JobAttempt.job_id == "job_kept")).one()
            assert attempt.evaluation_id == "ev_kept"
            if found_at == "0005":
                key = session.get(ApiKey, "key_kept")
                assert key is not None and key.tenant == "acme" and job.key_id == "key_kept"
                assert session.exec(select(ImageOwner.key_id)).all() == ["key_kept"]
    finally:
        engine.dispose()
    url = f"sqlite:///{tmp_path / 'sentinel.db'}"
    assert is_at_head(url)
    assert _differences(url) == []
    assert f"revision {found_at}'s" in caplog.text


def test_processes_starting_together_on_an_old_sqlite_file_adopt_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{_old_sqlite_file(tmp_path, 'sqlite_before_migrations')}"
    assert _start_together(url) == [head()] * 3
    with sqlite3.connect(tmp_path / "sentinel.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]
        assert connection.execute("SELECT count(*) FROM votes").fetchone() == (1,)
    assert _differences(url) == []


def test_migrate_command_upgrades_and_prints_sql(fresh_database: str) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["migrate", "--sql"], env={"SENTINEL_DATABASE_URL": fresh_database})
    assert printed.exit_code == 0, printed.output
    assert "CREATE TABLE evaluations" in printed.output and "alembic_version" in printed.output
    assert current(fresh_database) is None  # --sql runs nothing
    ran = runner.invoke(app, ["migrate"], env={"SENTINEL_DATABASE_URL": fresh_database})
    assert ran.exit_code == 0, ran.output
    assert is_at_head(fresh_database)


def test_migrate_command_upgrades_a_sqlite_file(tmp_path: Path) -> None:
    _old_sqlite_file(tmp_path, "sqlite_before_migrations")
    runner = CliRunner()
    ran = runner.invoke(app, ["migrate"], env={"SENTINEL_DATA_DIR": str(tmp_path)})
    assert ran.exit_code == 0, ran.output
    assert f"at revision {head()}" in ran.output
    assert is_at_head(f"sqlite:///{tmp_path / 'sentinel.db'}")
    printed = runner.invoke(app, ["migrate", "--sql"], env={"SENTINEL_DATA_DIR": str(tmp_path)})
    assert printed.exit_code != 0 and "--sql is for PostgreSQL" in printed.output
