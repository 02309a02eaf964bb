"""Telling, from inside code under test, whether it runs on an event loop's thread."""

from __future__ import annotations

import asyncio


def on_an_event_loop() -> bool:
    """Whether the calling thread is running an event loop (a blocking read there stalls every request)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
