"""Stopping an adapter's call while its provider is still running the job, as the router does when a deadline
passes or the client goes away: the awaiting task is cancelled, and the adapter must still take the job off the
provider, or the provider finishes it and bills us."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.base import GenerationRequest, Provider
from sentinel_fakes.server import Script

#: How long a test waits for the adapter to start polling: generous, the machine may be busy.
POLLING_DEADLINE = 30.0


def cancel_while_polling(
    build: Callable[[httpx.AsyncClient], Provider],
    request: GenerationRequest,
    script: Script,
    is_poll: Callable[[dict[str, Any]], bool],
) -> list[dict[str, Any]]:
    """Runs ``generate`` as a task, cancels the task once the fake has seen a poll (so the job is running there),
    waits for the task to end, and returns every request the fake received from this call, in order."""
    mark = len(script.requests)

    async def call() -> None:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(POLLING_DEADLINE)) as client:
            task = asyncio.create_task(build(client).generate(request))
            deadline = time.monotonic() + POLLING_DEADLINE
            while not any(is_poll(seen) for seen in script.requests[mark:]):
                if task.done():
                    raise AssertionError(f"the call ended before it was cancelled: {task.result()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"the adapter never polled: {script.requests[mark:]}")
                await asyncio.sleep(0.01)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass  # what the router's wait_for sees; the cancel must have gone out before this
            else:
                raise AssertionError("a cancelled call must end cancelled, not return")

    asyncio.run(call())
    return script.requests[mark:]
