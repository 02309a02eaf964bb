"""A ``b64_json`` answer carries the provider's base64 on when it is exactly the encoding of the checked bytes, and
encodes the bytes itself otherwise: either way the answer's base64 decodes to the stored, verified image and is the
canonical encoding of it, whatever shape of base64 the provider sent (line breaks, stray low bits in its last group,
an unusual key)."""

from __future__ import annotations

import base64
import collections
import hashlib

import httpx
import orjson
import pybase64
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sentinel.bench.gateway import noise_png
from sentinel.providers.base import canonical_base64
from sentinel_fakes.server import serve
from tests.conftest import png_bytes
from tests.gateway.one_provider import serve_with_one_provider

#: The provider's next answers' bodies, one per request.
ANSWERS: collections.deque[bytes] = collections.deque()


async def _generations(request: Request) -> Response:
    await request.body()
    return Response(ANSWERS.popleft(), media_type="application/json")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("base64-passthrough")
    app = Starlette(routes=[Route("/v1/images/generations", _generations, methods=["POST"])])
    with serve(app) as fake, serve_with_one_provider(tmp, fake.url) as base:
        yield base, tmp / "data" / "blobs"


def _png_not_a_multiple_of_three() -> bytes:
    """A PNG whose base64 ends in padding, so its last group has unused low bits a provider could set."""
    return next(data for side in range(64, 104) if len(data := png_bytes(side, side)) % 3)


def _with_low_bits_set(encoded: str) -> str:
    """``encoded`` with its last group's unused low bits set: the same bytes strictly decoded, not canonical."""
    stripped = encoded.rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(stripped[-1]) | (0b1111 if len(stripped) % 4 == 2 else 0b11)
    return stripped[:-1] + alphabet[last] + "=" * (len(encoded) - len(stripped))


def _stored(blobs, image_id: str) -> bytes:
    (path,) = [p for p in blobs.rglob(f"*{image_id}*") if p.is_file()]
    return path.read_bytes()


def _generate(base: str, provider_answer: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    ANSWERS.append(provider_answer)
    return httpx.post(
        f"{base}/v1/images/generations",
        json={"prompt": "a cup", "response_format": "b64_json"},
        headers=headers or {},
        timeout=60,
    )


def _assert_answers_the_stored_image(gateway, response: httpx.Response, image: bytes) -> None:
    _, blobs = gateway
    assert response.status_code == 200, response.text
    answer = response.json()
    text = answer["data"][0]["b64_json"]
    assert text == base64.b64encode(image).decode()  # canonical, whatever the provider sent
    image_id = answer["sentinel"]["images"][0]["id"]
    assert image_id == hashlib.sha256(image).hexdigest()
    assert _stored(blobs, image_id) == base64.b64decode(text)
    assert int(response.headers["content-length"]) == len(response.content)


@pytest.mark.parametrize("size", ["small", "large"])
def test_canonical_provider_base64_comes_back_as_the_stored_image(gateway, size) -> None:
    # Large: past the size at which the answer is sent in pieces while it is written.
    image = noise_png(600_000) if size == "large" else _png_not_a_multiple_of_three()
    answer = orjson.dumps({"created": 1, "data": [{"b64_json": pybase64.b64encode_as_string(image)}]})
    _assert_answers_the_stored_image(gateway, _generate(gateway[0], answer), image)


def test_provider_base64_with_stray_low_bits_is_answered_canonically(gateway) -> None:
    image = _png_not_a_multiple_of_three()
    loose = _with_low_bits_set(base64.b64encode(image).decode())
    assert loose != base64.b64encode(image).decode() and base64.b64decode(loose) == image
    answer = orjson.dumps({"created": 1, "data": [{"b64_json": loose}]})
    _assert_answers_the_stored_image(gateway, _generate(gateway[0], answer), image)


def test_provider_base64_with_line_breaks_is_answered_canonically(gateway) -> None:
    image = png_bytes(90, 90)
    wrapped = base64.encodebytes(image).decode()  # a line break every 76 characters
    answer = orjson.dumps({"created": 1, "data": [{"b64_json": wrapped}]})
    _assert_answers_the_stored_image(gateway, _generate(gateway[0], answer), image)


def test_a_replayed_answer_carries_the_same_base64(gateway) -> None:
    image = png_bytes(70, 70)
    answer = orjson.dumps({"created": 1, "data": [{"b64_json": pybase64.b64encode_as_string(image)}]})
    key = {"Idempotency-Key": "passthrough-replay"}
    first = _generate(gateway[0], answer, key)
    _assert_answers_the_stored_image(gateway, first, image)
    replayed = httpx.post(
        f"{gateway[0]}/v1/images/generations",
        json={"prompt": "a cup", "response_format": "b64_json"},
        headers=key,
        timeout=60,
    )
    assert replayed.headers.get("idempotent-replayed") == "true"
    assert replayed.json()["data"] == first.json()["data"]


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 100])
def test_canonical_base64_is_exactly_what_encoding_gives(length: int) -> None:
    data = bytes(range(256))[:length] * 1
    encoded = base64.b64encode(data)
    assert canonical_base64(encoded, data)
    assert canonical_base64(memoryview(encoded), data)
    if length % 3:
        loose = _with_low_bits_set(encoded.decode()).encode()
        assert pybase64.b64decode(loose, validate=True) == data
        assert not canonical_base64(loose, data)
    assert not canonical_base64(encoded + b"QUFB", data)
