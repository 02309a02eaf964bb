"""A new job is refused while the judges are overloaded (outside probe F6): its attempts' images would wait in the
judging queue past their evaluation's deadline, paid for and never judged. An accepted job's attempts are not
refused (see sentinel/jobs/endpoints.py)."""

from __future__ import annotations

from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

import sentinel.worker
from sentinel.evaluation.service import EvaluationService
from sentinel.http.errors import install_error_handlers
from sentinel.idempotency.service import IdempotencyService
from sentinel.jobs import endpoints as job_endpoints
from sentinel.models import Job
from sentinel.settings import Settings
from sentinel.wiring import build_services


def test_a_new_job_is_refused_with_a_retry_after_while_the_judging_queue_is_at_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = StubBroker()
    broker.declare_queue("judging")
    monkeypatch.setattr(sentinel.worker, "broker", broker)
    for number in range(2):
        broker.enqueue(dramatiq.Message("judging", "judge_panel", (f"ev_{number}", ["pixels"], 30.0), {}, {}))
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(job_endpoints.router)
    services = build_services(Settings(data_dir=tmp_path, max_judging_backlog=2))
    app.state.services = services
    app.state.evaluations = EvaluationService(services)
    app.state.idempotency = IdempotencyService(services)
    with TestClient(app, base_url="http://localhost") as http:
        response = http.post("/v1/jobs", json={"task": "text-to-image", "prompt": "a red bicycle"})
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "overloaded"
    assert "a new job would not be judged in time" in response.json()["error"]["message"]
    assert int(response.headers["retry-after"]) >= 1
    with Session(services.engine) as session:
        assert session.exec(select(func.count()).select_from(Job)).one() == 0
