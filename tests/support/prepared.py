"""Counting a pooled PostgreSQL connection's prepared statements, which psycopg forgets at every ROLLBACK."""

from __future__ import annotations

from sqlalchemy.engine import Connection


def prepared(connection: Connection) -> int:
    """How many statements the server has prepared for this pooled connection (asked in a transaction committed,
    not rolled back, so asking forgets none)."""
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    count = dbapi.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
    dbapi.commit()
    return int(count)
