"""A provider's answer that breaks off midway stores nothing (no blob, no half-written file, no image row); a large
image that comes whole is stored under the hash of its bytes, byte for byte."""

from __future__ import annotations

import base64
import hashlib
import io
import sqlite3

import httpx
import numpy as np
import pytest
from PIL import Image

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.gateway.one_provider import serve_with_one_provider


def noise_png(side: int) -> bytes:
    """A PNG of noise: large (~530 KB at 420²), as a real generation's image is, so its answer comes in pieces."""
    pixels = np.random.default_rng(side).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cut-answers")
    script = Script()
    with serve(create_app(script)) as fake, serve_with_one_provider(tmp, fake.url) as base:
        yield base, script, tmp / "data"


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def image_rows(data) -> set[str]:
    with sqlite3.connect(data / "sentinel.db") as connection:
        return {row[0] for row in connection.execute("SELECT id FROM images")}


def test_a_large_image_is_stored_under_the_hash_of_its_bytes(gateway) -> None:
    base, script, data = gateway
    image = noise_png(420)
    script.images.append(image)
    response = httpx.post(
        f"{base}/v1/images/generations", json={"prompt": "a cup", "response_format": "b64_json"}, timeout=60
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert base64.b64decode(answer["data"][0]["b64_json"]) == image
    digest = hashlib.sha256(image).hexdigest()
    assert answer["sentinel"]["images"][0]["id"] == digest
    stored = data / "blobs" / digest[:2] / digest[2:4] / digest
    assert stored.read_bytes() == image
    assert digest in image_rows(data)


def test_an_answer_cut_midway_leaves_no_blob_and_no_image_row(gateway) -> None:
    base, script, data = gateway
    blobs_before, rows_before = files_under(data / "blobs"), image_rows(data)
    script.images.append(noise_png(440))
    script.push("cut")
    response = httpx.post(
        f"{base}/v1/images/generations", json={"prompt": "a cup", "response_format": "b64_json"}, timeout=60
    )
    assert response.status_code == 503, response.text
    assert "the answer broke off after" in response.json()["error"]["message"]
    # Nothing half-written is left behind either (no .incoming- file of a write started ahead).
    assert files_under(data / "blobs") == blobs_before
    assert image_rows(data) == rows_before
