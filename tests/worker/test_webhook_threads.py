"""Webhook deliveries run on threads of their own in every worker process (P2-F18), on the real Redis broker.

A delivery waits on someone else's server; on the threads that judge, a few hung receivers stalled every judge
message behind them. Here "deliveries" are messages on the webhooks queue that hang until the test lets them go.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq import Worker

from sentinel.outbox.steps import JUDGING, WEBHOOKS
from sentinel.settings import Settings
from sentinel.worker import WEBHOOKS_QUEUE, build_broker
from sentinel.worker.own_threads import OwnThreadsForQueue, SideWorker
from tests.conftest import REDIS_URL, delete_redis_keys

GENEROUS_WAIT_SECONDS = 30
WEBHOOK_THREADS = 2


def test_the_webhooks_queue_is_the_one_deliveries_are_sent_to() -> None:
    assert WEBHOOKS_QUEUE == WEBHOOKS


class Hung:
    """What the fake deliveries and judge messages did: deliveries hang until ``release``."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[tuple[str, str]] = []
        self.judged: list[str] = []
        self.changed = threading.Condition()
        self.release = threading.Event()

    def wait_for(self, condition) -> bool:
        with self.changed:
            return self.changed.wait_for(condition, timeout=GENEROUS_WAIT_SECONDS)


class Process:
    """One worker process: its own broker on the shared namespace, the main worker with ``threads`` threads."""

    def __init__(self, settings: Settings, hung: Hung, name: str, threads: int = 1) -> None:
        self.broker = build_broker(settings)

        def deliver(value: str) -> None:
            with hung.changed:
                hung.started.append(value)
                hung.changed.notify_all()
            hung.release.wait(GENEROUS_WAIT_SECONDS * 2)
            with hung.changed:
                hung.finished.append((value, name))
                hung.changed.notify_all()

        def judge(value: str) -> None:
            with hung.changed:
                hung.judged.append(value)
                hung.changed.notify_all()

        self.deliver = dramatiq.actor(deliver, broker=self.broker, actor_name="deliver", queue_name=WEBHOOKS)
        self.judge = dramatiq.actor(judge, broker=self.broker, actor_name="judge", queue_name=JUDGING)
        self.worker = Worker(self.broker, worker_threads=threads, worker_timeout=100)
        self.worker.start()

    def side(self) -> SideWorker:
        own = next(m for m in self.broker.middleware if isinstance(m, OwnThreadsForQueue))
        return own.side[id(self.worker)]

    def stop(self) -> None:
        self.worker.stop(timeout=GENEROUS_WAIT_SECONDS * 1000)


@pytest.fixture
def settings() -> Iterator[Settings]:
    namespace = f"sentinel-test-{uuid.uuid4().hex[:12]}"
    try:
        yield Settings(redis_url=REDIS_URL, redis_namespace=namespace, webhook_threads=WEBHOOK_THREADS)
    finally:
        delete_redis_keys(namespace)


@pytest.fixture
def hung() -> Iterator[Hung]:
    held = Hung()
    try:
        yield held
    finally:
        held.release.set()


def test_judging_runs_while_hung_deliveries_hold_more_than_the_workers_threads(settings, hung) -> None:
    process = Process(settings, hung, "one", threads=1)
    try:
        for number in range(3):  # more than the worker's one thread, and than the webhook threads
            process.deliver.send(f"delivery-{number}")
        assert hung.wait_for(lambda: len(hung.started) >= 1)  # as many as the worker's threads

        process.judge.send("verdict")

        assert hung.wait_for(lambda: hung.judged == ["verdict"]), "the judge message waited behind the deliveries"
        assert hung.wait_for(lambda: len(hung.started) >= WEBHOOK_THREADS)
        with hung.changed:
            # Judged while the deliveries were held: none has finished. The third waits for a webhook thread.
            assert hung.finished == []
            assert len(hung.started) == WEBHOOK_THREADS
        hung.release.set()
        assert hung.wait_for(lambda: len(hung.finished) == 3)
    finally:
        process.stop()


def test_a_stopping_process_finishes_its_deliveries_in_flight_and_gives_back_the_rest(settings, hung) -> None:
    first = Process(settings, hung, "first")
    for number in range(3):
        first.deliver.send(f"delivery-{number}")
    assert hung.wait_for(lambda: len(hung.started) == WEBHOOK_THREADS)
    side = first.side()

    stopping = threading.Thread(target=first.stop, daemon=True)
    stopping.start()
    deadline = time.monotonic() + GENEROUS_WAIT_SECONDS
    while any(thread.running for thread in side.workers):  # told to stop: no thread takes another message
        assert time.monotonic() < deadline, "the delivery threads were not told to stop"
        time.sleep(0.01)
    hung.release.set()
    stopping.join(GENEROUS_WAIT_SECONDS)
    assert not stopping.is_alive()
    with hung.changed:
        # The two in flight finished in the stopping process; the third never started there.
        assert sorted(value for value, where in hung.finished if where == "first") == sorted(hung.started)
        assert len(hung.finished) == WEBHOOK_THREADS

    # Given back to Redis: the next process delivers it.
    second = Process(settings, hung, "second")
    try:
        assert hung.wait_for(lambda: len(hung.finished) == 3)
        assert [where for _, where in hung.finished] == ["first", "first", "second"]
    finally:
        second.stop()
