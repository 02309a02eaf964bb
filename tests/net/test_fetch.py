"""The fetcher against a real HTTP(S) server of our own on 127.0.0.1.

The server is reachable only because each test that wants it passes
``allowed_networks=[127.0.0.1/32]``; the SSRF tests leave that out (or point
elsewhere) and must be refused before any connection is made.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sentinel.errors import DisallowedURL, FetchFailed, ImageTooLarge
from sentinel.net.fetch import FetchedBody, fetch_url

LOCAL = [ip_network("127.0.0.1/32")]
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
#: Handlers that stall wait at most this long, so a broken test cannot hang the run.
STALL_SECONDS = 5.0


@dataclass
class Server:
    base: str
    port: int
    release: threading.Event
    #: (path, Host header) of every request the server saw.
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: TLS server names the https server was asked for.
    server_names: list[str | None] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state: Server = self.server.state
        state.requests.append((self.path, self.headers.get("Host", "")))
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        path = parts.path
        try:
            if path == "/image":
                self._send(200, IMAGE, "image/png")
            elif path == "/echo-host":
                self._send(200, self.headers.get("Host", "").encode(), "text/plain")
            elif path == "/redirect":
                self._redirect(query["to"])
            elif path.startswith("/chain/"):
                left = int(path.removeprefix("/chain/"))
                if left == 0:
                    self._send(200, IMAGE, "image/png")
                else:
                    self._redirect(f"/chain/{left - 1}")
            elif path == "/dir/relative":
                self._redirect("../image?from=relative")
            elif path == "/no-location":
                self._send(302, b"", "text/plain")
            elif path == "/sized":
                self._send(200, b"x" * int(query["size"]), "application/octet-stream")
            elif path == "/chunked":
                self._chunked(int(query["size"]))
            elif path == "/slow":
                self.server.state.release.wait(STALL_SECONDS)
                self._send(200, IMAGE, "image/png")
            elif path == "/slow-body":
                self.send_response(200)
                self.send_header("Content-Length", str(len(IMAGE)))
                self.end_headers()
                self.wfile.write(IMAGE[:10])
                self.wfile.flush()
                self.server.state.release.wait(STALL_SECONDS)
            else:
                self._send(404, b"not here", "text/plain")
        except OSError:
            pass  # the client hung up early, which is what the size tests expect

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        for start in range(0, len(body), 64 * 1024):
            self.wfile.write(body[start : start + 64 * 1024])

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def _chunked(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"y" * 1024
        for _ in range(size // len(chunk)):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # handshake failures and hang-ups are part of the tests


def _serve(server: QuietServer, state: Server) -> Iterator[Server]:
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    yield from _serve(httpd, Server(base=f"http://127.0.0.1:{port}", port=port, release=threading.Event()))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """An https server whose certificate is valid for ``sentinel.test`` only."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    command += ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"]
    command += ["-subj", "/CN=sentinel.test", "-addext", "subjectAltName=DNS:sentinel.test"]
    subprocess.run(command, check=True, capture_output=True)
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    state = Server(base=f"https://sentinel.test:{port}", port=port, release=threading.Event())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: state.server_names.append(name)  # type: ignore[assignment]
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    for served in _serve(httpd, state):
        yield served, cert


def fetch(url: str, **kwargs: Any) -> FetchedBody:
    kwargs.setdefault("max_bytes", 1024 * 1024)
    kwargs.setdefault("timeout", 3.0)
    kwargs.setdefault("field", "image_url")
    return asyncio.run(fetch_url(url, **kwargs))


def resolver_for(mapping: dict[str, list[str]], calls: list[str] | None = None) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return mapping[host]

    return resolve


# -- success ---------------------------------------------------------------------------------------


def test_returns_exact_bytes_and_server_content_type(server: Server) -> None:
    body = fetch(f"{server.base}/image", allowed_networks=LOCAL)
    assert body == FetchedBody(content=IMAGE, content_type="image/png", final_url=f"{server.base}/image")


def test_body_of_exactly_max_bytes_is_accepted(server: Server) -> None:
    body = fetch(f"{server.base}/sized?size=1000", allowed_networks=LOCAL, max_bytes=1000)
    assert body.content == b"x" * 1000


def test_shared_client_is_used_and_not_closed(server: Server) -> None:
    async def go() -> tuple[FetchedBody, bool]:
        async with httpx.AsyncClient() as client:
            got = await fetch_url(
                f"{server.base}/image", max_bytes=10_000, timeout=3, allowed_networks=LOCAL, client=client
            )
            return got, client.is_closed

    body, closed = asyncio.run(go())
    assert body.content == IMAGE
    assert not closed


# -- schemes and malformed URLs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file:///etc/passwd", "scheme 'file:'"),
        ("ftp://example.com/image.png", "scheme 'ftp:'"),
        ("gopher://example.com:70/_GET", "scheme 'gopher:'"),
        ("data:image/png;base64,iVBORw0KGgo=", "scheme 'data:'"),
        ("example.com/image.png", "no scheme"),
        ("//example.com/image.png", "no scheme"),
        ("http:///image.png", "no host"),
        ("http://user:secret@example.com/image.png", "credentials"),
        ("http://example.com:99999/", "invalid port"),
        ("", "no scheme"),
    ],
)
def test_refuses_bad_urls_with_a_message_naming_the_problem(url: str, problem: str) -> None:
    with pytest.raises(DisallowedURL) as caught:
        fetch(url, allowed_networks=LOCAL)
    assert problem in caught.value.message
    assert caught.value.message.startswith("image_url ")
    assert caught.value.field == "image_url"


def test_field_defaults_to_none() -> None:
    with pytest.raises(DisallowedURL) as caught:
        asyncio.run(fetch_url("file:///etc/passwd", max_bytes=10, timeout=1))
    assert caught.value.field is None


# -- addresses -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address", "kind"),
    [
        ("http://127.0.0.1/", "127.0.0.1", "loopback"),
        ("http://10.0.0.1/", "10.0.0.1", "private"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local"),
        ("http://[::1]/", "::1", "loopback"),
        ("http://0.0.0.0/", "0.0.0.0", "unspecified"),
        ("http://[::ffff:10.0.0.1]/", "10.0.0.1", "private"),  # IPv4-mapped, judged as its IPv4
        ("http://[2002:a00:1::]/", "2002:a00:1::", "non-public"),  # 6to4 wrapping 10.0.0.1
        ("http://224.0.0.1/", "224.0.0.1", "multicast"),
        ("http://100.64.0.1/", "100.64.0.1", "non-public"),  # carrier-grade NAT
    ],
)
def test_non_public_ip_literals_fail_fast_without_connecting(url: str, address: str, kind: str) -> None:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    async def go() -> None:
        async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
            await fetch_url(url, max_bytes=1000, timeout=5, field="image_url", client=client)

    started = time.monotonic()
    with pytest.raises(DisallowedURL) as caught:
        asyncio.run(go())
    assert time.monotonic() - started < 4  # refused without waiting for the 5 s connect timeout
    assert sent == []
    assert caught.value.message == (
        f"image_url points to {address}, {'an' if kind[0] in 'aeiou' else 'a'} {kind} address; "
        "only public addresses may be fetched"
    )


def test_ipv4_mapped_address_is_allowed_like_its_ipv4(server: Server) -> None:
    body = fetch(f"http://[::ffff:127.0.0.1]:{server.port}/echo-host", allowed_networks=LOCAL)
    assert body.content == f"[::ffff:127.0.0.1]:{server.port}".encode()


def test_localhost_via_the_real_resolver_is_refused(server: Server) -> None:
    with pytest.raises(DisallowedURL) as caught:
        fetch(f"http://localhost:{server.port}/image")
    message = caught.value.message
    assert message.startswith("image_url host 'localhost' resolves to ")
    assert "127.0.0.1, a loopback address" in message or "::1, a loopback address" in message
    assert ("/image", f"localhost:{server.port}") not in server.requests


def test_hostname_resolving_to_a_private_address_is_refused() -> None:
    with pytest.raises(DisallowedURL) as caught:
        fetch("http://images.example.test/cat.png", resolver=resolver_for({"images.example.test": ["10.1.2.3"]}))
    assert caught.value.message == (
        "image_url host 'images.example.test' resolves to 10.1.2.3, a private address; "
        "only public addresses may be fetched"
    )


def test_every_resolved_address_must_be_allowed() -> None:
    resolver = resolver_for({"mixed.example.test": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(DisallowedURL, match=r"10\.0\.0\.7, a private address"):
        fetch("http://mixed.example.test/", resolver=resolver)


def test_resolution_failure_is_fetch_failed() -> None:
    with pytest.raises(FetchFailed) as caught:
        fetch("http://nowhere.example.test/", resolver=resolver_for({}))
    assert caught.value.message == "could not resolve host 'nowhere.example.test'"
    assert caught.value.field == "image_url"


@pytest.mark.parametrize("answer", [[], ["not-an-address"]])
def test_useless_resolver_answers_are_fetch_failed(answer: list[str]) -> None:
    with pytest.raises(FetchFailed, match=r"could not resolve host 'odd\.example\.test'"):
        fetch("http://odd.example.test/", resolver=resolver_for({"odd.example.test": answer}))


def test_unexpected_resolver_exception_becomes_fetch_failed() -> None:
    async def broken(host: str, port: int) -> list[str]:
        raise RuntimeError("resolver bug")

    with pytest.raises(FetchFailed, match="could not resolve host"):
        fetch("http://broken.example.test/", resolver=broken)


def test_connects_to_the_checked_address_not_a_fresh_lookup(server: Server) -> None:
    """DNS rebinding: a second lookup would answer 10.0.0.1, and the system resolver knows no such name."""
    calls: list[str] = []
    answers = iter([["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers, ["10.0.0.1"])

    body = fetch(f"http://rebind.example.test:{server.port}/echo-host", resolver=rebinding, allowed_networks=LOCAL)
    assert body.content == f"rebind.example.test:{server.port}".encode()  # the original Host header
    assert body.final_url == f"http://rebind.example.test:{server.port}/echo-host"
    assert calls == ["rebind.example.test"]


# -- redirects -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("http://10.0.0.1/x", "points to 10.0.0.1, a private address"),
        ("http://169.254.169.254/", "points to 169.254.169.254, a link-local address"),
        ("http://127.0.0.2:{port}/image", "points to 127.0.0.2, a loopback address"),
        ("file:///etc/passwd", "uses the scheme 'file:'"),
        ("http://user:pw@127.0.0.1:{port}/image", "contains credentials"),
    ],
)
def test_each_redirect_hop_is_checked(server: Server, target: str, expected: str) -> None:
    target = target.format(port=server.port)
    with pytest.raises(DisallowedURL) as caught:
        fetch(f"{server.base}/redirect?to={target}", allowed_networks=LOCAL)
    assert caught.value.message.startswith(f"image_url redirected to {target}, which ")
    assert expected in caught.value.message


def test_redirect_to_a_hostname_is_resolved_and_checked(server: Server) -> None:
    resolver = resolver_for({"internal.example.test": ["192.168.1.10"]})
    with pytest.raises(DisallowedURL) as caught:
        fetch(
            f"{server.base}/redirect?to=http://internal.example.test/",
            allowed_networks=LOCAL,
            resolver=resolver,
        )
    assert caught.value.message == (
        "image_url redirected to http://internal.example.test/, whose host 'internal.example.test' "
        "resolves to 192.168.1.10, a private address; only public addresses may be fetched"
    )


def test_too_many_redirects(server: Server) -> None:
    with pytest.raises(DisallowedURL) as caught:
        fetch(f"{server.base}/chain/4", allowed_networks=LOCAL)
    assert caught.value.message.startswith("too many redirects (max 3)")
    assert ("/chain/0", f"127.0.0.1:{server.port}") not in server.requests


def test_max_redirects_hops_are_followed(server: Server) -> None:
    assert fetch(f"{server.base}/chain/3", allowed_networks=LOCAL).final_url == f"{server.base}/chain/0"
    with pytest.raises(DisallowedURL, match=r"too many redirects \(max 0\)"):
        fetch(f"{server.base}/chain/1", allowed_networks=LOCAL, max_redirects=0)


def test_relative_redirect_is_resolved_against_the_current_url(server: Server) -> None:
    body = fetch(f"{server.base}/dir/relative", allowed_networks=LOCAL)
    assert body.content == IMAGE
    assert body.content_type == "image/png"
    assert body.final_url == f"{server.base}/image?from=relative"


def test_redirect_without_location_is_fetch_failed(server: Server) -> None:
    with pytest.raises(FetchFailed, match="HTTP 302 without a Location"):
        fetch(f"{server.base}/no-location", allowed_networks=LOCAL)


# -- size ------------------------------------------------------------------------------------------


def test_content_length_over_the_cap_is_refused(server: Server) -> None:
    limit = 20 * 1024 * 1024
    with pytest.raises(ImageTooLarge) as caught:
        fetch(f"{server.base}/sized?size={limit + 1}", allowed_networks=LOCAL, max_bytes=limit)
    assert caught.value.message == (f"the file at {server.base}/sized?size={limit + 1} is larger than the 20 MB limit")
    assert caught.value.field == "image_url"


def test_chunked_body_over_the_cap_is_cut_off(server: Server) -> None:
    with pytest.raises(ImageTooLarge, match="is larger than the 4 KB limit"):
        fetch(f"{server.base}/chunked?size={1024 * 1024}", allowed_networks=LOCAL, max_bytes=4096)


def test_chunked_body_under_the_cap_is_read(server: Server) -> None:
    body = fetch(f"{server.base}/chunked?size=3072", allowed_networks=LOCAL, max_bytes=4096)
    assert body.content == b"y" * 3072


def test_small_limits_are_shown_in_bytes(server: Server) -> None:
    with pytest.raises(ImageTooLarge, match="larger than the 1000 bytes limit"):
        fetch(f"{server.base}/sized?size=1001", allowed_networks=LOCAL, max_bytes=1000)


# -- time ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/slow", "/slow-body"])
def test_slow_server_times_out(server: Server, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchFailed) as caught:
        fetch(f"{server.base}{path}", allowed_networks=LOCAL, timeout=0.5)
    assert time.monotonic() - started < STALL_SECONDS / 2  # ended by the timeout, not by the server giving up
    assert caught.value.message == f"timed out after 0.5 s fetching {server.base}{path}"


# -- HTTP and connection errors --------------------------------------------------------------------


def test_non_2xx_is_fetch_failed_naming_the_status(server: Server) -> None:
    with pytest.raises(FetchFailed) as caught:
        fetch(f"{server.base}/missing.png", allowed_networks=LOCAL)
    assert caught.value.message == f"{server.base}/missing.png answered HTTP 404 Not Found"
    assert caught.value.status_code == 422


def test_connection_refused_is_fetch_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchFailed, match=r"could not connect to '127\.0\.0\.1'"):
        fetch(f"http://127.0.0.1:{port}/image", allowed_networks=LOCAL)


def test_unexpected_errors_surface_as_fetch_failed(server: Server) -> None:
    async def go() -> FetchedBody:
        client = httpx.AsyncClient()
        await client.aclose()  # httpx refuses to send on a closed client with a RuntimeError
        return await fetch_url(
            f"{server.base}/image", max_bytes=10_000, timeout=3, allowed_networks=LOCAL, client=client
        )

    with pytest.raises(FetchFailed, match="unexpected RuntimeError"):
        asyncio.run(go())


# -- TLS -------------------------------------------------------------------------------------------


def test_https_verifies_the_hostname_while_connecting_to_the_checked_address(
    tls_server: tuple[Server, Path],
) -> None:
    server, cert = tls_server
    resolver = resolver_for({"sentinel.test": ["127.0.0.1"]})

    async def go() -> FetchedBody:
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(cert))) as client:
            return await fetch_url(
                f"{server.base}/echo-host",
                max_bytes=1000,
                timeout=3,
                allowed_networks=LOCAL,
                resolver=resolver,
                client=client,
            )

    body = asyncio.run(go())
    assert body.content == f"sentinel.test:{server.port}".encode()
    assert server.server_names[-1] == "sentinel.test"


def test_https_with_a_certificate_for_another_name_fails(tls_server: tuple[Server, Path]) -> None:
    server, cert = tls_server
    resolver = resolver_for({"other.test": ["127.0.0.1"]})

    async def go() -> FetchedBody:
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(cert))) as client:
            return await fetch_url(
                f"https://other.test:{server.port}/image",
                max_bytes=1000,
                timeout=3,
                allowed_networks=LOCAL,
                resolver=resolver,
                client=client,
            )

    with pytest.raises(FetchFailed, match=r"could not connect to 'other\.test'"):
        asyncio.run(go())
