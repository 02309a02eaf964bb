"""The gateway bench's fake provider answers a new, valid image per request by default (a real provider's images are
new, and storing one is what a gateway that keeps images pays for), or the same image when asked to."""

from __future__ import annotations

import hashlib
import io

import pybase64
from PIL import Image
from starlette.testclient import TestClient

from sentinel.bench.gateway import noise_png
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script

BODY = {"model": "dall-e-3", "prompt": "bench", "response_format": "b64_json"}
HEADERS = {"Authorization": "Bearer sk-bench"}


def answers(distinct: bool, count: int, base: bytes, body: dict[str, str] = BODY) -> list[bytes]:
    client = TestClient(create_app(Script(), image=base, distinct=distinct))
    images = []
    for _ in range(count):
        item = client.post("/v1/images/generations", json=body, headers=HEADERS).json()["data"][0]
        images.append(pybase64.b64decode(item["b64_json"]) if "b64_json" in item else client.get(item["url"]).content)
    return images


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.tobytes()


def test_each_answer_is_a_new_valid_png_of_the_same_pixels_and_size_class() -> None:
    base = noise_png(64 * 1024)

    images = answers(distinct=True, count=5, base=base)

    assert len({hashlib.sha256(data).hexdigest() for data in images}) == 5
    for data in images:
        assert pixels(data) == pixels(base)  # a valid PNG: every chunk's CRC checks, and the pixels are untouched
        assert 0 < len(data) - len(base) <= 64


def test_answers_by_url_are_new_images_too() -> None:
    base = noise_png(16 * 1024)

    images = answers(distinct=True, count=3, base=base, body=BODY | {"response_format": "url"})

    assert len(set(images)) == 3 and all(pixels(data) == pixels(base) for data in images)


def test_same_image_answers_the_image_itself_every_time() -> None:
    base = noise_png(16 * 1024)

    assert answers(distinct=False, count=3, base=base) == [base] * 3
