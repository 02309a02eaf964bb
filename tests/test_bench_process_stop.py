"""A bench's server that takes long to stop is killed after its grace, and the bench goes on to print what it
measured: a server still busy with queued work once outlasted the 15 s the harness gave it, and `bench vision
--evaluations 500` ended in a traceback, its results lost."""

from __future__ import annotations

import sys

from sentinel.bench.harness import free_port, started_process

#: A server that answers, then ignores SIGTERM: a stop that never comes on its own.
STUBBORN = """
import http.server, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""


def test_a_process_that_does_not_stop_after_sigterm_is_killed_without_failing_the_bench() -> None:
    port = free_port()
    with started_process(
        [sys.executable, "-c", STUBBORN, str(port)], {}, f"http://127.0.0.1:{port}/", stop_timeout=1
    ) as process:
        assert process.poll() is None
    # The block ended without an exception, and the process is gone.
    assert process.returncode is not None
