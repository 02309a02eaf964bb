"""Hostile request bodies over real sockets: too big (declared or not), too slow, malformed multipart, JSON bombs.
Each is answered with its own clear 4xx, quickly, and the server keeps serving everyone else."""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel.http.limits import BodySizeLimit
from sentinel.settings import Settings
from tests.conftest import free_port, png_bytes
from tests.hostile.conftest import BODY_CAP, BODY_READ_TIMEOUT, assert_error
from tests.hostile.rawhttp import chunked, exchange, request_head

PNG = png_bytes(64, 64)
JSON = {"Content-Type": "application/json"}


def multipart(*parts: tuple[str, bytes, str | None], boundary: str = "hostile-boundary", close: bool = True) -> bytes:
    body = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return body + (f"--{boundary}--\r\n".encode() if close else b"")


GOOD_FORM = (("task", b"text-to-image", None), ("image", PNG, "a.png"))


def post_raw(base: str, body: bytes, content_type: str, path: str = "/v1/evaluations") -> httpx.Response:
    return httpx.post(f"{base}{path}", content=body, headers={"Content-Type": content_type}, timeout=30)


def assert_serving(base: str) -> None:
    # Answered at all, not how fast: a loaded machine may take a while, a blocked server never answers.
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200


# -- size ------------------------------------------------------------------------------------------


def test_declared_content_length_over_the_cap_is_refused_before_any_body(strict_api) -> None:
    base, _ = strict_api
    head = request_head(
        "POST", "/v1/evaluations", {"Content-Type": "application/json", "Content-Length": str(10 * BODY_CAP)}
    )
    response = exchange(base, head)  # not one byte of body sent
    assert response.status == 413
    assert response.error()["type"] == "payload_too_large"
    assert response.error()["message"] == "request body exceeds the 1.8 MB limit"
    assert response.headers["connection"] == "close"
    assert_serving(base)


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=hostile-boundary"])
def test_chunked_body_without_content_length_is_cut_off_at_the_cap(strict_api, content_type) -> None:
    base, _ = strict_api
    head = request_head("POST", "/v1/evaluations", {"Content-Type": content_type, "Transfer-Encoding": "chunked"})
    prefix = multipart(("task", b"text-to-image", None), close=False) + b"--hostile-boundary\r\n"
    prefix += b'Content-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    # Far more than the cap and than every buffer between us (a few MB on loopback): a server that went on
    # reading would take it all, one that stopped at the cap leaves us blocked once the buffers are full.
    block = b"\0" * (64 * 1024)
    endless = itertools.chain(chunked(prefix, 64 * 1024)[:-1], itertools.repeat(chunked(block, len(block))[0], 2000))
    response = exchange(base, head, endless, pause=0.001)
    assert response.status == 413, response.body
    assert response.error() == {
        "type": "payload_too_large",
        "message": "request body exceeds the 1.8 MB limit",
        "param": None,
        "code": None,
    }
    # Refused while streaming: what we got to send is the cap plus what the sockets buffer, not the 128 MB.
    assert response.sent < 16 * BODY_CAP, response.sent
    assert_serving(base)


def test_a_body_just_under_the_cap_is_read(strict_api) -> None:
    base, _ = strict_api
    body = b'{"task": "text-to-image", "image_url": "' + b"x" * (BODY_CAP - 100) + b'"}'
    response = post_raw(base, body, "application/json")
    # Read whole and refused for what it says (the URL is too long), not for its size.
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "image_url"


# -- slow-loris ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_echo() -> Iterator[str]:
    """The body guard with a 1 s read deadline in front of an app that echoes body sizes, under uvicorn."""

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"received": len(await request.body())})

    async def ping(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = BodySizeLimit(
        Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/ping", ping)]),
        max_bytes=1024 * 1024,
        read_timeout=1.0,
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def slow_loris(base: str, path: str, content_type: str, seconds: float) -> tuple[list, threading.Thread]:
    """A client announcing 100 KB and trickling 4 bytes every 0.2 s for up to ``seconds``, in a thread."""
    head = request_head("POST", path, {"Content-Type": content_type, "Content-Length": str(100_000)})
    answers: list = []

    def run() -> None:
        answers.append(exchange(base, head, [b"{   "] * int(seconds / 0.2), pause=0.2, timeout=seconds + 10))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return answers, thread


def test_slow_loris_upload_is_cut_off_with_408_and_blocks_nobody(guarded_echo) -> None:
    answers, thread = slow_loris(guarded_echo, "/echo", "application/json", seconds=10)
    time.sleep(0.3)  # the trickle has begun
    # Meanwhile another client is served, its body read whole, before the trickling one is cut off: a server
    # that a slow upload blocked would answer it only after the 408.
    response = httpx.post(f"{guarded_echo}/echo", content=b"x" * 50_000, timeout=10)
    assert response.json() == {"received": 50_000}
    assert not answers, "the other client was answered only after the slow upload was cut off"
    for _ in range(4):
        response = httpx.post(f"{guarded_echo}/echo", content=b"x" * 50_000, timeout=10)
        assert response.json() == {"received": 50_000}
    thread.join(timeout=15)
    (answer,) = answers
    assert answer.status == 408
    assert answer.error()["type"] == "request_timeout"
    assert answer.error()["message"] == "request body was not received within 1 s; upload too slow"
    assert answer.headers["connection"] == "close"
    assert 1.0 <= answer.elapsed < 8.0, answer.elapsed  # cut at its 1 s deadline, not after the 10 s trickle
    assert answer.sent < 100


def test_the_deadline_covers_only_the_body(guarded_echo) -> None:
    """A body sent whole in time is read, however long the request then takes; a request without body too."""
    assert httpx.post(f"{guarded_echo}/echo", content=b"y" * 500_000, timeout=5).json() == {"received": 500_000}
    assert httpx.get(f"{guarded_echo}/ping", timeout=5).json() == {"ok": True}


@pytest.mark.skipif(
    "body_read_timeout_seconds" not in Settings.model_fields, reason="SENTINEL_BODY_READ_TIMEOUT_SECONDS not wired"
)
def test_slow_loris_against_sentinel_gets_408_while_others_are_served(strict_api) -> None:
    base, _ = strict_api
    answers, thread = slow_loris(base, "/v1/evaluations", "application/json", seconds=BODY_READ_TIMEOUT + 5)
    time.sleep(0.3)
    assert_serving(base)
    response = httpx.post(f"{base}/v1/evaluations", json={"task": "text-to-image"}, timeout=5)
    assert response.status_code == 400  # a whole, wrong body is answered for what it says
    thread.join(timeout=BODY_READ_TIMEOUT + 15)
    (answer,) = answers
    assert answer.status == 408, answer.body
    assert answer.error()["type"] == "request_timeout"
    assert BODY_READ_TIMEOUT <= answer.elapsed < BODY_READ_TIMEOUT + 4  # before the trickle would have ended


# -- malformed multipart ---------------------------------------------------------------------------


MULTIPART = "multipart/form-data; boundary=hostile-boundary"


@pytest.mark.parametrize(
    ("name", "content_type", "body", "words"),
    [
        ("no boundary", "multipart/form-data", multipart(*GOOD_FORM), "Missing boundary"),
        ("another boundary", "multipart/form-data; boundary=other", multipart(*GOOD_FORM), "Invalid multipart data"),
        ("empty boundary", "multipart/form-data; boundary=", multipart(*GOOD_FORM), "malformed multipart"),
        ("garbage", MULTIPART, b"\x00\xff" * 5000, "Invalid multipart data"),
        ("part without a name", MULTIPART, b"--hostile-boundary\r\n\r\nhello\r\n--hostile-boundary--\r\n", '"name"'),
        (
            "header line without colon",
            MULTIPART,
            b'--hostile-boundary\r\nContent-Disposition form-data; name="task"\r\n\r\nx\r\n--hostile-boundary--\r\n',
            "malformed multipart",
        ),
        ("truncated inside the image", MULTIPART, multipart(*GOOD_FORM)[:-200], "truncated upload"),
        ("no closing boundary", MULTIPART, multipart(*GOOD_FORM, close=False), "'--hostile-boundary--'"),
        ("empty body", MULTIPART, b"", "truncated upload"),
        ("many fields", MULTIPART, multipart(*[(f"f{i}", b"x", None) for i in range(500)]), "Too many fields"),
        ("many files", MULTIPART, multipart(*[("image", PNG, "a.png")] * 20), "Too many files"),
        ("a huge text field", MULTIPART, multipart(("params", b"{" + b" " * 200_000 + b"}", None)), "64 KB"),
        ("the image twice", MULTIPART, multipart(*GOOD_FORM, ("image", PNG, "b.png")), "'image' was sent 2 times"),
        ("task as a file", MULTIPART, multipart(("task", b"text-to-image", "t.txt"), GOOD_FORM[1]), "must be text"),
        ("image as text", MULTIPART, multipart(GOOD_FORM[0], ("image", b"hello", None)), "must be a file upload"),
    ],
)
def test_malformed_multipart_is_400_naming_the_problem(strict_api, name, content_type, body, words) -> None:
    base, _ = strict_api
    response = post_raw(base, body, content_type)
    assert_error(response, 400, "invalid_request_error", words)


def test_a_well_formed_multipart_is_still_accepted(strict_api) -> None:
    base, _ = strict_api
    assert post_raw(base, multipart(*GOOD_FORM), MULTIPART).status_code == 202


def test_a_truncated_upload_over_the_wire_is_400(strict_api) -> None:
    """The client says 10 KB more than it sends, then hangs up: the body ends early."""
    base, _ = strict_api
    body = multipart(*GOOD_FORM)
    head = request_head("POST", "/v1/evaluations", {"Content-Type": MULTIPART, "Content-Length": str(len(body))})
    try:
        response = exchange(base, head + body[: len(body) - 300], hang_up=True, timeout=10)
    except http.client.RemoteDisconnected:
        pass  # nobody left to answer; the server must only not count it as its own error (checked at the end)
    else:
        assert response.status == 400, response.body
    assert_serving(base)


def test_filenames_are_never_used_as_paths(strict_api, tmp_path) -> None:
    base, data = strict_api
    target = tmp_path / "pwned.png"
    for filename in (f"../../../../../..{target}", str(target), "..\\..\\pwned.png", "/dev/null"):
        form = multipart(("task", b"text-to-image", None), ("image", PNG, filename))
        assert post_raw(base, form, MULTIPART).status_code == 202
    assert not target.exists()
    assert not (data.parent / "pwned.png").exists()


# -- JSON bombs ------------------------------------------------------------------------------------


def deep(opening: bytes, closing: bytes, depth: int) -> bytes:
    return opening * depth + b"1" + closing * depth


@pytest.mark.parametrize(
    ("name", "body", "words"),
    [
        ("arrays nested 100 000 deep", b'{"task": "t", "params": ' + deep(b"[", b"]", 100_000) + b"}", "recursion"),
        ("objects nested 50 000 deep", b'{"task": "t", "params": ' + deep(b'{"a":', b"}", 50_000) + b"}", "recursion"),
        ("a 100 000-digit integer", b'{"task": "t", "params": {"width": ' + b"9" * 100_000 + b"}}", "number"),
        ("an exponent of a million", b'{"task": "t", "image_url": 1e1000000}', "image_url"),
        ("100 000 keys", b"{" + b",".join(b'"k%d":1' % i for i in range(100_000)) + b"}", "task"),
        ("a 1 MB string", b'{"task": "' + b"a" * 1_000_000 + b'", "image_url": "http://x/"}', "at most"),
        ("NaN", b'{"task": "text-to-image", "image_url": NaN}', "image_url"),
        ("invalid UTF-8", b'{"task": "\xff\xfe", "image_url": "http://x/"}', "Invalid JSON"),
        ("a NUL character", b'{"task": "text-to-image", "image_url": "http://x/\\u0000"}', "NUL"),
        ("not an object", b"[" * 10 + b"]" * 10, "body"),
    ],
)
def test_json_bombs_are_400_quickly(strict_api, name, body, words) -> None:
    base, _ = strict_api
    started = time.monotonic()
    response = post_raw(base, body, "application/json")
    assert_error(response, 400, "invalid_request_error", words)
    assert time.monotonic() - started < 5
    assert_serving(base)


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/images/generations", "/v1/review/ev_x/decision"])
def test_json_bombs_on_every_json_endpoint(strict_api, path) -> None:
    base, _ = strict_api
    for body in (deep(b"[", b"]", 100_000), b'{"prompt": ' + b"9" * 100_000 + b"}", b'{"prompt": "\\u0000"}'):
        response = post_raw(base, body, "application/json", path)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("params", "words"),
    [
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
        (b'{"prompt": ' + b"[" * 500 + b"]" * 500 + b"}", "must be a string"),
        (b'{"width": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b'{"width": NaN}', "not valid JSON"),
        (b'{"prompt": "a\\u0000b"}', "NUL"),
    ],
)
def test_json_bombs_in_the_multipart_params_field(strict_api, params, words) -> None:
    base, _ = strict_api
    response = post_raw(base, multipart(*GOOD_FORM, ("params", params, None)), MULTIPART)
    assert_error(response, 400, "invalid_request_error", words)
