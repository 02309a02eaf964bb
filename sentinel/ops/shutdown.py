"""Graceful shutdown of ``sentinel serve``.

On SIGTERM (an orchestrator stopping the pod, ``docker stop``) or Ctrl-C, uvicorn stops accepting
connections, lets the requests in flight finish for up to ``SENTINEL_SHUTDOWN_GRACE_SECONDS``, then runs
the app's shutdown: the embedded worker finishes its in-flight messages (the same grace again) and stops.
Work it did not get to stays in the database and is picked up on the next start: unfinished evaluations
by ``recover()``, stuck jobs by the sweep. With Redis, a message a stopped ``sentinel worker`` had not
acknowledged goes back to its queue (dramatiq requeues it on SIGTERM; after SIGKILL, once the worker's
heartbeat times out).

A generation waiting on a provider would still be waiting when the grace period ends, and uvicorn would then cancel
it into a bare ``500 Internal Server Error`` (text/plain). A moment before that, the server drops the provider calls
in flight instead, so each such request answers OpenAI's error shape: 503 with a Retry-After (see
``sentinel.gateway.endpoints.until_disconnected``); the calls are logged and their spend holds released as usual.

uvicorn re-raises the signal once it has stopped, which would end the process as "killed by SIGTERM";
a stop that went to plan exits 0 instead.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from typing import Any

import uvicorn

from sentinel.net.transport import stop_provider_calls

#: How long before the end of the grace period the provider calls in flight are dropped: time for their requests
#: to log the calls and answer.
ANSWER_SECONDS = 2.0


class _Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        grace = self.config.timeout_graceful_shutdown
        timer = None
        if grace:
            lead = min(ANSWER_SECONDS, grace / 2)
            timer = asyncio.get_running_loop().call_later(grace - lead, stop_provider_calls)
        try:
            await super().shutdown(sockets)
        finally:
            if timer is not None:
                timer.cancel()


def run_server(config: Any) -> None:
    """Run a ``uvicorn.Config`` until it is stopped; SIGTERM ends in exit status 0 after a graceful stop."""
    server = _Server(config)
    # uvicorn restores this handler when it has shut down, then raises the signal it got: make that a no-op.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE
