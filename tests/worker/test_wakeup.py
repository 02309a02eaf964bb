"""Idle Redis workers wait for a wake-up instead of polling, and still never miss a message.

Each test sets the idle poll (the fallback when no wake-up comes) to 60 s and waits at most 30 s for what it
expects: anything that arrives in time came through a wake-up. "Processes" are brokers of their own (their own
connections and broker ids, as separate processes have) on one namespace of the real Redis.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import dramatiq
import pytest
import redis
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.message import Message

from sentinel.settings import Settings
from sentinel.worker import build_broker
from sentinel.worker.wakeup import WakingRedisBroker
from tests.conftest import REDIS_URL, delete_redis_keys

#: Longer than any wait below: only a wake-up makes a message arrive in time.
IDLE_POLL_MS = 60_000
#: The heartbeat caps the idle poll at a third of it.
HEARTBEAT_TIMEOUT_MS = 300_000
GENEROUS_WAIT_SECONDS = 30
QUEUE = "wakeup-test"
ACTOR = "record_wakeup"


class Processed:
    """What the workers ran, in order: (value, current_millis() when it ran, which worker)."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int, str]] = []
        self.changed = threading.Condition()

    def record(self, value: str, worker: str) -> None:
        with self.changed:
            self.runs.append((value, current_millis(), worker))
            self.changed.notify_all()

    def values(self) -> list[str]:
        with self.changed:
            return [value for value, _, _ in self.runs]

    def wait_for(self, expected: set[str]) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: expected <= {value for value, _, _ in self.runs}, timeout=GENEROUS_WAIT_SECONDS
            )


class Together:
    """Holds every message a worker starts until messages have started in ``workers`` different workers."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.started: set[str] = set()
        self.changed = threading.Condition()

    def started_in(self, worker: str) -> None:
        with self.changed:
            self.started.add(worker)
            self.changed.notify_all()
            self.changed.wait_for(lambda: len(self.started) >= self.workers, timeout=GENEROUS_WAIT_SECONDS)


class Cluster:
    def __init__(self, namespace: str, heartbeat_timeout_ms: int = HEARTBEAT_TIMEOUT_MS) -> None:
        self.namespace = namespace
        self.settings = Settings(
            redis_url=REDIS_URL,
            redis_namespace=namespace,
            worker_idle_poll_ms=IDLE_POLL_MS,
            redis_heartbeat_timeout_ms=heartbeat_timeout_ms,
        )
        self.processed = Processed()
        self.workers: list[Worker] = []
        self.brokers: list[WakingRedisBroker] = []
        self.sender = build_broker(self.settings)
        self.admin = redis.Redis.from_url(REDIS_URL, decode_responses=True)

    def start_worker(self, name: str, threads: int = 2, together: Together | None = None) -> Worker:
        broker = build_broker(self.settings)
        assert isinstance(broker, WakingRedisBroker)
        self.brokers.append(broker)
        processed = self.processed

        def record_wakeup(value: str) -> None:
            if together is not None:
                together.started_in(name)
            processed.record(value, name)

        dramatiq.actor(record_wakeup, broker=broker, actor_name=ACTOR, queue_name=QUEUE)
        worker = Worker(broker, worker_threads=threads, worker_timeout=100)
        worker.start()
        self.workers.append(worker)
        return worker

    def send(self, value: str, delay_ms: int | None = None) -> None:
        message = Message(queue_name=QUEUE, actor_name=ACTOR, args=(value,), kwargs={}, options={})
        self.sender.enqueue(message, delay=delay_ms)

    def wait_until_idle(self, consumers: int, idle_seconds: int = 1) -> None:
        """Until ``consumers`` consumers have been blocked waiting, without asking Redis anything, for at least
        ``idle_seconds`` (ten times the old 100 ms poll)."""
        deadline = time.monotonic() + GENEROUS_WAIT_SECONDS
        while True:
            ours = {address for broker in self.brokers for address in wait_connection_addresses(broker)}
            waiting = [
                client
                for client in self.admin.client_list()
                if client["addr"] in ours and client["cmd"] == "blpop" and int(client["idle"]) >= idle_seconds
            ]
            if len(waiting) >= consumers:
                return
            assert time.monotonic() < deadline, f"only {len(waiting)} of {consumers} consumers came to wait"
            time.sleep(0.05)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(timeout=GENEROUS_WAIT_SECONDS * 1000)
        self.admin.close()


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    namespace = f"sentinel-test-{uuid.uuid4().hex[:12]}"
    running = Cluster(namespace, getattr(request, "param", HEARTBEAT_TIMEOUT_MS))
    try:
        yield running
    finally:
        running.close()
        delete_redis_keys(namespace)


def test_an_idle_worker_runs_a_new_message_at_once(cluster: Cluster) -> None:
    cluster.start_worker("one")
    # Its queue's and its delay queue's consumers, both blocked for a while, asking Redis nothing.
    cluster.wait_until_idle(consumers=2, idle_seconds=2)

    cluster.send("hello")

    assert cluster.processed.wait_for({"hello"}), "the message waited for the idle poll"


def test_no_message_is_lost_between_two_worker_processes(cluster: Cluster) -> None:
    cluster.start_worker("one")
    cluster.start_worker("two")
    sent: set[str] = set()
    # Bursts from one message to more than both workers prefetch, each sent to workers that had gone idle.
    for burst, size in enumerate([1, 2, 1, 5, 3, 9, 1, 17, 2, 40]):
        cluster.wait_until_idle(consumers=4)
        for number in range(size):
            value = f"{burst}-{number}"
            sent.add(value)
            cluster.send(value)
        assert cluster.processed.wait_for(sent), f"burst {burst}: {sorted(sent - set(cluster.processed.values()))}"
    assert set(cluster.processed.values()) == sent


def test_a_backlog_found_by_one_worker_wakes_the_others(cluster: Cluster) -> None:
    """Messages that rang no doorbell (sent by an older Sentinel, or put back by dramatiq's maintenance): the
    consumer that finds more than it can take wakes the next one, so the backlog does not wait for one worker."""
    together = Together(workers=2)
    cluster.start_worker("one", together=together)
    cluster.start_worker("two", together=together)
    cluster.wait_until_idle(consumers=4)
    plain = RedisBroker(client=redis.Redis.from_url(REDIS_URL), namespace=cluster.namespace)
    backlog = {f"quiet-{number}" for number in range(12)}
    for value in sorted(backlog):
        plain.enqueue(Message(queue_name=QUEUE, actor_name=ACTOR, args=(value,), kwargs={}, options={}))
    plain.client.close()

    cluster.send("loud")

    # Each worker's messages wait until the other worker has started one too.
    assert cluster.processed.wait_for(backlog | {"loud"}), "only one worker took the backlog"
    assert {worker for _, _, worker in cluster.processed.runs} == {"one", "two"}


def test_a_delayed_message_runs_when_due(cluster: Cluster) -> None:
    cluster.start_worker("one")
    cluster.wait_until_idle(consumers=2)

    due = current_millis() + 1_500
    cluster.send("later", delay_ms=1_500)
    cluster.send("now")

    assert cluster.processed.wait_for({"now", "later"}), "the delayed message waited for the idle poll"
    runs = {value: ran_at for value, ran_at, _ in cluster.processed.runs}
    assert runs["later"] >= due, "the delayed message ran before its time"


def test_a_retried_message_runs_again_on_an_idle_worker(cluster: Cluster) -> None:
    """A failure's retry goes through the delay queue, then back to the queue: two wake-ups."""
    broker = build_broker(cluster.settings)
    assert isinstance(broker, WakingRedisBroker)
    cluster.brokers.append(broker)
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(current_millis())
        cluster.processed.record(f"attempt-{len(attempts)}", "one")
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")

    dramatiq.actor(flaky, broker=broker, queue_name=QUEUE, max_retries=1, min_backoff=500, max_backoff=500)
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    cluster.workers.append(worker)
    cluster.wait_until_idle(consumers=2)

    cluster.sender.enqueue(Message(queue_name=QUEUE, actor_name="flaky", args=(), kwargs={}, options={}))

    assert cluster.processed.wait_for({"attempt-1", "attempt-2"}), "the retry waited for the idle poll"


@pytest.mark.parametrize("cluster", [3_000], indirect=True)
def test_an_idle_worker_stays_alive_for_the_others(cluster: Cluster) -> None:
    """Its fetches are its heartbeat: an idle worker asks Redis within the heartbeat timeout whatever the idle
    poll, or the other workers' maintenance would take back the messages it is running."""
    cluster.start_worker("one")
    cluster.wait_until_idle(consumers=2)
    heartbeats = f"{cluster.namespace}:__heartbeats__"
    broker_id = cluster.brokers[0].broker_id
    idle_since = cluster.admin.zscore(heartbeats, broker_id)
    assert idle_since is not None

    deadline = time.monotonic() + GENEROUS_WAIT_SECONDS
    while (cluster.admin.zscore(heartbeats, broker_id) or 0) < idle_since + 3_000:
        assert time.monotonic() < deadline, "an idle worker's heartbeat went older than the heartbeat timeout"
        time.sleep(0.1)


def test_a_worker_stops_at_once(cluster: Cluster) -> None:
    worker = cluster.start_worker("one")
    cluster.wait_until_idle(consumers=2)
    # Stopping while the consumer that ran it goes back to wait.
    cluster.send("before")
    assert cluster.processed.wait_for({"before"})

    stopped = run_in_thread(lambda: worker.stop(timeout=GENEROUS_WAIT_SECONDS * 1000 * 4))

    stopped.join(GENEROUS_WAIT_SECONDS)
    assert not stopped.is_alive(), "stopping waited for the consumers' idle poll"
    cluster.workers.remove(worker)
    # Another worker still gets what is sent next.
    cluster.start_worker("two")
    cluster.wait_until_idle(consumers=2)
    cluster.send("after")
    assert cluster.processed.wait_for({"after"})


def wait_connection_addresses(broker: WakingRedisBroker) -> set[str]:
    """Where the broker's connections for waits connect from, as ``CLIENT LIST`` shows them (``addr``)."""
    pool = broker.wait_client.connection_pool
    with pool._lock:
        connections = [*pool._in_use_connections, *pool._available_connections]
    sockets = [connection._sock for connection in connections]
    return {"{}:{}".format(*sock.getsockname()[:2]) for sock in sockets if sock is not None}


def run_in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
