"""Counting a pooled PostgreSQL connection's prepared statements, which psycopg forgets at every ROLLBACK."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine


def prepared(connection: Connection) -> int:
    """How many statements the server has prepared for this pooled connection (asked in a transaction committed,
    not rolled back, so asking forgets none)."""
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    count = dbapi.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
    dbapi.commit()
    return int(count)


def one_connection_with_a_prepared_statement(engine: Engine) -> None:
    """Leave ``engine``'s pool holding one connection (used one at a time, later work runs on it) on which the server
    has prepared a statement: psycopg prepares one on a statement's fifth run on a connection."""
    engine.pool.dispose()
    with engine.connect() as connection:
        for _ in range(6):
            connection.execute(text("SELECT 1 AS prepared_probe")).all()
            connection.commit()
        assert prepared(connection) > 0
