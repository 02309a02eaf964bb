"""A new evaluation's message goes to the relay of the process that wrote it, claimed with its row: that relay sends
it by id after the commit and deletes it (one statement), without a claim of its own; another relay takes it only if
that process died before sending."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import event, update
from sqlmodel import Session, select

from sentinel.evaluation.service import EvaluationService
from sentinel.models import OutboxMessage
from sentinel.outbox import relay as relay_module
from sentinel.outbox import store
from sentinel.outbox.relay import Relay
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import own_postgres_database, png_bytes
from tests.faults.conftest import database as own_database

pytestmark = pytest.mark.integration


class RecordingBroker(StubBroker):
    """Notes the evaluation id of each message it takes (``sent``) and sets ``arrived``; ``tried`` names the thread
    of every attempt, refused ones included. ``away`` makes it refuse like a broker that is down, ``stall_seconds``
    makes each attempt take that long, like a broker that stalls."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []
        self.tried: list[str] = []
        self.away = False
        self.stall_seconds = 0.0
        self.arrived = threading.Event()

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        self.tried.append(threading.current_thread().name)
        time.sleep(self.stall_seconds)
        if self.away:
            raise ConnectionError("Connection refused")
        self.sent.append(message.args[0])
        self.arrived.set()
        return message


postgres_database = pytest.fixture(own_database.__wrapped__)  # type: ignore[attr-defined]


@pytest.fixture
def service(tmp_path: Path, postgres_database: str) -> Iterator[EvaluationService]:
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_database)
    built = EvaluationService(build_services(settings))
    yield built
    built.services.engine.dispose()


def submit(service: EvaluationService) -> str:
    return service.submit(service.validate("text-to-image", {}, {"image": png_bytes(64, 64)})).id


def rows(service: EvaluationService, evaluation_id: str) -> list[OutboxMessage]:
    with Session(service.services.engine) as session:
        return [row for row in session.exec(select(OutboxMessage)) if row.args[:1] == [evaluation_id]]


def wait_for(condition, seconds: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(condition())


def relay_statements(engine) -> tuple[list[str], Callable[[], None]]:  # type: ignore[no-untyped-def]
    """The first word of each statement the relay thread sends through ``engine``, and a function that stops noting."""
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "sentinel-outbox-relay":
            statements.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", note)
    return statements, lambda: event.remove(engine, "before_cursor_execute", note)


def test_the_writing_process_relay_sends_its_message_with_one_statement(service) -> None:
    engine = service.services.engine
    broker = RecordingBroker()
    relay = Relay(engine, broker, poll_seconds=3600)
    statements, stop_noting = relay_statements(engine)
    relay.start()
    try:
        # The relay's start-up round is one claim that finds nothing; after it, only what the test causes.
        assert wait_for(lambda: statements == ["UPDATE"]), statements
        statements.clear()
        evaluation_id = submit(service)
        assert broker.arrived.wait(30), "the relay waited for its hourly poll"
        assert wait_for(lambda: not rows(service, evaluation_id))
    finally:
        relay.stop()
        stop_noting()
    assert broker.sent == [evaluation_id]
    assert statements == ["DELETE"]  # no claim: the row was written claimed for this relay


def test_a_message_goes_to_the_relay_of_the_database_it_was_written_to(service, tmp_path: Path) -> None:
    """Two deployments in one process (tests, in-process tools): each commit hands its message to the relay of its
    own engine, never to the other's (which would enqueue it on the wrong broker and delete a row in the wrong
    database)."""
    with own_postgres_database() as other_url:
        other = EvaluationService(build_services(Settings(data_dir=tmp_path / "other", database_url=other_url)))
        ours_broker, others_broker = RecordingBroker(), RecordingBroker()
        ours = Relay(service.services.engine, ours_broker, poll_seconds=3600)
        theirs = Relay(other.services.engine, others_broker, poll_seconds=3600)
        theirs.start()  # registered first: a process-wide hand-off would go to it
        ours.start()
        try:
            other_id = submit(other)
            our_id = submit(service)
            assert ours_broker.arrived.wait(30) and others_broker.arrived.wait(30)
            assert wait_for(lambda: not rows(service, our_id) and not rows(other, other_id))
        finally:
            ours.stop()
            theirs.stop()
            other.services.engine.dispose()
    assert ours_broker.sent == [our_id]
    assert others_broker.sent == [other_id]


def test_a_message_whose_process_died_before_sending_goes_out_once_its_claim_runs_out(service, monkeypatch) -> None:
    engine = service.services.engine
    dropped: list[store.Handed] = []
    stop = store.receive_handoffs(engine, dropped.extend)  # a relay that dies before it sends
    try:
        evaluation_id = submit(service)
    finally:
        stop()
    assert [message.args[0] for message in dropped] == [evaluation_id]
    other = RecordingBroker()
    assert Relay(engine, other).send_pending() == 0  # held for the relay it was handed to
    with Session(engine) as session:  # its claim runs out
        session.execute(update(OutboxMessage).values(claimed_until=None))
        session.commit()
    assert Relay(engine, other).send_pending() == 1
    assert other.sent == [evaluation_id]


def test_a_handed_message_the_broker_refuses_is_sent_by_the_next_round(service) -> None:
    engine = service.services.engine
    broker = RecordingBroker()
    broker.away = True
    relay = Relay(engine, broker)
    handed: list[store.Handed] = []
    stop = store.receive_handoffs(engine, handed.extend)
    try:
        evaluation_id = submit(service)
    finally:
        stop()
    relay._receive(handed)
    assert relay.send_handed() == 0
    (row,) = rows(service, evaluation_id)
    assert (row.claimed_until, row.send_failures, row.sent_at) == (None, 1, None)
    broker.away = False
    assert relay.send_pending() == 1
    assert broker.sent == [evaluation_id]
    assert rows(service, evaluation_id) == []


def test_without_a_relay_in_the_process_the_message_is_written_unclaimed(service) -> None:
    evaluation_id = submit(service)
    (row,) = rows(service, evaluation_id)
    assert row.claimed_until is None
    assert Relay(service.services.engine, RecordingBroker()).send_pending() == 1


def test_a_handed_message_is_on_the_broker_when_the_commit_returns(service) -> None:
    """The committing thread enqueues it (the relay's thread only deletes its row): in a busy API, waking the relay's
    thread to enqueue it waited behind the requests for the interpreter, 0.3-0.6 s in a burst of uploads."""
    engine = service.services.engine
    broker = RecordingBroker()
    relay = Relay(engine, broker, poll_seconds=3600)
    relay.start()
    try:
        evaluation_id = submit(service)
        assert broker.sent == [evaluation_id]  # already, not soon
        assert broker.tried == [threading.current_thread().name]
        assert wait_for(lambda: not rows(service, evaluation_id))  # the relay's thread deleted its row
    finally:
        relay.stop()


def test_after_the_broker_refuses_one_commits_leave_their_messages_to_the_relay(service) -> None:
    """A broker that is away (or slow) is tried by one committing thread, not by every request: the next commits
    hand their messages to the relay's thread until it has sent one again."""
    engine = service.services.engine
    broker = RecordingBroker()
    broker.away = True
    relay = Relay(engine, broker, poll_seconds=3600)
    stop = store.receive_handoffs(engine, relay._receive)  # the relay's thread is not running: its steps are called
    try:
        first, second = submit(service), submit(service)
        assert broker.tried == [threading.current_thread().name]  # only the first commit tried the broker
        broker.away = False
        assert relay.send_handed() == 2  # the relay's thread sends both
        third = submit(service)
        assert broker.sent == [first, second, third]  # and the next commit enqueues its own again
        assert broker.tried[-1] == threading.current_thread().name
    finally:
        stop()


def test_after_a_slow_enqueue_commits_leave_their_messages_to_the_relay(service, monkeypatch) -> None:
    """A broker that stalls rather than refuses would hold every request up to its socket timeout: after one slow
    enqueue, commits hand their messages to the relay's thread."""
    monkeypatch.setattr(relay_module, "SLOW_ENQUEUE_SECONDS", 0.05)
    engine = service.services.engine
    broker = RecordingBroker()
    broker.stall_seconds = 0.2  # longer than SLOW_ENQUEUE_SECONDS as patched: a stalled broker, not a race
    relay = Relay(engine, broker, poll_seconds=3600)
    stop = store.receive_handoffs(engine, relay._receive)
    try:
        first, second = submit(service), submit(service)
        assert broker.sent == [first]  # the first went out, slowly; the second was left to the relay's thread
        assert relay.send_handed() == 1
        assert broker.sent == [first, second]
    finally:
        stop()


def test_the_rows_of_several_commits_messages_go_in_one_delete(service, monkeypatch) -> None:
    """In a busy API every request's commit enqueues its message: the relay's thread deletes their rows together,
    one DELETE for several requests (and it is not woken by every commit)."""
    # Longer than the three commits below take, on any machine; raising=False: a relay without it still runs.
    monkeypatch.setattr(relay_module, "FORGET_HANDED_SECONDS", 5.0, raising=False)
    engine = service.services.engine
    broker = RecordingBroker()
    relay = Relay(engine, broker, poll_seconds=3600)
    handed: list[store.Handed] = []
    stop_collecting = store.receive_handoffs(engine, handed.extend)
    evaluations = [submit(service) for _ in range(3)]
    stop_collecting()
    statements, stop_noting = relay_statements(engine)
    relay.start()
    try:
        assert wait_for(lambda: statements == ["UPDATE"]), statements  # its start-up round, which finds nothing
        statements.clear()
        for message in handed:  # three commits of one message each, in the committing threads
            relay._receive([message])
        assert broker.sent == evaluations
        assert wait_for(lambda: not any(rows(service, evaluation_id) for evaluation_id in evaluations))
    finally:
        relay.stop()
        stop_noting()
    assert statements == ["DELETE"]
