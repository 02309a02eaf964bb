"""Fixtures of the operations tests: a PostgreSQL database of each test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import POSTGRES_ADMIN_URL


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty PostgreSQL database for one test, dropped afterwards."""
    from sentinel.db.migrate import scratch_database

    with scratch_database(POSTGRES_ADMIN_URL) as url:
        yield url
