"""A large ``b64_json`` answer starts while its generation is committed (its image's row, blob and call log), and its
last bytes wait for that commit: a client that has the whole answer has a generation on record, a commit that fails
cuts the answer short rather than completing it, and a client that hangs up mid-answer does not stop the commit of
what it paid for."""

from __future__ import annotations

import base64
import collections
import hashlib
import io
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.gateway.one_provider import serve_with_one_provider

#: The provider's next answers' bodies, one per request.
ANSWERS: collections.deque[bytes] = collections.deque()
#: Large enough for the image's bytes to be written ahead while it is checked (what lets the answer start early).
IMAGE_BYTES = 600 * 1024


async def _generations(request: Request) -> Response:
    await request.body()
    return Response(ANSWERS.popleft(), media_type="application/json")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("answer-before-commit")
    app = Starlette(routes=[Route("/v1/images/generations", _generations, methods=["POST"])])
    with serve(app) as fake, serve_with_one_provider(tmp, fake.url) as base:
        yield base, tmp / "data"


def _queue_new_image(seed: int) -> bytes:
    """A new large PNG of noise (``seed`` makes it differ from every other test's), queued as the provider's next
    answer."""
    side = int((IMAGE_BYTES / 3) ** 0.5)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=1)
    image = out.getvalue()
    ANSWERS.append(orjson.dumps({"created": 1, "data": [{"b64_json": base64.b64encode(image).decode()}]}))
    return image


def _database(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(data / "sentinel.db", timeout=30)


def _calls(data: Path) -> int:
    with _database(data) as database:
        return database.execute("SELECT count(*) FROM provider_calls").fetchone()[0]


def _until(condition, seconds: float = 30.0) -> bool:
    """Whether ``condition()`` comes true within ``seconds`` (asked every 50 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_whole_answer_names_an_image_already_on_record(gateway) -> None:
    base, data = gateway
    image = _queue_new_image(1)
    answer = httpx.post(f"{base}/v1/images/generations", json={"prompt": "a cup", "response_format": "b64_json"})
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["content-length"]) == len(answer.content)
    body = answer.json()
    assert base64.b64decode(body["data"][0]["b64_json"]) == image
    (stored,) = body["sentinel"]["images"]
    # Read back at once, by another connection: the commit ended before the answer did.
    with _database(data) as database:
        assert database.execute("SELECT count(*) FROM images WHERE id = ?", (stored["id"],)).fetchone()[0] == 1
        logged = database.execute(
            "SELECT count(*) FROM provider_calls WHERE request_id = ?", (body["sentinel"]["id"],)
        ).fetchone()[0]
    assert logged == 1


def test_a_generation_whose_commit_fails_is_never_answered_as_a_whole(gateway) -> None:
    base, data = gateway
    _queue_new_image(2)
    with _database(data) as database:
        database.execute(
            "CREATE TRIGGER refuse_calls BEFORE INSERT ON provider_calls BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    try:
        try:
            answer = httpx.post(
                f"{base}/v1/images/generations", json={"prompt": "a cup", "response_format": "b64_json"}
            )
        except httpx.RemoteProtocolError:
            answer = None  # cut short after it started: the client knows it is broken
        assert answer is None or answer.status_code >= 500, "a generation that was not committed was answered"
    finally:
        with _database(data) as database:
            database.execute("DROP TRIGGER refuse_calls")


def test_a_client_that_hangs_up_mid_answer_still_has_its_paid_image_and_call_on_record(gateway) -> None:
    base, data = gateway
    image = _queue_new_image(3)
    before = _calls(data)
    body = {"prompt": "a cup", "response_format": "b64_json"}
    with httpx.stream("POST", f"{base}/v1/images/generations", json=body) as answer:
        assert answer.status_code == 200
        next(answer.iter_raw(1024))  # the first bytes, then the client goes
    assert _until(lambda: _calls(data) == before + 1), "the paid call of a client that hung up was not logged"
    image_id = hashlib.sha256(image).hexdigest()
    with _database(data) as database:
        assert database.execute("SELECT count(*) FROM images WHERE id = ?", (image_id,)).fetchone()[0] == 1
