"""Idle worker threads wait for work, or for their worker to stop, instead of polling their queue.

dramatiq's worker threads take messages from one in-process queue with ``get(timeout=worker_timeout)``, and wake
when it times out only to see whether they must stop. At Sentinel's 100 ms worker timeout (kept so that a stop is
noticed at once), the four threads of an idle worker process woke forty times a second: 3-5 ms of CPU every second
on a loaded two-core machine, which under ``sentinel bench load`` was a third of the workers' own CPU per evaluation.

:class:`WaitForWork` gives each worker a :class:`WorkQueue`, on which an idle thread waits until a message is put
(the queue notifies it), its worker begins to stop (:meth:`WorkQueue.wake_all`), or ``IDLE_WAIT_SECONDS`` passed.
Once its worker is stopping, the thread polls at the worker timeout as dramatiq does, so it notices the stop at once.
"""

from __future__ import annotations

from queue import PriorityQueue
from typing import Any

import dramatiq

#: The longest an idle worker thread waits without being woken: only a thread told to stop some other way than by
#: its worker's stop (dramatiq's ``pause``, which Sentinel does not use) waits for it.
IDLE_WAIT_SECONDS = 5.0


class WorkQueue(PriorityQueue[Any]):
    """dramatiq's work queue (a priority queue of the messages its consumers fetched), whose timed ``get`` first
    waits, without a timeout of its own beyond ``idle_wait_seconds``, until there is something to take or
    :meth:`wake_all` was called; then it is the queue's usual ``get``, timeout and all."""

    def __init__(self, idle_wait_seconds: float = IDLE_WAIT_SECONDS) -> None:
        super().__init__()
        self.idle_wait_seconds = idle_wait_seconds
        self.stopping = False

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block and timeout is not None:
            with self.not_empty:
                # Every put notifies one waiting thread, which then takes what is there (or, if a thread that was
                # not waiting took it first, waits the usual timeout and comes back here): nothing is left queued
                # while every thread waits.
                if not self.stopping and not self._qsize():
                    self.not_empty.wait(self.idle_wait_seconds)
        return super().get(block, timeout)

    def wake_all(self) -> None:
        """Wake every waiting thread, and make waits the usual timed ones from now on (the worker is stopping)."""
        with self.not_empty:
            self.stopping = True
            self.not_empty.notify_all()


class WaitForWork(dramatiq.Middleware):
    """Each worker's threads take their messages from a :class:`WorkQueue`, woken when the worker stops."""

    def __init__(self, idle_wait_seconds: float = IDLE_WAIT_SECONDS) -> None:
        self.idle_wait_seconds = idle_wait_seconds

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        # Before the worker starts its consumer and worker threads, which are handed its work queue.
        worker.work_queue = WorkQueue(self.idle_wait_seconds)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        work_queue = getattr(worker, "work_queue", None)
        if isinstance(work_queue, WorkQueue):
            work_queue.wake_all()
