"""Blocking calls (the database, the blob store) made from a request's task, on a pool of I/O threads.

Starlette's ``run_in_threadpool`` goes through anyio, whose capacity limiter, cancel scope and extra checkpoint
cost the event loop about half as much again as the hop itself, on every read and write a request makes. The
loop's own executor is cheaper for the loop but not for the threads: its workers share one queue, so each call
wakes the thread that has waited longest, a cold one, and the pool's CPU went up by what the loop saved. Here, as
in anyio, the thread that finished last takes the next call (warm caches, one wake-up of one thread), without the
rest. Kept from anyio too: a request cancelled while its call runs waits for the call to return before the
cancellation goes on, so code after it (releasing an idempotency claim) never runs beside a transaction that is
still committing.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: Threads for blocking calls, per event loop; a call past this many in flight waits for one to come free.
MAX_THREADS = 40


class _Call:
    """One call: what to run, and the future its caller awaits (a new one if the caller is cancelled meanwhile)."""

    __slots__ = ("args", "context", "func", "future", "kwargs", "reported")

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], future: Any) -> None:
        self.func, self.args, self.kwargs = func, args, kwargs
        self.context = contextvars.copy_context()
        self.future: asyncio.Future[Any] = future
        #: Set on the loop's thread once the outcome is handed over (the caller's future is done then).
        self.reported = False


class _Worker(threading.Thread):
    def __init__(self, pool: _Pool) -> None:
        super().__init__(name="sentinel-io", daemon=True)
        self.pool = pool
        self.calls: SimpleQueue[_Call | None] = SimpleQueue()

    def run(self) -> None:
        loop, finished = self.pool.loop, self.pool.finished
        while True:
            call = self.calls.get()
            if call is None:
                return
            try:
                outcome: tuple[Any, BaseException | None] = (
                    call.context.run(call.func, *call.args, **call.kwargs),
                    None,
                )
            except BaseException as exc:  # handed to the caller, as the call's own outcome
                outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(finished, self, call, *outcome)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                return
            # Nothing of the call (its arguments may hold an image) kept alive while this thread waits.
            del call, outcome


class _Pool:
    """The I/O threads of one event loop; only that loop's thread touches ``idle`` and ``waiting``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.idle: list[_Worker] = []
        self.waiting: deque[_Call] = deque()
        self.threads = 0

    def submit(self, call: _Call) -> None:
        if self.idle:
            self.idle.pop().calls.put(call)  # the last to finish: its caches are warm
        elif self.threads < MAX_THREADS:
            self.threads += 1
            worker = _Worker(self)
            worker.start()
            worker.calls.put(call)
        else:
            self.waiting.append(call)

    def finished(self, worker: _Worker, call: _Call, result: Any, error: BaseException | None) -> None:
        call.reported = True
        call.func = call.args = call.kwargs = None  # type: ignore[assignment]
        future = call.future
        if not future.done():
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
        if self.waiting:
            worker.calls.put(self.waiting.popleft())
        else:
            self.idle.append(worker)

    def close(self) -> None:
        for worker in self.idle:
            worker.calls.put(None)
        self.idle.clear()


_pools: dict[asyncio.AbstractEventLoop, _Pool] = {}


def _pool(loop: asyncio.AbstractEventLoop) -> _Pool:
    pool = _pools.get(loop)
    if pool is None:
        for old in [old for old in _pools if old.is_closed()]:  # loops of finished asyncio.run calls (tests, CLI)
            _pools.pop(old).close()
        pool = _pools[loop] = _Pool(loop)
    return pool


async def in_thread(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``func(*args, **kwargs)`` on an I/O thread, with this task's context variables (the request id)."""
    loop = asyncio.get_running_loop()
    call = _Call(func, args, kwargs, loop.create_future())
    _pool(loop).submit(call)
    try:
        return await call.future
    except asyncio.CancelledError:
        # The call may be half-way through a transaction: let it finish (its outcome dropped), then be cancelled.
        # Both this and the hand-over of the outcome (_Pool.finished) run on the loop's thread: no race between them.
        while not call.reported:
            call.future = loop.create_future()
            try:
                await call.future
            except asyncio.CancelledError:
                continue
            except BaseException:
                break
        raise
