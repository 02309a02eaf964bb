"""Database engine and sessions: SQLite by default, PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine

from sentinel import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from sentinel.settings import Settings


def build_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            # WAL lets the API read while worker threads write.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def dialect_insert(bind: Engine | Connection) -> Callable[..., Any]:
    """The INSERT construct with ON CONFLICT for the database behind ``bind`` (PostgreSQL or SQLite)."""
    return insert_for(bind.dialect.name)


def insert_for(dialect: str) -> Callable[..., Any]:
    """:func:`dialect_insert` by the dialect's name (statements built once per database kind and cached)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def insert_unless_present(session: Session, model: type[SQLModel], values: dict[str, Any], key: list[str]) -> bool:
    """INSERT … ON CONFLICT (key) DO NOTHING; True when this call inserted the row.

    The database's unique constraint, not a read-then-write, decides who wins a race.
    """
    insert = dialect_insert(session.get_bind())
    columns = [getattr(model, name) for name in key]
    # RETURNING, not rowcount: psycopg reports no reliable rowcount for an ORM-enabled INSERT.
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=key).returning(*columns)
    return session.execute(statement).first() is not None


def engine_for(settings: Settings) -> Engine:
    """An engine for the configured database (SQLite or PostgreSQL), upgraded to the newest migration first."""
    # Imported here, not at the top: Alembic costs ~80 ms to import, paid only by a process that opens the
    # database (``sentinel eval`` and the rest of the CLI import this package without needing it).
    from sentinel.db.migrate import upgrade_engine

    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(url)
    try:
        upgrade_engine(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
