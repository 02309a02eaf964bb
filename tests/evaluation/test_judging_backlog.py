"""Backpressure (outside probe F6): while the judging queue holds more than the judges clear before the deadline, a
new evaluation is refused with a 503 `overloaded` and Retry-After, storing nothing, and /readyz fails naming the
backlog; an evaluation that no judge took up before its deadline says so, not "quorum not met".

The queue is the broker's own: dramatiq's in-process broker (the embedded default's) and a Redis broker on the real
server, in a namespace of the test's own, each holding judge messages that no worker takes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, update
from sqlmodel import Session, col, select

import sentinel.worker
from sentinel.evaluation import endpoints as evaluation_endpoints
from sentinel.evaluation.runner import VoteResult
from sentinel.evaluation.service import EvaluationService
from sentinel.http.errors import install_error_handlers
from sentinel.idempotency.service import IdempotencyService
from sentinel.models import Evaluation, EvaluationStatus, OutboxMessage, StoredImage, utcnow
from sentinel.ops import endpoints as ops_endpoints
from sentinel.settings import Settings, settings_problem
from sentinel.wiring import build_services
from tests.conftest import REDIS_URL, delete_redis_keys, png_bytes
from tests.support.served_services import services_as_served


@pytest.fixture(params=["in-process", "redis"])
def broker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[dramatiq.Broker]:
    """The broker the API reads its judging queue from; no worker takes from it."""
    if request.param == "in-process":
        made: dramatiq.Broker = StubBroker()
        namespace = None
    else:
        request.applymarker(pytest.mark.integration)
        namespace = f"sentinel-test-backlog-{uuid.uuid4().hex[:12]}"
        made = RedisBroker(url=REDIS_URL, namespace=namespace)
    made.declare_queue("judging")
    monkeypatch.setattr(sentinel.worker, "broker", made)
    yield made
    made.close()
    if namespace is not None:
        delete_redis_keys(namespace)


def queue_judge_messages(broker: dramatiq.Broker, count: int) -> None:
    for number in range(count):
        broker.enqueue(dramatiq.Message("judging", "judge_panel", (f"ev_{number}", ["pixels"], 30.0), {}, {}))


def api(settings: Settings) -> TestClient:
    """The evaluation and operations endpoints, as `sentinel serve` wires them (no worker, no relay)."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(evaluation_endpoints.router)
    app.include_router(ops_endpoints.router)
    services = services_as_served(settings)
    app.state.services = services
    app.state.evaluations = EvaluationService(services)
    app.state.idempotency = IdempotencyService(services)
    return TestClient(app, base_url="http://localhost")


def post_evaluation(http: TestClient) -> object:
    return http.post(
        "/v1/evaluations",
        data={"task": "text-to-image"},
        files={"image": ("a.png", png_bytes(120, 90), "image/png")},
    )


def stored(http: TestClient) -> tuple[int, int, int]:
    """Evaluations, images and outbox messages in the deployment's database."""
    engine = http.app.state.services.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        return (
            session.exec(select(func.count()).select_from(Evaluation)).one(),
            session.exec(select(func.count()).select_from(StoredImage)).one(),
            session.exec(select(func.count()).select_from(OutboxMessage)).one(),
        )


def test_a_new_evaluation_is_refused_with_a_retry_after_and_nothing_stored_while_the_judges_are_behind(
    tmp_path: Path, broker: dramatiq.Broker
) -> None:
    queue_judge_messages(broker, 5)
    with api(Settings(data_dir=tmp_path, max_judging_backlog=5)) as http:
        response = post_evaluation(http)
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "overloaded" and error["type"] == "server_error"
        assert "5 evaluations are waiting in the judging queue" in error["message"]
        assert "limit is 5" in error["message"] and "SENTINEL_MAX_JUDGING_BACKLOG" in error["message"]
        assert int(response.headers["retry-after"]) >= 1
        assert stored(http) == (0, 0, 0)


def test_a_new_evaluation_is_accepted_while_the_queue_is_under_its_limit(
    tmp_path: Path, broker: dramatiq.Broker
) -> None:
    queue_judge_messages(broker, 4)
    with api(Settings(data_dir=tmp_path, max_judging_backlog=5)) as http:
        response = post_evaluation(http)
        assert response.status_code == 202, response.text
        assert stored(http)[0] == 1


def test_readyz_fails_naming_the_backlog_while_new_evaluations_are_refused(
    tmp_path: Path, broker: dramatiq.Broker
) -> None:
    queue_judge_messages(broker, 3)
    with api(Settings(data_dir=tmp_path, max_judging_backlog=3)) as http:
        response = http.get("/readyz")
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["failing"] == ["judging"]
        assert "3 judge message(s) waiting for a worker; the limit is 3" in body["checks"]["judging"]["detail"]
        assert "refused" in body["checks"]["judging"]["detail"]
    with api(Settings(data_dir=tmp_path, max_judging_backlog=4)) as http:
        response = http.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["checks"]["judging"] == {
            "ok": True,
            "detail": "3 judge message(s) waiting for a worker; the limit is 4",
            "duration_ms": response.json()["checks"]["judging"]["duration_ms"],
        }


def test_the_default_takes_a_burst_of_400_and_refuses_what_the_deadline_cannot_clear(tmp_path: Path) -> None:
    broker = StubBroker()
    broker.declare_queue("judging")
    settings = Settings(data_dir=tmp_path)
    assert settings.judging_backlog_limit == 450  # 1.5 evaluations a second for the 300 s deadline
    assert Settings(data_dir=tmp_path, evaluation_deadline_seconds=60).judging_backlog_limit == 90
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sentinel.worker, "broker", broker)
        queue_judge_messages(broker, 400)
        with api(settings) as http:
            assert post_evaluation(http).status_code == 202
        queue_judge_messages(broker, 50)
        with api(settings) as http:
            assert post_evaluation(http).status_code == 503


def test_the_broker_is_asked_at_most_once_a_second_however_many_requests_come() -> None:
    from sentinel.evaluation.admission import JudgingAdmission

    now = [100.0]
    asked: list[int] = []

    def depth() -> int:
        asked.append(1)
        return 7

    admission = JudgingAdmission(Settings(max_judging_backlog=100), depth, clock=lambda: now[0])
    for _ in range(50):
        if admission.fresh() is None:
            admission.reading()
        with admission.admitted():
            pass
    assert len(asked) == 1
    now[0] += 1.0
    assert admission.fresh() is None and admission.reading().waiting == 7
    assert len(asked) == 2


def test_a_broker_that_cannot_say_refuses_nothing() -> None:
    from sentinel.evaluation.admission import JudgingAdmission

    def depth() -> int:
        raise ConnectionError("Redis is away")

    admission = JudgingAdmission(Settings(max_judging_backlog=1), depth)
    backlog = admission.reading()
    with admission.admitted():  # no Overloaded: its sends wait in the outbox, and /readyz's broker check fails
        pass
    assert backlog.waiting is None and not backlog.refusing


@pytest.mark.parametrize("value", [0, -5, "many"])
def test_a_backlog_limit_out_of_range_is_refused_naming_the_variable(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(max_judging_backlog=value)
    assert "SENTINEL_MAX_JUDGING_BACKLOG" in settings_problem(caught.value)


def past_its_deadline(service: EvaluationService) -> str:
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(200, 200)}))
    with Session(service.services.engine) as session:
        session.execute(
            update(Evaluation)
            .where(col(Evaluation.id) == evaluation.id)
            .values(deadline_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    return evaluation.id


def test_an_evaluation_no_judge_took_up_before_its_deadline_says_so_and_waits_for_a_person(tmp_path: Path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path)))
    evaluation_id = past_its_deadline(service)
    assert service.sweep(stalled_after_seconds=30, judging_waiting=1234)["finalised"] == 1
    done, votes = service.get(evaluation_id)
    assert done.status == EvaluationStatus.DONE
    # Amber: a person decides (green needs votes; red would regenerate a job's image for nothing found wrong).
    assert done.verdict == "amber"
    assert done.summary == (
        "not judged before the deadline: the judges were overloaded (1234 evaluations queued; none took this one up "
        "within 300 s)"
    )
    assert votes == []


def test_one_with_no_queue_to_blame_says_no_judge_took_it_up(tmp_path: Path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path)))
    evaluation_id = past_its_deadline(service)
    service.sweep(stalled_after_seconds=30, judging_waiting=0)
    done, _ = service.get(evaluation_id)
    assert done.summary is not None and done.summary.startswith("not judged before the deadline: no judge took it up")


def test_one_a_judge_voted_on_still_says_whose_votes_were_missing(tmp_path: Path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path)))
    evaluation_id = past_its_deadline(service)
    done, _ = service.get(evaluation_id)
    service.record_vote(evaluation_id, VoteResult(done.panel[0], True, "fine", [], 1.0))
    service.sweep(stalled_after_seconds=30, judging_waiting=1234)
    done, _ = service.get(evaluation_id)
    assert done.summary is not None and done.summary.startswith("quorum not met: 1 of")


def test_the_requests_of_a_burst_count_as_they_are_admitted_not_only_once_the_broker_has_them() -> None:
    # The second of two bursts of 400 on the embedded default all passed one reading of ~350 against 600: the
    # queue reached 741, more than the judges cleared before the deadline.
    from sentinel.evaluation.admission import JudgingAdmission, Overloaded

    now = [100.0]
    admission = JudgingAdmission(Settings(max_judging_backlog=5), lambda: 3, clock=lambda: now[0])
    admission.reading()
    with admission.admitted(), admission.admitted():
        with pytest.raises(Overloaded) as refused, admission.admitted():
            pass
        assert "5 evaluations are waiting" in refused.value.message
    # Answered, but not in the broker's queue as of the last reading: still counted until the next one.
    with pytest.raises(Overloaded), admission.admitted():
        pass
    now[0] += 1.0
    admission.reading()  # the broker has them now, or their judges took them: counted once, by the broker
    with admission.admitted():
        pass
