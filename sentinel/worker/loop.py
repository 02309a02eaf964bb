"""One long-lived asyncio loop per worker process, for actors that call async code (the router, vision judges).

Actors run in dramatiq's worker threads; the provider adapters and their HTTP client are async
and bound to one loop. Running every such call on this loop keeps connections pooled across
actor calls instead of opening a client per message.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="sentinel-async", daemon=True).start()
            _loop = loop
        return _loop


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the process's background loop and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coroutine, background_loop()).result()
