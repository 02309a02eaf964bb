"""The outbox: a message exists exactly when the change that implies it was committed, and goes out once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import create_engine, event, update
from sqlmodel import Session, col, select

from sentinel.db import build_engine
from sentinel.db.migrate import upgrade_engine
from sentinel.models import OutboxMessage
from sentinel.outbox.relay import Relay, backlog
from sentinel.outbox.store import Message, on_commit, write
from tests.faults.conftest import database as own_database

STEP = Message("judge_evaluation", "judging", ("ev_1", "pixels", 20.0))


class CountingBroker(StubBroker):
    """Counts what it is given; ``away`` makes it refuse like a broker that is down."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: Counter[tuple] = Counter()
        self.away = False
        self._lock = threading.Lock()

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        if self.away:
            raise ConnectionError("Connection refused")
        with self._lock:
            self.sent[message.args] += 1
        return message


postgres_database = pytest.fixture(own_database.__wrapped__)  # type: ignore[attr-defined]


@pytest.fixture
def engine(tmp_path):
    engine = build_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    upgrade_engine(engine)
    yield engine
    engine.dispose()


def unsent(engine) -> int:
    with Session(engine) as session:
        return len(list(session.exec(select(OutboxMessage).where(col(OutboxMessage.sent_at).is_(None)))))


def test_a_message_of_a_rolled_back_change_is_never_sent(engine) -> None:
    with Session(engine) as session:
        write(session, STEP)
        session.rollback()
    broker = CountingBroker()
    assert Relay(engine, broker).send_pending() == 0
    assert not broker.sent


def test_a_once_only_message_written_twice_is_one_message(engine) -> None:
    once = Message("evaluation_judged", "judging", ("ev_1",), dedupe_key="evaluation_judged:ev_1")
    for _ in range(2):  # the step that writes it delivered twice
        with Session(engine) as session:
            write(session, once)
            session.commit()
    broker = CountingBroker()
    assert Relay(engine, broker).send_pending() == 1
    assert broker.sent == Counter({("ev_1",): 1})


def test_messages_wait_while_the_broker_is_away_and_go_once_in_order_when_it_is_back(engine) -> None:
    with Session(engine) as session:
        write(session, *(Message("generate_attempt", "jobs", (f"job_{i}", 0, 1)) for i in range(5)))
        session.commit()
    broker = CountingBroker()
    broker.away = True
    relay = Relay(engine, broker)
    assert relay.send_pending() == 0
    assert unsent(engine) == 5
    with Session(engine) as session:
        assert {m.send_failures for m in session.exec(select(OutboxMessage))} == {1}
    broker.away = False
    assert relay.send_pending() == 5
    assert list(broker.sent) == [(f"job_{i}", 0, 1) for i in range(5)]
    assert relay.send_pending() == 0
    assert unsent(engine) == 0


def test_a_commit_wakes_the_relay_instead_of_waiting_for_its_poll(engine) -> None:
    broker = CountingBroker()
    relay = Relay(engine, broker, poll_seconds=3600)
    relay.start()
    try:
        with Session(engine) as session:
            write(session, STEP)
            session.commit()
        deadline = time.monotonic() + 30
        while not broker.sent and time.monotonic() < deadline:
            time.sleep(0.02)
        assert broker.sent, "the relay waited for its hourly poll"
    finally:
        relay.stop()


def test_two_relays_on_postgresql_send_each_message_once(postgres_database) -> None:
    engine = create_engine(postgres_database.replace("postgresql://", "postgresql+psycopg://"))
    upgrade_engine(engine)
    with Session(engine) as session:
        write(session, *(Message("generate_attempt", "jobs", (f"job_{i}", 0, 1)) for i in range(300)))
        session.commit()
    broker = CountingBroker()
    relays = [Relay(engine, broker) for _ in range(2)]

    def drain(relay: Relay) -> None:
        while relay.send_pending():
            pass

    threads = [threading.Thread(target=drain, args=(relay,)) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(broker.sent) == 300
    assert set(broker.sent.values()) == {1}
    engine.dispose()


def test_the_backlog_says_how_many_messages_wait_and_for_how_long(engine) -> None:
    assert backlog(engine) == (0, None)
    with Session(engine) as session:
        write(session, STEP, Message("generate_attempt", "jobs", ("job_1", 0, 1)))
        session.commit()
    waiting, oldest = backlog(engine)
    assert waiting == 2 and oldest is not None and oldest >= 0
    Relay(engine, CountingBroker()).send_pending()
    assert backlog(engine) == (0, None)


def test_a_relay_sends_what_another_relay_is_not_holding_without_waiting_for_it(postgres_database) -> None:
    """Messages locked by another relay's claim in progress are skipped, not waited for: one slow relay does not
    stall the others (a lock timeout turns waiting into an error here)."""
    url = postgres_database.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    impatient = create_engine(url, connect_args={"options": "-c lock_timeout=2000"})
    upgrade_engine(engine)
    with Session(engine) as session:
        write(session, *(Message("generate_attempt", "jobs", (f"job_{i}", 0, 1)) for i in range(5)))
        session.commit()
    broker = CountingBroker()
    try:
        with Session(engine) as other_relay:
            oldest = select(OutboxMessage.id).order_by(col(OutboxMessage.id)).limit(3).with_for_update()
            held = list(other_relay.exec(oldest))
            assert Relay(impatient, broker).send_pending() == 2
        assert sorted(broker.sent) == [(f"job_{i}", 0, 1) for i in (3, 4)]
        assert len(held) == 3
        assert Relay(impatient, broker).send_pending() == 3
        assert set(broker.sent.values()) == {1}
    finally:
        impatient.dispose()
        engine.dispose()


def test_a_relay_round_claims_in_one_statement_and_forgets_in_one(engine) -> None:
    """A round's database work is one claim and one delete of what went out, however many messages it sends (the
    relay runs in every process that writes messages, after every such commit)."""
    with Session(engine) as session:
        write(session, *(Message("generate_attempt", "jobs", (f"job_{i}", 0, 1)) for i in range(20)))
        session.commit()
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert Relay(engine, CountingBroker()).send_pending() == 20
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == ["UPDATE", "DELETE"]
    assert unsent(engine) == 0


def test_a_relay_round_on_postgresql_is_two_statements_without_transactions_around_them(postgres_database) -> None:
    """Each of a round's statements is atomic alone: a BEGIN and a COMMIT around each would be two more round trips
    (and the relay runs after every commit that wrote messages, in every process)."""
    engine = build_engine(postgres_database)
    upgrade_engine(engine)
    with Session(engine) as session:
        write(session, *(Message("generate_attempt", "jobs", (f"job_{i}", 0, 1)) for i in range(3)))
        session.commit()
    statements: list[tuple[str, bool]] = []

    def note(conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append((statement.split()[0].upper(), bool(conn.connection.dbapi_connection.autocommit)))

    event.listen(engine, "before_cursor_execute", note)
    try:
        assert Relay(engine, CountingBroker()).send_pending() == 3
    finally:
        event.remove(engine, "before_cursor_execute", note)
        engine.dispose()
    assert statements == [("UPDATE", True), ("DELETE", True)]


def test_the_sweep_is_one_statement_per_asker_and_the_asker_whose_row_went_in_enqueues_it(postgres_database) -> None:
    """Every process asks for the sweep every period; of all of them one row is written, and the process that wrote
    it enqueues the sweep: one INSERT per asker, committed alone, and no claim round, UPDATE nor wake-up to send it."""
    engine = build_engine(postgres_database)
    upgrade_engine(engine)
    broker = CountingBroker()
    first, second = (Relay(engine, broker, sweep_every_seconds=3600) for _ in range(2))
    statements: list[tuple[str, bool]] = []

    def note(conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append((statement.split()[0].upper(), bool(conn.connection.dbapi_connection.autocommit)))

    stop_waking = on_commit(first._wake.set)
    event.listen(engine, "before_cursor_execute", note)
    try:
        assert first.request_sweep()
        assert not second.request_sweep()  # another process asking for the same period
    finally:
        event.remove(engine, "before_cursor_execute", note)
        stop_waking()
    try:
        assert statements == [("INSERT", True), ("INSERT", True)]
        assert not first._wake.is_set()
        assert list(broker.sent.items()) == [((), 1)]  # the sweep, once
        assert unsent(engine) == 0
        assert first.send_pending() == second.send_pending() == 0
    finally:
        engine.dispose()


def test_a_sweep_the_broker_refused_is_not_sent_when_it_is_back(engine) -> None:
    """The next period's sweep does the same work: the stale ones of an outage would only repeat one another."""
    broker = CountingBroker()
    relay = Relay(engine, broker, sweep_every_seconds=3600)
    broker.away = True
    assert not relay.request_sweep()
    broker.away = False
    assert relay.send_pending() == 0
    assert not relay.request_sweep()  # the period's row is there: its sweep is not asked for twice
    assert not broker.sent


def test_a_sent_message_leaves_no_row_and_a_once_only_one_still_dedupes_after_it_went(engine) -> None:
    """What went out is deleted in the round that sent it (the sweep no longer has an hour of rows to delete), but
    a once-only message stays, marked sent, so that the step writing it, run again, adds nothing."""
    once = Message("evaluation_judged", "judging", ("ev_1",), dedupe_key="evaluation_judged:ev_1")
    with Session(engine) as session:
        write(session, STEP, once)
        session.commit()
    broker = CountingBroker()
    relay = Relay(engine, broker)
    assert relay.send_pending() == 2
    with Session(engine) as session:
        rows = list(session.exec(select(OutboxMessage)))
    assert [(row.dedupe_key, row.sent_at is not None) for row in rows] == [("evaluation_judged:ev_1", True)]
    with Session(engine) as session:  # the step that wrote it, delivered again
        write(session, once)
        session.commit()
    assert relay.send_pending() == 0
    assert broker.sent == Counter({("ev_1", "pixels", 20.0): 1, ("ev_1",): 1})
    assert relay.forget_sent(older_than_seconds=0) == 1
    assert unsent(engine) == 0


def test_a_round_that_outlived_its_claim_deletes_no_message_written_since(engine) -> None:
    """A relay held up past its claim: another relay sent its messages meanwhile. Deleting by id alone would delete
    whatever row has that id now (SQLite gives a new row the id of a deleted last row)."""
    with Session(engine) as session:
        write(session, STEP)
        session.commit()
    slow_broker = CountingBroker()
    slow = Relay(engine, slow_broker)
    taken_over = threading.Event()

    def held_up(message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        # The claim runs out while this relay is held up: another relay sends the message and deletes its row, and
        # a new message is written (with the same id, on SQLite).
        with Session(engine) as session:
            session.execute(update(OutboxMessage).values(claimed_until=None))
            session.commit()
        assert Relay(engine, CountingBroker()).send_pending() == 1
        with Session(engine) as session:
            write(session, Message("judge_evaluation", "judging", ("ev_2", "pixels", 20.0)))
            session.commit()
        taken_over.set()
        return message

    slow_broker.enqueue = held_up  # type: ignore[method-assign]
    assert slow.send_pending() == 1
    assert taken_over.is_set()
    assert unsent(engine) == 1  # the new message waits for its round


def test_old_sent_messages_are_deleted_once_a_minute_not_at_every_sweep(engine) -> None:
    """The sweep (every few seconds) asks to delete sent messages past their hour: one DELETE a minute does it."""
    once = Message("evaluation_judged", "judging", ("ev_1",), dedupe_key="evaluation_judged:ev_1")
    relay = Relay(engine, CountingBroker())
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert relay.forget_sent() == 0
        assert statements == ["DELETE"]
        with Session(engine) as session:
            write(session, once)
            session.commit()
        assert relay.send_pending() == 1
        statements.clear()
        assert relay.forget_sent(older_than_seconds=0) == 0  # the next sweep: too soon
        assert statements == []
        assert relay.forget_sent(older_than_seconds=0, every_seconds=0) == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)
