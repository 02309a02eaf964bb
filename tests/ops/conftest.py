"""Fixtures of the operations tests: a PostgreSQL database of each test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import own_postgres_database


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty PostgreSQL database for one test, dropped afterwards."""
    with own_postgres_database(migrated=False) as url:
        yield url
