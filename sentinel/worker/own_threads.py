"""A queue served by worker threads of its own in every worker process: webhook deliveries.

A webhook delivery waits on someone else's server, up to ``SENTINEL_WEBHOOK_TIMEOUT_SECONDS`` per try, and each of
its retries waits again. On the threads that judge and generate, a few slow or black-holed receivers (one tenant's)
held every thread of every process and stalled every tenant's verdicts and jobs. :class:`OwnThreadsForQueue` gives
such a queue a second dramatiq worker in each process, beside the main one, with ``threads`` threads of its own; the
main worker consumes every other queue. The messages are the same: a delivery is acknowledged after its try, retried
with the same backoff, and a stopping process finishes its in-flight deliveries within the grace period or gives the
rest back to the broker, as dramatiq does for the main worker.

The side worker is started and stopped by the main one's hooks (``sentinel worker``'s processes and the embedded
broker's worker alike), so nothing else needs to know of it. It does not run the broker-wide worker hooks itself:
those (the outbox relay, the heap and GC set-up, the Redis consumers' wake-up on shutdown) belong to the process, and
the main worker runs them once.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

import dramatiq
from dramatiq.common import iter_queue, join_all, q_name
from dramatiq.errors import BrokerConnectionError
from dramatiq.worker import Worker, _WorkerMiddleware

from sentinel.worker.idle import WorkQueue

logger = logging.getLogger(__name__)


class SideWorker(Worker):
    """A dramatiq worker for one queue, beside the process's main worker: dramatiq's ``start`` and ``stop`` without
    the broker-wide ``worker_boot`` / ``worker_shutdown`` hooks (the main worker runs them for the process)."""

    def __init__(self, broker: dramatiq.Broker, queue_name: str, *, threads: int, worker_timeout: int) -> None:
        super().__init__(broker, queues={queue_name}, worker_threads=threads, worker_timeout=worker_timeout)
        # Idle threads wait for work, as the main worker's do (sentinel.worker.idle).
        self.work_queue = WorkQueue()

    def start(self) -> None:
        # broker.add_middleware, without its warning about a second worker middleware (this process runs two
        # workers on purpose): the middleware then adds a consumer for each declared queue this worker takes.
        middleware = _WorkerMiddleware(self)
        self.broker.middleware.append(middleware)
        for queue_name in self.broker.get_declared_queues():
            middleware.after_declare_queue(self.broker, queue_name)
        for queue_name in self.broker.get_declared_delay_queues():
            middleware.after_declare_delay_queue(self.broker, queue_name)
        for _ in range(self.worker_threads):
            self._add_worker()

    def stop(self, timeout: int = 600_000) -> None:
        """dramatiq's ``Worker.stop``: threads finish their message (within ``timeout`` ms), then the consumers
        stop and the messages fetched but not started go back to the broker."""
        if isinstance(self.work_queue, WorkQueue):
            self.work_queue.wake_all()
        for thread in self.workers:
            thread.stop()
        join_all(self.workers, timeout)
        for consumer in self.consumers.values():
            consumer.stop()
        join_all(self.consumers.values(), timeout)
        unstarted = defaultdict(list)
        for item in iter_queue(self.work_queue):
            unstarted[item.message.queue_name].append(item.message)
        for queue_name, messages in unstarted.items():
            try:
                self.consumers[queue_name].requeue_messages(messages)
            except BrokerConnectionError:
                logger.warning("could not give back %d message(s) of %r", len(messages), queue_name, exc_info=True)
        for consumer in self.consumers.values():
            consumer.close()
        # Its middleware goes: a queue declared later must not get a consumer on a stopped worker.
        # A new list, not the old one changed: threads still running may be iterating it (emit_after).
        self.broker.middleware = [m for m in self.broker.middleware if getattr(m, "worker", None) is not self]


class OwnThreadsForQueue(dramatiq.Middleware):
    """Every worker started on the broker leaves ``queue_name`` to a :class:`SideWorker` of ``threads`` threads that
    it starts and stops with itself. ``grace_ms``: how long a stopping side worker lets its messages finish (the
    main worker's shutdown timeout; both stop at once)."""

    def __init__(self, queue_name: str, threads: int, grace_ms: int) -> None:
        self.queue_name = queue_name
        self.threads = threads
        self.grace_ms = grace_ms
        self.side: dict[int, SideWorker] = {}
        self.stopping: dict[int, threading.Thread] = {}

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        # Before the main worker adds its consumers (as it starts, once the hook has run): every queue but this one.
        declared = {q_name(name) for name in broker.get_declared_queues()}
        if self.queue_name not in declared:
            return
        taken = set(worker.consumer_whitelist or declared)
        if self.queue_name not in taken or taken == {self.queue_name}:
            return  # a worker told to take other queues only, or this one alone: nothing to split
        worker.consumer_whitelist = taken - {self.queue_name}
        worker.own_threads_queue = self.queue_name

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        if getattr(worker, "own_threads_queue", None) != self.queue_name:
            return
        side = SideWorker(broker, self.queue_name, threads=self.threads, worker_timeout=worker.worker_timeout)
        side.start()
        self.side[id(worker)] = side
        logger.debug("%d thread(s) of their own for the %r queue", self.threads, self.queue_name)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        side = self.side.pop(id(worker), None)
        if side is None:
            return
        # Beside the main worker's own stop, so their grace periods run together, not one after the other. The
        # hooks before this one woke the process's idle Redis consumers (sentinel.worker.wakeup), the side's too.
        stopping = threading.Thread(target=side.stop, args=(self.grace_ms,), name=f"stopping-{self.queue_name}")
        stopping.start()
        self.stopping[id(worker)] = stopping

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        stopping = self.stopping.pop(id(worker), None)
        if stopping is not None:
            stopping.join()
