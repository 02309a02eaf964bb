"""The embedded workers build one generation service, however many jobs reach them at once (as a compare run's do):
a second one would be dropped with its provider connections open, and aiohttp complains on the terminal."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sentinel.workflow import runtime


def test_concurrent_first_callers_share_one_generation_service() -> None:
    runtime.close_generation()  # built by an earlier test of this process, maybe
    callers = 8
    together = threading.Barrier(callers)

    def first_use() -> object:
        together.wait()
        return runtime.generation()

    with ThreadPoolExecutor(callers) as pool:
        built = list(pool.map(lambda _: first_use(), range(callers)))
    assert len({id(service) for service in built}) == 1
