"""Blocking calls leave the event loop through sentinel.http.threads.in_thread: with the request's context (its
request id in the logs), and, as Starlette's thread pool did, a request cancelled while its call runs waits for
the call to return before it is cancelled (code after it never runs beside a transaction still committing)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from sentinel.http import threads
from sentinel.http.threads import in_thread

current = contextvars.ContextVar("current", default="none")


def test_the_call_runs_in_another_thread_with_the_callers_context() -> None:
    async def scenario() -> tuple[str, bool]:
        current.set("req-1")
        return await in_thread(lambda: (current.get(), threading.current_thread() is threading.main_thread()))

    assert asyncio.run(scenario()) == ("req-1", False)


def test_an_error_in_the_call_is_raised_to_the_caller() -> None:
    def fails(word: str, *, suffix: str) -> None:
        raise ValueError(word + suffix)

    with pytest.raises(ValueError, match="no!"):
        asyncio.run(in_thread(fails, "no", suffix="!"))


def test_a_cancelled_caller_waits_for_its_call_to_return() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def committing() -> str:
        started.set()
        release.wait(10)
        finished.append("committed")
        return "done"

    async def scenario() -> tuple[bool, list[str]]:
        task = asyncio.create_task(in_thread(committing))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        still_waiting = not task.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return still_waiting, list(finished)

    still_waiting, seen_when_cancelled = asyncio.run(scenario())
    assert still_waiting
    assert seen_when_cancelled == ["committed"]


def test_calls_one_after_another_reuse_one_thread() -> None:
    async def scenario() -> set[int]:
        return {await in_thread(threading.get_ident) for _ in range(20)}

    assert len(asyncio.run(scenario())) == 1


def test_calls_past_the_thread_limit_wait_for_a_thread_and_all_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "MAX_THREADS", 2)
    lock = threading.Lock()
    running, most = 0, 0

    def call(number: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        threading.Event().wait(0.01)
        with lock:
            running -= 1
        return number

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(in_thread(call, n) for n in range(7))))

    assert asyncio.run(scenario()) == list(range(7))
    assert most <= 2
