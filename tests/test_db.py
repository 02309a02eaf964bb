"""The insert-unless-present primitive that decides every race (votes, attempts, keys, decisions)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from sentinel.db import build_engine, engine_for, insert_unless_present
from sentinel.db.migrate import MigrationError, upgrade_engine
from sentinel.models import IdempotencyRecord


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    engine = build_engine(url)
    upgrade_engine(engine)
    yield engine
    engine.dispose()


def test_first_insert_wins_and_the_second_is_told(engine) -> None:
    values = {"scope": "s", "endpoint": "e", "key": f"k-{engine.dialect.name}", "fingerprint": "f"}
    with Session(engine) as session:
        assert insert_unless_present(session, IdempotencyRecord, values, ["scope", "endpoint", "key"]) is True
        session.commit()
    with Session(engine) as session:
        assert insert_unless_present(session, IdempotencyRecord, values, ["scope", "endpoint", "key"]) is False
        stored = session.get(IdempotencyRecord, 1) or next(iter(session.query(IdempotencyRecord)))
        assert stored.created_at is not None  # Core inserts get the timestamp default too


def test_a_sqlite_file_no_sentinel_version_made_is_refused_with_the_differences_and_left_alone(tmp_path) -> None:
    import sqlite3

    from sentinel.settings import Settings

    # Sentinel's images table with nothing else: no revision's schema, so not one to guess about.
    with sqlite3.connect(tmp_path / "sentinel.db") as connection:
        connection.execute(
            "CREATE TABLE images (id VARCHAR(64) PRIMARY KEY, mime VARCHAR(32) NOT NULL, width INTEGER NOT NULL, "
            "height INTEGER NOT NULL, size_bytes INTEGER NOT NULL, created_at DATETIME)"
        )
        connection.execute("INSERT INTO images VALUES ('" + "a" * 64 + "', 'image/png', 1, 1, 10, '2026-01-01')")
    with pytest.raises(MigrationError, match=r"matches no revision.*table evaluations is missing"):
        engine_for(Settings(data_dir=tmp_path))
    with sqlite3.connect(tmp_path / "sentinel.db") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"images"}
        assert connection.execute("SELECT count(*) FROM images").fetchone() == (1,)


@pytest.mark.parametrize("driver", ["postgresql", "postgresql+psycopg"])
def test_a_scratch_database_is_made_and_dropped_from_either_url_spelling(driver: str) -> None:
    """Benchmarks take a database URL as the user has it: libpq's spelling or SQLAlchemy's."""
    from sqlalchemy import create_engine, text

    from sentinel.db.migrate import scratch_database
    from tests.conftest import POSTGRES_ADMIN_URL

    admin = driver + "://" + POSTGRES_ADMIN_URL.split("://", 1)[1]
    with scratch_database(admin) as url:
        assert url.startswith(f"{driver}://") and "sentinel_scratch_" in url
        name = url.rsplit("/", 1)[1]
        engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
        with engine.connect() as connection:
            assert connection.execute(text("SELECT current_database()")).scalar() == name
        engine.dispose()
    check = create_engine("postgresql+psycopg://" + POSTGRES_ADMIN_URL.split("://", 1)[1])
    with check.connect() as connection:
        assert connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None
    check.dispose()


def test_no_index_of_a_migrated_database_repeats_the_leading_columns_of_another(engine) -> None:
    # Every insert pays for every index of its table: one whose columns lead another index (or a unique
    # constraint) serves no lookup the other does not, and cost each evaluation, vote, job and attempt its upkeep.
    from sqlalchemy import inspect

    inspector = inspect(engine)
    redundant = []
    for table in inspector.get_table_names():
        indexes = [(i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)]
        indexes += [(u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)]
        for name, columns in indexes:
            wider = [other for other, cols in indexes if len(cols) > len(columns) and cols[: len(columns)] == columns]
            if wider and not name.startswith(("uq_", "sqlite_autoindex")):
                redundant.append(f"{table}.{name} {columns} (led by {', '.join(wider)})")
    assert redundant == []
