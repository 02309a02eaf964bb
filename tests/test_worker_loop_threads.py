"""The worker's background loop hands blocking steps to pools whose threads run before the first burst: a thread
started on the loop during a burst of vision calls held every call in flight while it started."""

from __future__ import annotations

import threading

from sentinel.worker.loop import started_threads


def _named(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(f"{prefix}_")]


def test_a_pool_has_all_its_threads_running_before_its_first_task() -> None:
    pool = started_threads(5, "prestarted-test")
    try:
        assert len(_named("prestarted-test")) == 5
        # Tasks run on those threads: none is started for them.
        names = set(pool.map(lambda _: threading.current_thread().name, range(50)))
        assert names <= {thread.name for thread in _named("prestarted-test")}
        assert len(_named("prestarted-test")) == 5
    finally:
        pool.shutdown(wait=True)
