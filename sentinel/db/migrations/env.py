"""Alembic's environment for Sentinel, configured by ``sentinel.db.migrate`` (no alembic.ini needed).

The caller hands over an open connection in ``config.attributes["connection"]`` (online) or a URL in
``sqlalchemy.url`` (offline, ``sentinel migrate --sql``). The target is every SQLModel table.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from sentinel import models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def render_item(kind: str, item: Any, autogen_context: Any) -> str | bool:
    """Render SQLModel's AutoString as a plain String, so revisions never depend on SQLModel internals."""
    if kind == "type" and isinstance(item, AutoString):
        return f"sa.String(length={item.length})" if item.length else "sa.String()"
    return False


OPTIONS: dict[str, Any] = {
    "target_metadata": target_metadata,
    "compare_type": True,
    "compare_server_default": True,
    "render_item": render_item,
    # SQLite can add a column but not alter or drop one: batch operations copy the table there (and are plain
    # ALTERs on PostgreSQL), and autogenerate writes them, so every revision runs on both databases.
    "render_as_batch": True,
}


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    connection = config.attributes.get("connection")
    if connection is None:
        from sentinel.db import build_engine

        engine = build_engine(config.get_main_option("sqlalchemy.url") or "")
        try:
            with engine.connect() as connection:
                run_online(connection)
                connection.commit()
        finally:
            engine.dispose()
    else:
        run_online(connection)
