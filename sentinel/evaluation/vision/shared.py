"""Work on an image that every vision judge of an evaluation needs (the scan for instructions to the judges, the
image as sent): done once per image in a process, however many judges ask at the same moment.

An evaluation's judge messages arrive together, and each judge prepares its call on a thread of its own: without
this, three judges meant three OCR scans and three encodings of the same picture.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedWork(Generic[K, V]):
    """Results by key, computed once: a caller that asks while another computes the same key waits for that result
    (or its exception); finished results are remembered, least recently used dropped first, while their total
    ``weight`` stays within ``capacity``."""

    def __init__(self, capacity: int, weight: Callable[[V], int] = lambda _: 1) -> None:
        self.capacity = capacity
        self.weight = weight
        self._lock = threading.Lock()
        self._done: collections.OrderedDict[K, tuple[V, int]] = collections.OrderedDict()
        self._held = 0
        self._running: dict[K, concurrent.futures.Future[V]] = {}
        #: How many times ``compute`` ran (tests and benchmarks read it).
        self.computed = 0

    def get(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key][0]
            running = self._running.get(key)
            if running is None:
                mine: concurrent.futures.Future[V] = concurrent.futures.Future()
                self._running[key] = mine
                self.computed += 1
        if running is not None:
            return running.result()
        return self._compute(key, compute, mine)

    def ready(self, key: K) -> V | None:
        """The result of ``key`` if it is computed already, without computing or waiting for it; else None."""
        with self._lock:
            if key not in self._done:
                return None
            self._done.move_to_end(key)
            return self._done[key][0]

    def submit(
        self, key: K, compute: Callable[[], V], executor: concurrent.futures.Executor
    ) -> concurrent.futures.Future[V]:
        """``get`` without waiting: the result as a future of the caller's own (cancelling it cancels nothing
        shared), ``compute`` handed to ``executor`` only when no one computes the key yet. A caller that stops
        waiting leaves the work running, and its result is remembered for the next caller."""
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                ready: concurrent.futures.Future[V] = concurrent.futures.Future()
                ready.set_result(self._done[key][0])
                return ready
            shared = self._running.get(key)
            if shared is None:
                shared = concurrent.futures.Future()
                self._running[key] = shared
                self.computed += 1
                started = shared
            else:
                started = None
        if started is not None:
            try:
                executor.submit(self._compute_quietly, key, compute, started)
            except BaseException as exc:  # an executor shut down: no one may wait for a result never computed
                with self._lock:
                    self._stop_running(key, started)
                started.set_exception(exc)
                raise
        # Waiters of the same key do not hold an executor thread each: they share the one computing future.
        yours: concurrent.futures.Future[V] = concurrent.futures.Future()

        def copy(done: concurrent.futures.Future[V]) -> None:
            if yours.set_running_or_notify_cancel():
                exc = done.exception()
                if exc is None:
                    yours.set_result(done.result())
                else:
                    yours.set_exception(exc)

        shared.add_done_callback(copy)
        return yours

    def _compute_quietly(self, key: K, compute: Callable[[], V], mine: concurrent.futures.Future[V]) -> None:
        with contextlib.suppress(BaseException):  # handed to the waiters through ``mine``
            self._compute(key, compute, mine)

    def _compute(self, key: K, compute: Callable[[], V], mine: concurrent.futures.Future[V]) -> V:
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                self._stop_running(key, mine)
            mine.set_exception(exc)
            raise
        weight = self.weight(value)
        with self._lock:
            # A result whose computation started before a ``clear`` is handed to its waiters, not remembered.
            if self._stop_running(key, mine) and weight <= self.capacity:
                self._done[key] = (value, weight)
                self._held += weight
                while self._held > self.capacity:
                    _, (_, dropped) = self._done.popitem(last=False)
                    self._held -= dropped
        mine.set_result(value)
        return value

    def _stop_running(self, key: K, mine: concurrent.futures.Future[V]) -> bool:
        """``key`` no longer being computed by ``mine``; False when a ``clear`` forgot it meanwhile."""
        if self._running.get(key) is not mine:
            return False
        del self._running[key]
        return True

    def clear(self) -> None:
        """Forget every result, and the computations running: a caller after this computes afresh, and what those
        computations find is handed to those waiting for it, not remembered."""
        with self._lock:
            self._done.clear()
            self._running.clear()
            self._held = 0
