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

A long poll (``GET /v1/jobs/{id}?wait=60``, an evaluation's) would hold the stop up to the end of the grace period
and then be cancelled the same way; when the stop starts, each answers at once with the resource as it is then
(200, as a wait that ran out), and the client asks again (``sentinel.http.requests.end_long_polls``). A wait that
is the request itself (a judged generation) goes on until the provider calls are dropped, and answers then.

uvicorn re-raises the signal once it has stopped, which would end the process as "killed by SIGTERM";
a stop that went to plan exits 0 instead.

The port is bound before anything else starts (:func:`listen_on`): a port in use is then one line and no embedded
workers started and stopped again; and a server that got its port keeps it until it listens.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from typing import Any

import uvicorn

from sentinel.http.requests import end_long_polls
from sentinel.net.transport import stop_provider_calls

#: How long before the end of the grace period the provider calls in flight are dropped: time for their requests
#: to log the calls and answer.
ANSWER_SECONDS = 2.0


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if sockets is not None and self.started:
            # uvicorn says where it runs only for the sockets it bound itself; people (and the test suite's start-up
            # check) wait for that line.
            self._log_started_message(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        grace = self.config.timeout_graceful_shutdown
        timer = None
        # Before uvicorn starts waiting for the requests in flight: a long poll is one that need not be waited for
        # (with no grace period, none is: a judged request's wait ends too).
        end_long_polls(grace_over=not grace)
        if grace:
            lead = min(ANSWER_SECONDS, grace / 2)
            timer = asyncio.get_running_loop().call_later(grace - lead, _grace_ending)
        try:
            await super().shutdown(sockets)
        finally:
            if timer is not None:
                timer.cancel()


def _grace_ending() -> None:
    stop_provider_calls()
    end_long_polls(grace_over=True)


def listen_on(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address ``host`` names, at ``port``, as uvicorn (asyncio's ``create_server``) would bind
    them; not yet listening. Raises ``OSError`` (``errno.EADDRINUSE`` for a port in use, ``socket.gaierror`` for a
    host that names no address)."""
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # Each family gets its own socket (as asyncio does): the IPv6 one must not claim IPv4 too.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def run_server(config: Any, sockets: list[socket.socket] | None = None) -> None:
    """Run a ``uvicorn.Config`` until it is stopped (on ``sockets`` when given, bound by :func:`listen_on`); SIGTERM
    ends in exit status 0 after a graceful stop."""
    server = _Server(config)
    # uvicorn restores this handler when it has shut down, then raises the signal it got: make that a no-op.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run(sockets)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE
