"""A provider call is counted in the key's spend once, whether the sweep or its (slow, still living) worker gets to it
first.

A worker that is alive but missed its lease renewals looks dead to the sweep: the sweep marks the attempt's call
``in_flight_at_crash`` and books its price; then the worker's answer completes the same row and its settle books the
call again. Or the worker completes the row between the sweep's count of the calls in flight and its update of them,
and the sweep books a call it no longer marked. Against PostgreSQL, with the worker's and the sweep's own code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlmodel import Session, col, select

from sentinel.generation.records import Record, write
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import attempt_request_id
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.keys.caller import Caller
from sentinel.keys.service import KeyService
from sentinel.models import JobAttempt, OutboxMessage, ProviderCall, SpendPeriod, utcnow
from sentinel.providers.calls import CallValues, InFlightCalls, insert_calls
from sentinel.services import Services
from sentinel.spend.service import Reservation, SpendService
from sentinel.worker.loop import run_async

PRICE = 0.04


class Attempt:
    """A job's first attempt whose worker has reserved its spend and written its provider call down (in flight)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        key, _ = KeyService(services).create("capped", ["generate"], spend_cap=1.0, period="day")
        self.caller = Caller.of(key)
        generation = run_async(open_generation(services))
        job = JobService(services, lambda: generation).create(
            JobCreate(task="text-to-image", prompt="a kite"), self.caller
        )
        with Session(services.engine) as session:
            session.execute(update(OutboxMessage).values(sent_at=utcnow()))  # this test runs each step itself
            session.commit()
        self.job_id = job.id
        self.request_id = attempt_request_id(job.id, 0, 1)
        spend = SpendService(services)
        reservation = spend.reserve(self.caller, PRICE, self.request_id)
        assert reservation is not None
        self.reservation: Reservation = reservation
        journal = InFlightCalls(services.engine, self.request_id, "paid")
        self.call_id = run_async(journal.sending("openai", "gpt-image-1", PRICE))

    def lease_runs_out(self) -> None:
        """The worker misses its renewals (a long GC pause, a stalled host): its lease ends by the database clock."""
        with Session(self.services.engine) as session:
            session.execute(
                update(JobAttempt)
                .where(col(JobAttempt.job_id) == self.job_id)
                .values(lease_until=utcnow() - timedelta(seconds=60))
            )
            session.commit()

    def answer(self) -> CallValues:
        """The provider's answer to the call, as the worker logs it: an image, at its price."""
        return CallValues(
            self.request_id, "paid", "openai", "gpt-image-1", "ok", 900.0, 200, 1234, PRICE, "", None, self.call_id
        )

    def worker_finishes(self) -> None:
        """The worker's generation commits its call log, then settles its reservation to what its calls cost."""
        record = Record(calls=[self.answer()])
        write(lambda: self.services.engine, self.services.images, [record])
        SpendService(self.services).settle(self.reservation, PRICE)

    def sweep(self) -> dict[str, int]:
        return JobRecovery(self.services, JobProgress(self.services)).sweep()

    def spend(self) -> SpendPeriod:
        with Session(self.services.engine) as session:
            return session.exec(select(SpendPeriod).where(SpendPeriod.key_id == self.caller.id)).one()

    def call(self) -> ProviderCall:
        with Session(self.services.engine) as session:
            found = session.get(ProviderCall, self.call_id)
            assert found is not None
            return found


@pytest.fixture
def attempt(pg_services: Services) -> Iterator[Attempt]:
    yield Attempt(pg_services)


def test_a_call_the_sweep_booked_and_its_live_worker_then_answered_is_counted_once(attempt: Attempt) -> None:
    attempt.lease_runs_out()
    swept = attempt.sweep()
    assert swept["in_flight_at_crash"] == 1
    assert attempt.spend().spent == pytest.approx(PRICE)

    attempt.worker_finishes()

    period = attempt.spend()
    assert period.spent == pytest.approx(PRICE)
    assert period.reserved == pytest.approx(0.0)
    # The call log says what came: the image, at its price.
    call = attempt.call()
    assert (call.outcome, call.cost_estimate) == ("ok", pytest.approx(PRICE))
    assert "answered after the sweep had marked it in_flight_at_crash" in call.message


def test_a_call_its_worker_answered_before_the_sweep_came_is_counted_once(attempt: Attempt) -> None:
    attempt.worker_finishes()
    attempt.lease_runs_out()
    swept = attempt.sweep()

    assert swept["in_flight_at_crash"] == 0
    period = attempt.spend()
    assert period.spent == pytest.approx(PRICE)
    assert period.reserved == pytest.approx(0.0)
    assert attempt.call().outcome == "ok"


def _waits_on_a_lock(services: Services, started: Callable[[], bool]) -> None:
    """Until another connection of the test's database waits on a row lock (the sweep's update of the call)."""
    ends = time.monotonic() + 30
    while time.monotonic() < ends and started():
        with services.engine.connect() as connection:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.01)  # polling for the state, not waiting for a race to go away
    raise AssertionError("the sweep never came to the call's row")


def test_a_call_its_worker_answered_while_the_sweep_was_marking_it_is_counted_once(attempt: Attempt) -> None:
    """The worker's completion holds the row (not committed yet) while the sweep, which already counted the call in
    flight, comes to update it; then the worker commits and settles."""
    attempt.lease_runs_out()
    services = attempt.services
    connection = services.engine.connect()
    swept: dict[str, Any] = {}
    try:
        transaction = connection.begin()
        insert_calls(connection, [attempt.answer()])
        sweeping = threading.Thread(target=lambda: swept.update(attempt.sweep()))
        sweeping.start()
        _waits_on_a_lock(services, sweeping.is_alive)
        transaction.commit()
    finally:
        connection.close()
    SpendService(services).settle(attempt.reservation, PRICE)
    sweeping.join(60)
    assert not sweeping.is_alive()

    assert swept["in_flight_at_crash"] == 0
    period = attempt.spend()
    assert period.spent == pytest.approx(PRICE)
    assert attempt.call().outcome == "ok"
