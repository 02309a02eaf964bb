"""Fixtures the evaluation tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinel.evaluation.service import EvaluationService
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import own_postgres_database


@pytest.fixture
def service(tmp_path: Path) -> Iterator[EvaluationService]:
    """The evaluation service on a PostgreSQL database of its own (a module may define its own ``service``): messages
    a test leaves unsent (a panel's, a webhook to hooks.example) must not reach the relays of other tests'
    deployments on the shared database."""
    with own_postgres_database() as url:
        built = EvaluationService(build_services(Settings(data_dir=tmp_path / "data", database_url=url)))
        yield built
        built.services.engine.dispose()
