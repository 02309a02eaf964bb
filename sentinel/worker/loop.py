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


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed (with uvicorn[standard], on Linux and macOS), else asyncio's. A burst of
    vision calls (600 in flight) is mostly the loop's own work per socket event and per hop from a thread
    (call_soon_threadsafe), which asyncio's selector loop does in Python and uvloop in libuv: 600 vision votes on
    this loop took 0.51-0.56 s of the process's CPU on uvloop, 0.57-0.60 s on asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def started_threads(threads: int, prefix: str) -> concurrent.futures.ThreadPoolExecutor:
    """A pool with its ``threads`` threads running already. A pool starts a thread when a task finds none idle, and
    ``submit`` waits for that thread to run: on the event loop, during the first burst of vision calls, each start
    stalled every call in flight (the 20 starts of the loop's and the image preparers' pools were ~10% of the loop's
    busy time in the first burst of bench vision, when the machine's cores were taken)."""
    executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=prefix)
    # Each task holds its thread until every thread holds one, so no task finds a thread idle and each starts one.
    everyone = threading.Barrier(threads)
    for _ in range(threads):
        executor.submit(everyone.wait, STARTING_SECONDS)
    return executor


#: How long a pool's threads wait for each other as they start (see started_threads); a thread that cannot start
#: in time only leaves the pool to start it on first need, as it would anyway.
STARTING_SECONDS = 5.0


def background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = new_loop()
            loop.set_default_executor(started_threads(LOOP_THREADS, "sentinel-async-io"))
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
