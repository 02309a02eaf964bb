"""An idle worker asks nothing and wakes for nothing: its threads wait for work instead of polling for it, and a
message costs its consumer one fetch from Redis. It still stops at once and loses no message."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
import redis
from dramatiq import Worker

from sentinel.worker import build_broker
from sentinel.worker.idle import WaitForWork
from tests.conftest import REDIS_URL, delete_redis_keys
from tests.worker.test_wakeup import ACTOR, GENEROUS_WAIT_SECONDS, QUEUE, Cluster, run_in_thread

#: How long the idle threads are watched: ten of the old 100 ms polls.
WATCH_SECONDS = 1.0
#: An idle wait longer than any test run: a thread waiting it out never ends in time.
A_DAY = 24 * 3600.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """Workers on a namespace of their own of the real Redis (as test_wakeup's, whose idle poll is 60 s)."""
    namespace = f"sentinel-test-{uuid.uuid4().hex[:12]}"
    running = Cluster(namespace)
    try:
        yield running
    finally:
        running.close()
        delete_redis_keys(namespace)


def wakeups(native_id: int) -> int:
    """How many times the thread has gone back to sleep (blocked) so far: once per wake-up."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    found = re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.MULTILINE)
    assert found is not None
    return int(found.group(1))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the threads' wake-ups from /proc")
def test_idle_worker_threads_wait_for_work_instead_of_polling(cluster: Cluster) -> None:
    worker = cluster.start_worker("one", threads=4)
    cluster.wait_until_idle(consumers=2)
    threads = [thread.native_id for thread in worker.workers if thread.native_id is not None]
    assert len(threads) == 4

    before = {thread: wakeups(thread) for thread in threads}
    time.sleep(WATCH_SECONDS)  # watching an idle worker, not waiting for anything to happen
    woke = {thread: wakeups(thread) - before[thread] for thread in threads}

    # dramatiq's threads polled their queue at the worker timeout: ten wake-ups a second each at 100 ms.
    assert all(count <= 1 for count in woke.values()), woke

    # And each still takes work at once.
    sent = {f"after-idle-{number}" for number in range(8)}
    for value in sorted(sent):
        cluster.send(value)
    assert cluster.processed.wait_for(sent)


def start_worker_whose_idle_wait_is_a_day(cluster: Cluster, threads: int) -> Worker:
    """A worker of ``cluster`` as it starts them, whose idle threads, left alone, would wait a day before looking up."""
    broker = build_broker(cluster.settings)
    [wait_for_work] = [middleware for middleware in broker.middleware if isinstance(middleware, WaitForWork)]
    wait_for_work.idle_wait_seconds = A_DAY
    cluster.brokers.append(broker)
    dramatiq.actor(
        lambda value: cluster.processed.record(value, "one"), broker=broker, actor_name=ACTOR, queue_name=QUEUE
    )
    worker = Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    cluster.workers.append(worker)
    return worker


def test_an_idle_worker_with_waiting_threads_stops_at_once(cluster: Cluster) -> None:
    worker = start_worker_whose_idle_wait_is_a_day(cluster, threads=4)
    cluster.wait_until_idle(consumers=2)

    stopped = run_in_thread(lambda: worker.stop(timeout=60_000))
    # A guard against hanging, not a measure of speed: the threads' idle wait lasts a day, so only the stop's
    # wake-up lets them notice the stop and the stop return.
    stopped.join(GENEROUS_WAIT_SECONDS)

    assert not stopped.is_alive(), "the stop did not wake the worker's idle threads"
    cluster.workers.remove(worker)
    assert not any(thread.is_alive() for thread in worker.workers)


class Fetches:
    """The fetches of ``queue`` that Redis runs from now on (dramatiq's dispatch script, seen by MONITOR)."""

    def __init__(self, namespace: str, queue: str) -> None:
        self.namespace = namespace
        self.queue = queue
        self.seen: list[str] = []
        self._client = redis.Redis.from_url(REDIS_URL)
        # Entered here (MONITOR sent and acknowledged), so nothing Redis runs from now on is missed.
        self._monitor = self._client.monitor().__enter__()
        self._connection = self._monitor.connection
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                command = self._monitor.next_command()["command"]
            except (redis.ConnectionError, OSError):
                return
            # EVALSHA <sha> 1 <namespace> fetch <now> <queue> <broker id> ...
            words = command.split()
            if len(words) > 6 and words[3] == self.namespace and words[4] == "fetch" and words[6] == self.queue:
                self.seen.append(command)

    def count(self) -> int:
        return len(self.seen)

    def close(self) -> None:
        self._stop.set()
        self._connection.disconnect()
        self._client.close()
        self._thread.join(5)


@pytest.fixture
def fetches(cluster: Cluster) -> Iterator[Fetches]:
    watching = Fetches(cluster.namespace, QUEUE)
    try:
        yield watching
    finally:
        watching.close()


def test_a_message_to_an_idle_worker_is_fetched_once(cluster: Cluster, fetches: Fetches) -> None:
    cluster.start_worker("one")
    cluster.wait_until_idle(consumers=2)
    before = fetches.count()

    for round_ in range(3):
        cluster.send(f"message-{round_}")
        assert cluster.processed.wait_for({f"message-{round_}"})
        # Back to waiting on its doorbell (for a second: it asks Redis nothing meanwhile).
        cluster.wait_until_idle(consumers=2)

    # One fetch per message: the one that took it found its queue emptied, so the consumer went back to wait
    # without a second, empty fetch (a round trip and a script run on Redis per message).
    assert fetches.count() - before == 3, fetches.seen[before:]
