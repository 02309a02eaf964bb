"""The image check on the gateway's request path: what a provider hands over is refused unless it is a whole,
reasonably sized image (the fast path decodes base64 once and checks structure without decoding pixels)."""

from __future__ import annotations

import base64

import httpx
import pytest

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.api.test_bad_input import bomb_png, truncated_png
from tests.conftest import png_bytes
from tests.gateway.one_provider import serve_with_one_provider


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-provider-images")
    script = Script()
    with serve(create_app(script)) as fake, serve_with_one_provider(tmp, fake.url) as base:
        yield base, script, tmp / "data" / "blobs"


def stored(blobs) -> int:
    return len([p for p in blobs.rglob("*") if p.is_file() and not p.name.startswith(".")]) if blobs.exists() else 0


@pytest.mark.parametrize(
    ("payload", "words", "status"),
    [
        (truncated_png, "truncated", 503),
        # No image at all: the provider's fault (502 provider_error), where a cut image may be a passing fault.
        (lambda: b"<html>rate limited, try later</html>" * 4, "text, not an image", 502),
        (bomb_png, "decompression bomb", 503),
    ],
    ids=["truncated png", "not an image", "decompression bomb"],
)
def test_an_unusable_provider_image_is_refused_and_never_stored(gateway, payload, words, status) -> None:
    base, script, blobs = gateway
    before = stored(blobs)
    script.images.append(payload())
    response = httpx.post(f"{base}/v1/images/generations", json={"prompt": "a cup"}, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert "no usable image" in error["message"] and words in error["message"], error
    assert stored(blobs) == before


def test_a_good_image_after_bad_ones_comes_back_byte_for_byte(gateway) -> None:
    base, script, _ = gateway
    good = png_bytes(96, 96)
    script.images.append(good)
    response = httpx.post(
        f"{base}/v1/images/generations", json={"prompt": "a cup", "response_format": "b64_json"}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert base64.b64decode(response.json()["data"][0]["b64_json"]) == good
