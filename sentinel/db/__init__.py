"""Database engine and sessions: SQLite by default, PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect
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
    return postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert


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
    """An engine for the configured database: PostgreSQL upgraded to the newest migration, SQLite by create_all."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(url)
    if engine.dialect.name == "postgresql":
        from sentinel.db.migrate import upgrade_engine

        upgrade_engine(engine)
    else:
        SQLModel.metadata.create_all(engine)
        add_missing_columns(engine)
    return engine


#: What a column added to an older SQLite file starts as, where NULL would be wrong for the rows already there
#: (the same data moves as the PostgreSQL migration that brought the column).
BACKFILLS = {
    # A key made before tenants existed is a tenant of its own.
    "api_keys.tenant": "UPDATE api_keys SET tenant = id WHERE tenant IS NULL",
    # A job's evaluations belong to the job's key.
    "evaluations.key_id": "UPDATE evaluations SET key_id = (SELECT jobs.key_id FROM job_attempts JOIN jobs "
    "ON jobs.id = job_attempts.job_id WHERE job_attempts.evaluation_id = evaluations.id) WHERE key_id IS NULL",
}


def add_missing_columns(engine: Engine) -> list[str]:
    """Add the nullable columns (and indexes) newer versions brought to an older SQLite file (create_all adds
    tables only)."""
    existing = inspect(engine)
    added: list[str] = []
    with engine.begin() as connection:
        for table in SQLModel.metadata.sorted_tables:
            have = {column["name"] for column in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name in have or not column.nullable:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                connection.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
                added.append(f"{table.name}.{column.name}")
                if f"{table.name}.{column.name}" in BACKFILLS:
                    connection.exec_driver_sql(BACKFILLS[f"{table.name}.{column.name}"])
            for index in table.indexes:
                index.create(connection, checkfirst=True)
    return added
