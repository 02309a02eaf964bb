"""One long-lived asyncio loop per worker process, for actors that call async code (the router, vision judges).

Actors run in dramatiq's worker threads; the provider adapters and their HTTP client are async
and bound to one loop. Running every such call on this loop keeps connections pooled across
actor calls instead of opening a client per message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import dramatiq

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: Threads for the blocking steps of the loop's coroutines (recording a vote in the database, reading an image's
#: bytes, the OCR scan for instructions to the judges). asyncio's default (cores + 4: 6 on two cores) queued the
#: votes of a few hundred answered calls behind one another; kept under the database pool of a process (20), which
#: the worker's own threads share.
LOOP_THREADS = 16

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            loop.set_default_executor(
                concurrent.futures.ThreadPoolExecutor(LOOP_THREADS, thread_name_prefix="sentinel-async-io")
            )
            threading.Thread(target=loop.run_forever, name="sentinel-async", daemon=True).start()
            _loop = loop
        return _loop


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the process's background loop and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coroutine, background_loop()).result()


_started_lock = threading.Lock()
_started: set[concurrent.futures.Future[Any]] = set()


def start_async(coroutine: Coroutine[Any, Any, Any], what: str) -> concurrent.futures.Future[Any]:
    """Start ``coroutine`` on the process's background loop without waiting for it (a vision judge's call: the
    model's answer is recorded when it comes, holding no thread meanwhile). A failure is logged naming ``what``;
    a worker that shuts down waits for what was started (:class:`FinishStartedWork`)."""
    future = asyncio.run_coroutine_threadsafe(coroutine, background_loop())
    with _started_lock:
        _started.add(future)

    def finished(done: concurrent.futures.Future[Any]) -> None:
        with _started_lock:
            _started.discard(done)
        if not done.cancelled() and done.exception() is not None:
            logger.error("%s failed", what, exc_info=done.exception())

    future.add_done_callback(finished)
    return future


def wait_for_started(timeout: float) -> int:
    """Wait up to ``timeout`` seconds for the coroutines :func:`start_async` started; how many are still running."""
    with _started_lock:
        pending = list(_started)
    return len(concurrent.futures.wait(pending, timeout=timeout).not_done) if pending else 0


class FinishStartedWork(dramatiq.Middleware):
    """A worker that stops first lets the calls it started finish (within its grace period), so their answers,
    already paid for, are recorded; what is still running after it is sent again by the evaluation sweeper."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        left = wait_for_started(self.grace_seconds)
        if left:
            logger.warning("%d vision-judge call(s) still running at shutdown; the sweeper will send them again", left)
