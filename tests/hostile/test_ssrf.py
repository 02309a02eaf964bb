"""SSRF through the real HTTP API: image URLs and webhook URLs that lead to loopback or private addresses by a
name, an odd spelling of an IP or a redirect are refused with a 400 naming the address, and never fetched.

(tests/api covers plain private literals, one `localhost` and redirects to 10.0.0.1 and 169.254.169.254;
tests/net covers the fetcher itself, DNS rebinding included.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import png_bytes
from tests.hostile.conftest import assert_error

IMAGE = png_bytes(96, 96)


class Bait(BaseHTTPRequestHandler):
    """A server on 127.0.0.1 that records every request: for the strict server, anything it sees is a leak."""

    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(IMAGE)))
        self.end_headers()
        self.wfile.write(IMAGE)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def bait() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Bait)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


# Every way of writing "this machine" (or its cloud metadata endpoint) we know of; {port} is the bait's.
LOCAL_SPELLINGS = [
    ("http://localhost:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://localhost.:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://LocalHost:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://images.localhost:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://127.0.0.1.:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://[::1]:{port}/a.png", "::1, a loopback address"),
    ("http://[::ffff:127.0.0.1]:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://[::ffff:7f00:1]:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://[::ffff:169.254.169.254]/latest/meta-data/", "169.254.169.254, a link-local address"),
    ("http://[::ffff:10.0.0.1]/a.png", "10.0.0.1, a private address"),
    ("http://[64:ff9b::127.0.0.1]:{port}/a.png", "64:ff9b::7f00:1"),
    ("http://[2002:7f00:1::]:{port}/a.png", "2002:7f00:1::"),
    ("http://[fd00::1]/a.png", "fd00::1, a private address"),
    ("http://2130706433:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://0x7f000001:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://127.1:{port}/a.png", "127.0.0.1, a loopback address"),
    ("http://0:{port}/a.png", "0.0.0.0, an unspecified address"),
    ("http://0177.0.0.1:{port}/a.png", "not a valid URL"),
    ("http://2852039166/latest/meta-data/", "169.254.169.254, a link-local address"),
]


@pytest.mark.parametrize(("url", "words"), LOCAL_SPELLINGS)
def test_image_urls_leading_to_this_machine_are_refused(strict_api, bait, url, words) -> None:
    base, _ = strict_api
    url = url.format(port=bait)
    response = httpx.post(f"{base}/v1/evaluations", json={"task": "text-to-image", "image_url": url}, timeout=30)
    error = assert_error(response, 400, "disallowed_url", words)
    assert error["field"] == "image_url"
    assert error["message"].startswith("image_url ")
    assert Bait.hits == []


@pytest.mark.parametrize(("url", "words"), LOCAL_SPELLINGS[:9] + LOCAL_SPELLINGS[14:17])
def test_webhook_urls_leading_to_this_machine_are_refused(strict_api, bait, url, words) -> None:
    base, _ = strict_api
    url = url.format(port=bait)
    job = httpx.post(f"{base}/v1/jobs", json={"task": "text-to-image", "prompt": "x", "callback_url": url}, timeout=30)
    assert assert_error(job, 400, "disallowed_url", words)["field"] == "callback_url"
    evaluation = httpx.post(
        f"{base}/v1/evaluations",
        data={"task": "text-to-image", "callback_url": url},
        files={"image": ("a.png", IMAGE)},
        timeout=30,
    )
    assert assert_error(evaluation, 400, "disallowed_url", words)["field"] == "callback_url"
    assert Bait.hits == []


# -- redirects: the pg server counts 127.0.0.1 as public, so the bait plays a public host ----------------------


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("http://[::ffff:127.0.0.2]:{port}/a.png", "points to 127.0.0.2, a loopback address"),
        ("http://[::ffff:a9fe:a9fe]/latest/meta-data/", "points to 169.254.169.254, a link-local address"),
        ("http://2130706434:{port}/a.png", "'2130706434' resolves to 127.0.0.2, a loopback address"),
        ("http://0x7f000002:{port}/a.png", "resolves to 127.0.0.2, a loopback address"),
        ("http://[::1]:{port}/a.png", "points to ::1, a loopback address"),
        ("http://[fd12::1]/a.png", "points to fd12::1, a private address"),
        ("//127.0.0.2:{port}/a.png", "points to 127.0.0.2, a loopback address"),
        ("gopher://127.0.0.1:{port}/_PING", "uses the scheme 'gopher:'"),
        ("file:///etc/passwd", "uses the scheme 'file:'"),
    ],
)
def test_a_redirect_from_a_public_host_to_this_machine_is_refused(pg_api, bait, target, words) -> None:
    target = target.format(port=bait)
    Bait.hits.clear()
    url = str(httpx.URL(f"http://127.0.0.1:{bait}/redirect", params={"to": target}))
    response = httpx.post(f"{pg_api}/v1/evaluations", json={"task": "text-to-image", "image_url": url}, timeout=30)
    error = assert_error(response, 400, "disallowed_url", words)
    assert error["message"].startswith(f"image_url redirected to {target}, which ") or "whose host" in error["message"]
    assert error["field"] == "image_url"
    assert [urlsplit(hit).path for hit in Bait.hits] == ["/redirect"]  # the hop that was allowed, and nothing else
    Bait.hits.clear()


def test_a_redirect_chain_is_checked_at_every_hop(pg_api, bait) -> None:
    private = "http://[::ffff:10.0.0.1]/a.png"
    second = str(httpx.URL(f"http://127.0.0.1:{bait}/redirect", params={"to": private}))
    first = str(httpx.URL(f"http://127.0.0.1:{bait}/redirect", params={"to": second}))
    response = httpx.post(f"{pg_api}/v1/evaluations", json={"task": "text-to-image", "image_url": first}, timeout=30)
    assert_error(response, 400, "disallowed_url", "points to 10.0.0.1, a private address")
    Bait.hits.clear()


def test_the_public_stand_in_itself_is_fetched(pg_api, bait) -> None:
    """The control: the same server, a URL that stays public, is fetched and accepted."""
    response = httpx.post(
        f"{pg_api}/v1/evaluations",
        json={"task": "text-to-image", "image_url": f"http://127.0.0.1:{bait}/a.png"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    Bait.hits.clear()


def test_a_refused_callback_url_is_said_to_be_posted_to_not_fetched(strict_api) -> None:
    """A callback is posted to (outside probe H8 F5): its refusal said the URL may not be "fetched"."""
    base, _ = strict_api
    refusals = (
        ("ftp://example.com/hook", "only http and https URLs may be posted to"),
        ("http://10.0.0.5/hook", "only public addresses may be posted to"),
    )
    for url, words in refusals:
        body = {"task": "text-to-image", "prompt": "x", "callback_url": url}
        job = httpx.post(f"{base}/v1/jobs", json=body, timeout=30)
        error = assert_error(job, 400, "disallowed_url", words)
        assert error["field"] == "callback_url" and "fetched" not in error["message"], error
