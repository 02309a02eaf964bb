"""Thread pools made on first use and shared by the whole process, one per purpose (the blob store's writes, the
outbox relay's enqueues, the offline judges): a pool per call would start its threads on every call, and none at
import keeps the CLI and processes that never use one free of idle threads.

A forked child (a dramatiq worker process) forgets the parent's pools: their threads did not come along, so a pool
copied into the child would queue work that no thread runs. The child makes its own on first use."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def shared_pool(
    name: str,
    max_workers: int,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
) -> ThreadPoolExecutor:
    """The process's pool for ``name`` (its threads' name prefix), made with ``max_workers`` threads on first use;
    each of its threads runs ``initializer(*initargs)`` when it starts. Later calls return the pool as first made."""
    with _lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(
                max_workers=max_workers, thread_name_prefix=name, initializer=initializer, initargs=initargs
            )
        return pool


def _forget_pools_in_child() -> None:
    # The lock too: a parent thread may have held it at the fork, and no thread in the child would ever release it.
    global _pools, _lock
    _pools, _lock = {}, threading.Lock()


os.register_at_fork(after_in_child=_forget_pools_in_child)
