"""Graceful shutdown of ``sentinel serve``.

On SIGTERM (an orchestrator stopping the pod, ``docker stop``) or Ctrl-C, uvicorn stops accepting
connections, lets the requests in flight finish for up to ``SENTINEL_SHUTDOWN_GRACE_SECONDS``, then runs
the app's shutdown: the embedded worker finishes its in-flight messages (the same grace again) and stops.
Work it did not get to stays in the database and is picked up on the next start: unfinished evaluations
by ``recover()``, stuck jobs by the sweep. With Redis, a message a stopped ``sentinel worker`` had not
acknowledged goes back to its queue (dramatiq requeues it on SIGTERM; after SIGKILL, once the worker's
heartbeat times out).

uvicorn re-raises the signal once it has stopped, which would end the process as "killed by SIGTERM";
a stop that went to plan exits 0 instead.
"""

from __future__ import annotations

import signal
import sys
from typing import Any


def run_server(config: Any) -> None:
    """Run a ``uvicorn.Config`` until it is stopped; SIGTERM ends in exit status 0 after a graceful stop."""
    import uvicorn

    server = uvicorn.Server(config)
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
