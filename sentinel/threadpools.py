"""Thread pools made on first use and shared by the whole process, one per purpose (the blob store's writes, the
outbox relay's enqueues): a pool per call would start its threads on every call, and none at import keeps the CLI
and processes that never use one free of idle threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def shared_pool(name: str, max_workers: int) -> ThreadPoolExecutor:
    """The process's pool for ``name`` (its threads' name prefix), made with ``max_workers`` threads on first use."""
    with _lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        return pool
