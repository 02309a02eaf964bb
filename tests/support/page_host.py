"""A host on 127.0.0.1 that serves what a URL given to Sentinel may turn out to be (a login page, a JSON error, an
image), and a `sentinel serve` allowed to fetch from it: for the tests of URLs that serve no image."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import clean_env, png_bytes, start_server

#: What every other path serves, as an image host that names no type does.
IMAGE = png_bytes(128, 128)


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/login":
            kind, body = "text/html; charset=utf-8", b"<html><body>please log in</body></html>"
        elif self.path == "/json":
            kind, body = "application/json", b'{"error": "expired"}'
        else:
            kind, body = "application/octet-stream", IMAGE
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving_pages() -> Iterator[str]:
    """The host's base URL: ``/login`` a web page, ``/json`` a JSON error, any other path :data:`IMAGE`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fetching_from_loopback(data: Path) -> Iterator[str]:
    """A `sentinel serve` with its data in ``data`` that may fetch URLs on 127.0.0.1; yields its base URL."""
    env = clean_env(SENTINEL_DATA_DIR=str(data), SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32")
    server, base = start_server(env, data / "serve.log")
    try:
        yield base
    finally:
        server.stop()
