"""The insert-unless-present primitive that decides every race (votes, attempts, keys, decisions)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, SQLModel

from sentinel.db import build_engine, insert_unless_present
from sentinel.models import IdempotencyRecord


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    engine = build_engine(url)
    SQLModel.metadata.create_all(engine)
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


def test_an_older_sqlite_file_gets_the_columns_newer_versions_added(tmp_path) -> None:
    import sqlite3

    from sentinel.db import engine_for
    from sentinel.settings import Settings

    # The images table as it was before images kept when they were last stored and purged.
    with sqlite3.connect(tmp_path / "sentinel.db") as connection:
        connection.execute(
            "CREATE TABLE images (id VARCHAR(64) PRIMARY KEY, mime VARCHAR(32) NOT NULL, width INTEGER NOT NULL, "
            "height INTEGER NOT NULL, size_bytes INTEGER NOT NULL, created_at DATETIME)"
        )
        connection.execute("INSERT INTO images VALUES ('" + "a" * 64 + "', 'image/png', 1, 1, 10, '2026-01-01')")
    engine = engine_for(Settings(data_dir=tmp_path))
    with engine.connect() as connection:
        columns = {row[1] for row in connection.exec_driver_sql("PRAGMA table_info(images)")}
        kept = connection.exec_driver_sql("SELECT count(*) FROM images").scalar()
    assert {"stored_at", "purged_at"} <= columns
    assert kept == 1
    engine.dispose()
