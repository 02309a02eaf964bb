"""The evaluation sweep, step by step: what it re-sends after messages were lost, what it leaves alone, and what
it finalises. (The fault tests around it show it at work on real processes.)"""

from __future__ import annotations

from datetime import timedelta

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.db import insert_unless_present
from sentinel.evaluation.runner import VoteResult
from sentinel.evaluation.service import EvaluationService
from sentinel.models import Evaluation, EvaluationStatus, OutboxMessage, Vote, utcnow
from sentinel.outbox.relay import Relay
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import wait_for_started
from sentinel.workflow import actors, runtime
from tests.conftest import png_bytes
from tests.faults.conftest import wait_until


def asked(service: EvaluationService) -> list[tuple[str, str]]:
    """The judges asked by the panel messages waiting in the outbox (written, not yet sent): (evaluation id, judge)."""
    with Session(service.services.engine) as session:
        rows = session.exec(
            select(OutboxMessage).where(OutboxMessage.actor == "judge_panel", col(OutboxMessage.sent_at).is_(None))
        )
        return [(row.args[0], judge) for row in rows for judge in row.args[1]]


def forget_asked(service: EvaluationService) -> None:
    """As if the relay had sent everything waiting (to a broker that then lost it)."""
    with Session(service.services.engine) as session:
        session.execute(update(OutboxMessage).values(sent_at=utcnow()))
        session.commit()


class BrokerAway(StubBroker):
    def enqueue(self, message, *, delay=None):  # type: ignore[no-untyped-def]
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def age(service: EvaluationService, evaluation_id: str, **shift: timedelta) -> None:
    """Move an evaluation's timestamps into the past (``created_at=...``, ``deadline_at=...``)."""
    with Session(service.services.engine) as session:
        values = {name: utcnow() - delta for name, delta in shift.items()}
        session.execute(update(Evaluation).where(col(Evaluation.id) == evaluation_id).values(**values))
        session.commit()


def vote(service: EvaluationService, evaluation_id: str, judge: str) -> None:
    service.record_vote(evaluation_id, VoteResult(judge, True, "fine", [], 1.0))


def test_sweep_resends_only_the_missing_judges_of_a_stalled_evaluation_once_per_period(tmp_path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path)))
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(200, 200)}))
    first, *others = evaluation.panel
    assert others, evaluation.panel
    assert sorted(j for _, j in asked(service)) == sorted(evaluation.panel)
    forget_asked(service)

    # Fresh: its messages may simply be queued behind others.
    assert service.sweep(stalled_after_seconds=60) == {"resent": 0, "finalised": 0}
    vote(service, evaluation.id, first)
    age(service, evaluation.id, created_at=timedelta(minutes=5))
    # A vote landed just now: still moving.
    assert service.sweep(stalled_after_seconds=60)["resent"] == 0

    assert service.sweep(stalled_after_seconds=0) == {"resent": 1, "finalised": 0}
    assert sorted(asked(service)) == sorted((evaluation.id, j) for j in others)
    # Just re-sent: not again until another stalled period has passed.
    forget_asked(service)
    assert service.sweep(stalled_after_seconds=60)["resent"] == 0
    assert asked(service) == []

    for judge in others:
        vote(service, evaluation.id, judge)
    assert service.get(evaluation.id)[0].status == EvaluationStatus.DONE
    assert service.sweep(stalled_after_seconds=0) == {"resent": 0, "finalised": 0}


def test_sweep_finalises_past_the_deadline_and_when_every_vote_is_in(tmp_path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path)))
    late = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(210, 210)}))
    complete = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(220, 220)}))
    age(service, late.id, deadline_at=timedelta(seconds=1))
    # Every vote in, but the process that stored the last one died before finalising.
    with Session(service.services.engine) as session:
        for judge in complete.panel:
            values = {"evaluation_id": complete.id, "judge": judge, "passed": True, "reasoning": "ok"}
            insert_unless_present(
                session, Vote, {**values, "criteria": [], "duration_ms": 1.0}, ["evaluation_id", "judge"]
            )
        session.commit()
    assert service.sweep(stalled_after_seconds=60) == {"resent": 0, "finalised": 2}
    with Session(service.services.engine) as session:
        assert session.get(Evaluation, late.id).verdict == "amber"  # no votes: quorum not met
        assert session.get(Evaluation, complete.id).verdict == "green"


def test_judge_messages_wait_in_the_outbox_while_the_broker_is_away_and_go_once_it_is_back(tmp_path) -> None:
    services = build_services(Settings(data_dir=tmp_path))
    service = EvaluationService(services)
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(230, 230)}))
    # Stored and answered without touching the broker: the caller gets its 202 whatever the broker does.
    assert Relay(services.engine, BrokerAway()).send_pending() == 0
    assert sorted(j for _, j in asked(service)) == sorted(evaluation.panel)
    back = StubBroker()
    assert Relay(services.engine, back).send_pending() == 1  # one message asks the whole panel
    sent = [dramatiq.Message.decode(m) for m in back.queues["judging"].queue]
    assert [(m.actor_name, m.args[0], sorted(m.args[1])) for m in sent] == [
        ("judge_panel", evaluation.id, sorted(evaluation.panel))
    ]
    assert asked(service) == []
    assert Relay(services.engine, back).send_pending() == 0  # sent once


def test_sweep_leaves_judges_alone_while_they_are_inside_their_time_limit(tmp_path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path)))
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(240, 240)}))
    forget_asked(service)
    limit = max(service.services.panel.get(name).timeout_seconds for name in evaluation.panel)
    # Sent a little while ago, still inside every judge's limit: at work, not lost, so not paid for twice.
    age(service, evaluation.id, created_at=timedelta(seconds=limit / 2))
    assert service.sweep(stalled_after_seconds=1)["resent"] == 0
    assert asked(service) == []
    age(service, evaluation.id, created_at=timedelta(seconds=limit + 5))
    assert service.sweep(stalled_after_seconds=1)["resent"] == 1


def test_a_vision_judge_that_runs_out_of_time_records_its_abstention_and_is_not_sent_again(
    tmp_path, monkeypatch
) -> None:
    from sentinel_fakes import chat
    from sentinel_fakes.server import serve
    from sentinel_fakes.vision import VisionScript
    from tests.judges.test_vision_judges import GOOD, KEY, offline_judges, rubric_file, vision_judge_file

    monkeypatch.setenv("SENTINEL_TEST_VISION_KEY", KEY)
    script = VisionScript(api_key=KEY, default="trickle", trickle_seconds=0.5)
    with serve(chat.create_app(script)) as server:
        judges, rubrics = tmp_path / "judges", tmp_path / "rubrics"
        judges.mkdir()
        rubrics.mkdir()
        offline_judges(judges)
        vision_judge_file(judges, "eye", server.url, timeout_seconds=2)
        rubric_file(rubrics)
        settings = Settings(data_dir=tmp_path / "data", judges_dir=str(judges), rubrics_dir=rubrics)
        service = EvaluationService(build_services(settings))
        submission = service.validate("product-vision", {"prompt": "a cup"}, {"image": GOOD})
        evaluation = service.submit(submission)
        assert "eye" in evaluation.panel
        forget_asked(service)
        for judge in evaluation.panel:
            service.process_judge_message(evaluation.id, judge)
        # The vision call runs on the background loop: the message was done when it started.
        assert wait_for_started(timeout=30) == 0
        done, votes = service.get(evaluation.id)
        [vote] = [v for v in votes if v.judge == "eye"]
        assert vote.passed is None and "no answer within its 2 s limit" in vote.reasoning
        assert done.verdict == "amber"  # no quorum: never green from a judge that did not answer
        age(service, evaluation.id, created_at=timedelta(minutes=10))
        assert service.sweep(stalled_after_seconds=0) == {"resent": 0, "finalised": 0}
        assert asked(service) == [] and len(script.requests) == 1


def test_a_slow_vision_model_holds_no_worker_thread(tmp_path, monkeypatch) -> None:
    """One worker thread, four evaluations, a model that takes its time: the four calls are in flight together,
    where a judge waiting on its thread would make them one after another."""
    from sentinel_fakes import chat
    from sentinel_fakes.server import serve
    from sentinel_fakes.vision import VisionScript
    from tests.judges.test_vision_judges import GOOD, KEY, offline_judges, rubric_file, vision_judge_file

    monkeypatch.setenv("SENTINEL_TEST_VISION_KEY", KEY)
    script = VisionScript(api_key=KEY, default="slow", slow_seconds=5)
    with serve(chat.create_app(script)) as server:
        judges, rubrics = tmp_path / "judges", tmp_path / "rubrics"
        judges.mkdir()
        rubrics.mkdir()
        offline_judges(judges)
        vision_judge_file(judges, "eye", server.url, timeout_seconds=60)
        rubric_file(rubrics, escalate=False)
        settings = Settings(data_dir=tmp_path / "data", judges_dir=str(judges), rubrics_dir=rubrics)
        service = EvaluationService(build_services(settings))
        broker = actors.judge_evaluation.broker
        assert isinstance(broker, StubBroker)
        monkeypatch.setattr(runtime, "evaluations", lambda: service)
        worker = Worker(broker, worker_threads=1)
        worker.start()
        relay = Relay(service.services.engine, broker, poll_seconds=0.1)
        relay.start()
        try:
            submitted = [
                service.submit(service.validate("product-vision", {"prompt": "a cup"}, {"image": GOOD}))
                for _ in range(4)
            ]
            wait_until(lambda: all(service.get(e.id)[0].verdict for e in submitted), seconds=90, what="four verdicts")
        finally:
            relay.stop()
            worker.stop()
        verdicts = [service.get(e.id)[0].verdict for e in submitted]
    assert verdicts == ["green"] * 4
    assert script.most_at_once >= 2, "each call waited for the one before it: a worker thread was held"


def test_a_judge_asked_again_while_its_call_is_in_flight_is_not_called_twice(tmp_path, monkeypatch) -> None:
    """The sweep cannot tell a call that started late (its message waited in a queue) from a lost one, and asks
    again; the process that has the call in flight does not pay for a second one."""
    from sentinel_fakes import chat
    from sentinel_fakes.server import serve
    from sentinel_fakes.vision import VisionScript
    from tests.judges.test_vision_judges import GOOD, KEY, offline_judges, rubric_file, vision_judge_file

    monkeypatch.setenv("SENTINEL_TEST_VISION_KEY", KEY)
    script = VisionScript(api_key=KEY, default="slow", slow_seconds=3)
    with serve(chat.create_app(script)) as server:
        judges, rubrics = tmp_path / "judges", tmp_path / "rubrics"
        judges.mkdir()
        rubrics.mkdir()
        offline_judges(judges)
        vision_judge_file(judges, "eye", server.url, timeout_seconds=20)
        rubric_file(rubrics, escalate=False)
        settings = Settings(data_dir=tmp_path / "data", judges_dir=str(judges), rubrics_dir=rubrics)
        service = EvaluationService(build_services(settings))
        evaluation = service.submit(service.validate("product-vision", {"prompt": "a cup"}, {"image": GOOD}))
        forget_asked(service)
        for judge in evaluation.panel:
            service.process_judge_message(evaluation.id, judge)
        wait_until(lambda: script.received == 1, seconds=20, what="the call to the model")
        # Long enough ago by the database's clock that the sweep takes the judge for lost.
        age(service, evaluation.id, created_at=timedelta(seconds=60))
        assert service.sweep(stalled_after_seconds=0)["resent"] == 1
        for evaluation_id, judge in asked(service):
            service.process_judge_message(evaluation_id, judge)
        assert wait_for_started(timeout=30) == 0
        done, votes = service.get(evaluation.id)
    assert [v.passed for v in votes if v.judge == "eye"] == [True]
    assert done.verdict == "green"
    assert script.received == 1


def test_a_quiet_evaluation_is_not_sent_again_while_judge_messages_wait_in_the_queue(tmp_path) -> None:
    # A backlog longer than the stalled period (400 evaluations at once on two cores): each queued evaluation was
    # taken for lost and its judges sent again, every sweep period, while its first message still waited its turn.
    service = EvaluationService(build_services(Settings(data_dir=tmp_path)))
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes(250, 250)}))
    forget_asked(service)
    limit = max(service.services.panel.get(name).timeout_seconds for name in evaluation.panel)
    age(service, evaluation.id, created_at=timedelta(seconds=limit + 60))
    assert service.sweep(stalled_after_seconds=1, judging_waiting=120) == {"resent": 0, "finalised": 0}
    assert asked(service) == []
    # The queue drained and its votes never came: lost after all, and asked again.
    assert service.sweep(stalled_after_seconds=1, judging_waiting=0) == {"resent": 1, "finalised": 0}
    assert sorted(j for _, j in asked(service)) == sorted(evaluation.panel)


def test_the_sweep_counts_the_judge_messages_no_worker_has_taken(tmp_path, monkeypatch) -> None:
    from sentinel.ops import metrics

    broker = StubBroker()
    broker.declare_queue("judging")
    monkeypatch.setattr(metrics, "broker", broker)
    assert metrics.waiting_messages("judging") == 0
    for number in range(3):
        broker.enqueue(dramatiq.Message("judging", "judge_panel", (f"ev_{number}", ["pixels"], 30.0), {}, {}))
    assert metrics.waiting_messages("judging") == 3
    assert actors._judging_waiting() == 3
