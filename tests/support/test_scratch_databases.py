"""The tests' own PostgreSQL databases: a copy of the migrated template is at the newest revision and shares no rows
with another copy, an unmigrated one is empty, and after the session nothing is left on the server."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from sentinel.db import build_engine
from sentinel.db.migrate import schema_state
from tests.conftest import POSTGRES_ADMIN_URL
from tests.support.scratch_databases import ScratchDatabases

pytestmark = pytest.mark.integration


def database_names() -> set[str]:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


def test_copies_are_migrated_apart_an_empty_one_is_empty_and_none_outlives_the_session() -> None:
    databases = ScratchDatabases(POSTGRES_ADMIN_URL)
    with databases.database() as first, databases.database() as second, databases.database(migrated=False) as empty:
        engines = [build_engine(url) for url in (first, second, empty)]
        try:
            with engines[0].connect() as connection:
                state = schema_state(connection)
                assert state.head is not None and state.current == state.head
                connection.exec_driver_sql("CREATE TABLE written_here (id int)")
                connection.commit()
            assert "written_here" not in inspect(engines[1]).get_table_names()
            assert "evaluations" in inspect(engines[1]).get_table_names()
            assert inspect(engines[2]).get_table_names() == []
        finally:
            for engine in engines:
                engine.dispose()
        made = {make_url(url).database for url in (first, second, empty)} | {databases.template}
        assert made <= database_names()
    assert databases.finish() == []
    # Only ours: the other test process makes and drops databases of its own meanwhile.
    assert not made & database_names()
