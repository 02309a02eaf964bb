"""An evaluation whose deadline passed while the database was away got the verdict reason "no judge took it up
(no worker running?)": it sent the operator to look for workers that were running all along, waiting for the
database. The sweep's process saw the outage itself (its connections failed): the reason now names the database.
An outage that ended long enough before the deadline for the judges to be asked again is not blamed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from sentinel.db.outages import outages_of
from sentinel.evaluation.service import EvaluationService
from sentinel.models import Evaluation, EvaluationStatus, utcnow
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import own_postgres_database, png_bytes
from tests.support.tcp_proxy import TcpProxy


def submitted(service: EvaluationService) -> str:
    return service.submit(service.validate("text-to-image", {}, {"image": png_bytes(200, 200)})).id


def deadline_passed(service: EvaluationService, evaluation_id: str, *, created_ago: timedelta) -> None:
    with Session(service.services.engine) as session:
        session.execute(
            update(Evaluation)
            .where(col(Evaluation.id) == evaluation_id)
            .values(created_at=utcnow() - created_ago, deadline_at=utcnow())
        )
        session.commit()


@pytest.fixture
def behind_a_proxy(tmp_path: Path) -> Iterator[tuple[EvaluationService, TcpProxy]]:
    with own_postgres_database() as database:
        parts = urlsplit(database)
        with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            settings = Settings(
                data_dir=tmp_path / "data",
                database_url=proxy.url("postgresql", parts.username or "", parts.path),
                database_timeout_seconds=2,
            )
            services = build_services(settings)
            try:
                yield EvaluationService(services), proxy
            finally:
                proxy.restore()
                services.engine.dispose()


@pytest.mark.integration
def test_a_deadline_passed_while_the_database_was_away_names_the_database(behind_a_proxy) -> None:
    service, proxy = behind_a_proxy
    evaluation_id = submitted(service)
    panel = service.get(evaluation_id)[0].panel
    proxy.cut()
    try:
        # The worker takes the judging message and cannot read the evaluation.
        with pytest.raises(OperationalError):
            service.process_panel_message(evaluation_id, panel)
    finally:
        proxy.restore()
    deadline_passed(service, evaluation_id, created_ago=timedelta(minutes=5))
    assert service.sweep(stalled_after_seconds=30)["finalised"] == 1
    done, votes = service.get(evaluation_id)
    assert done.status == EvaluationStatus.DONE and done.verdict == "amber" and votes == []
    assert done.summary is not None
    assert done.summary.startswith("not judged before the deadline: the database was unavailable")
    assert "no judge could read it or record a vote" in done.summary
    assert "no worker running" not in done.summary


def test_an_outage_that_ended_long_before_the_deadline_is_not_blamed(tmp_path: Path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path)))
    evaluation_id = submitted(service)
    # A blip early in the evaluation's five minutes: the judges had time enough after it.
    outages_of(service.services.engine).note(utcnow() - timedelta(minutes=4))
    deadline_passed(service, evaluation_id, created_ago=timedelta(minutes=5))
    service.sweep(stalled_after_seconds=30)
    done, _ = service.get(evaluation_id)
    assert done.summary is not None
    assert done.summary.startswith("not judged before the deadline: no judge took it up")


def test_an_outage_into_the_last_moments_before_the_deadline_is_named(tmp_path: Path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path)))
    evaluation_id = submitted(service)
    outages = outages_of(service.services.engine)
    for seconds_ago in (200, 180, 150, 120, 90, 60, 30, 5):
        outages.note(utcnow() - timedelta(seconds=seconds_ago))
    deadline_passed(service, evaluation_id, created_ago=timedelta(minutes=5))
    service.sweep(stalled_after_seconds=30)
    done, _ = service.get(evaluation_id)
    assert done.summary is not None
    assert done.summary.startswith("not judged before the deadline: the database was unavailable (from ")
