"""Admission of new evaluations: refused (a 503 with Retry-After) while the judging queue holds more than the judges
clear before an evaluation's deadline.

Without it every request was accepted: in a burst of 1600 on the embedded default, the queue grew far beyond what
the workers cleared within the deadline, and 653 evaluations ended amber "quorum not met: 0 of 2 judges voted" -
items in the review queue that no judge ever looked at - while /readyz said ready. Refused up front, the caller
keeps its image and sends it again later, and a load balancer sends it elsewhere (/readyz fails meanwhile).

The backlog is the judging queue's depth (messages no worker has taken yet), read from the broker at most once a
second per process: a request answered from the cache pays a comparison, not a round trip.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sentinel.errors import SentinelError
from sentinel.settings import Settings

#: Seconds a reading of the queue's depth is used for before the broker is asked again.
READING_SECONDS = 1.0
#: Retry-After is at least this (a refused upload was sent whole: sooner than a few judges clear is waste) and at most
#: this many seconds.
RETRY_AFTER_MIN, RETRY_AFTER_MAX = 5, 60


class Overloaded(SentinelError):
    """The judges are too far behind for a new evaluation to be judged before its deadline."""

    status_code = 503
    error_type = "server_error"
    code = "overloaded"


@dataclass(frozen=True)
class Backlog:
    """Judge messages waiting for a worker (None when the broker could not say), plus those this process is accepting
    or accepted since the broker was read (not in that reading yet), against the limit."""

    waiting: int | None
    limit: int
    deadline_seconds: float
    entering: int = 0

    @property
    def total(self) -> int:
        return (self.waiting or 0) + self.entering

    @property
    def refusing(self) -> bool:
        # A broker that cannot say refuses nothing: its sends wait in the outbox, and /readyz's broker check fails.
        return self.waiting is not None and self.total >= self.limit

    @property
    def retry_after(self) -> int:
        """Seconds until the queue is back under the limit, at the rate the limit assumes (limit per deadline)."""
        excess = self.total - self.limit + 1
        rate = self.limit / self.deadline_seconds
        return min(RETRY_AFTER_MAX, max(RETRY_AFTER_MIN, math.ceil(excess / rate)))

    def describe(self) -> str:
        if self.waiting is None:
            return f"judging queue depth unknown (the broker did not answer); the limit is {self.limit}"
        entering = f" (and {self.entering} being accepted)" if self.entering else ""
        return f"{self.waiting} judge message(s) waiting for a worker{entering}; the limit is {self.limit}"

    def refusal(self, what: str) -> Overloaded:
        return Overloaded(
            f"the judges are overloaded: {self.total} evaluations are waiting in the judging queue (the limit is "
            f"{self.limit}, what the judges clear within the {self.deadline_seconds:g} s deadline), so a new {what} "
            f"would not be judged in time. Nothing was stored: send it again in {self.retry_after} s, or to another "
            "instance; add workers (or raise SENTINEL_MAX_JUDGING_BACKLOG if they keep up) if this lasts.",
            headers={"Retry-After": str(self.retry_after)},
        )


class JudgingAdmission:
    """The judging queue's backlog for this process, read from the broker at most once per READING_SECONDS.

    Requests admitted since a reading count too, until the next one: a burst arrives within one reading, and each of
    its requests saw the same depth (the second burst of 400 of a test all passed a reading of ~350 against 600).
    ``depth`` reads the broker (a round trip on Redis or RabbitMQ): call :meth:`reading` from a thread when
    :meth:`fresh` is None."""

    def __init__(self, settings: Settings, depth: Callable[[], int], clock: Callable[[], float] = time.monotonic):
        self._limit = settings.judging_backlog_limit
        self._deadline = settings.evaluation_deadline_seconds
        self._depth = depth
        self._clock = clock
        #: The last reading: when, the depth, and how many admitted requests had finished just before it was taken.
        self._last: tuple[float, int | None, int] | None = None
        #: One reader at a time: requests arriving while it asks wait for its answer instead of asking too.
        self._reading = threading.Lock()
        self._counts = threading.Lock()
        self._in_flight = 0
        self._finished = 0

    @property
    def limit(self) -> int:
        return self._limit

    def fresh(self) -> Backlog | None:
        """The backlog by the last reading, if it is recent enough to go by."""
        last = self._last
        if last is None or self._clock() - last[0] >= READING_SECONDS:
            return None
        return self._backlog(last)

    def reading(self) -> Backlog:
        """The backlog, from the broker unless a reading is fresh (blocking)."""
        with self._reading:
            cached = self.fresh()
            if cached is not None:
                return cached
            with self._counts:
                finished = self._finished
            try:
                waiting: int | None = int(self._depth())
            except Exception:
                waiting = None
            self._last = (self._clock(), waiting, finished)
            return self._backlog(self._last)

    def _backlog(self, last: tuple[float, int | None, int]) -> Backlog:
        with self._counts:
            return self._backlog_counted(last)

    def _backlog_counted(self, last: tuple[float, int | None, int]) -> Backlog:
        """The backlog by ``last`` and the requests admitted since it was taken; the caller holds ``_counts``."""
        _, waiting, finished_then = last
        entering = self._in_flight + self._finished - finished_then
        return Backlog(waiting, self._limit, self._deadline, entering)

    @contextlib.contextmanager
    def admitted(self, what: str = "evaluation") -> Iterator[None]:
        """Raise :class:`Overloaded` if the backlog by the last reading (plus what was admitted since) is at the
        limit; else count the request until the next reading. Take a reading first."""
        last = self._last
        with self._counts:
            if last is not None:
                backlog = self._backlog_counted(last)
                if backlog.refusing:
                    raise backlog.refusal(what)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._counts:
                self._in_flight -= 1
                self._finished += 1
