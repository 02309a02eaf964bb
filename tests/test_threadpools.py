"""The process-wide thread pools (sentinel.threadpools): each thread runs the pool's initializer, and a forked child
(a dramatiq worker process) gets pools of its own whose work runs, not the parent's, whose threads stayed behind."""

from __future__ import annotations

import os
import threading

import pytest

from sentinel.threadpools import shared_pool


def test_every_thread_of_a_pool_runs_its_initializer_once() -> None:
    started: list[str] = []

    def note(tag: str) -> None:
        started.append(f"{tag}:{threading.current_thread().name}")

    pool = shared_pool("test-initializer", 2, initializer=note, initargs=("ready",))
    # Two tasks that wait for each other run on two threads at once, so both threads have started.
    both = threading.Barrier(2)

    def name_once_both_run(_: int) -> str:
        both.wait()
        return threading.current_thread().name

    names = set(pool.map(name_once_both_run, range(2)))
    assert len(names) == 2
    assert sorted(started) == sorted(f"ready:{name}" for name in names)
    assert shared_pool("test-initializer", 2) is pool  # the same pool on later calls


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")
def test_a_forked_child_runs_work_on_pools_of_its_own() -> None:
    name = "test-fork"
    # The parent's pool has its threads started and idle at the fork.
    assert shared_pool(name, 1).submit(lambda: "parent").result() == "parent"
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: it reports what its pool ran and leaves without running pytest's teardown
        try:
            # A guard against hanging for ever, not a measure of speed: the parent's pool queued the work for threads
            # the child does not have, and it never ran.
            answer = shared_pool(name, 1).submit(lambda: "child").result(timeout=60)
        except BaseException as exc:
            answer = type(exc).__name__
        os.write(writing, answer.encode())
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as report:
        answer = report.read().decode()
    os.waitpid(child, 0)
    assert answer == "child"
    # The parent's pool is untouched.
    assert shared_pool(name, 1).submit(lambda: "parent again").result() == "parent again"
