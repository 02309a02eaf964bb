"""Stored images are re-served with the type their bytes have, an ETag and long-lived cache headers."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from tests.conftest import png_bytes


def test_image_is_served_with_sniffed_type_etag_and_cache_headers(client) -> None:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(png_bytes(200, 100))).convert("RGB").save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    # The upload claims to be a PNG called .png; its bytes are a JPEG.
    created = client.post(
        "/v1/evaluations", data={"task": "text-to-image"}, files={"image": ("lies.png", jpeg, "image/png")}
    )
    assert created.status_code == 202, created.text
    ref = created.json()["image"]
    assert ref["id"] == hashlib.sha256(jpeg).hexdigest()
    response = client.get(ref["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["etag"] == f'"{ref["id"]}"'
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == jpeg
    cached = client.get(ref["url"], headers={"If-None-Match": response.headers["etag"]})
    assert cached.status_code == 304
    assert cached.content == b""


def test_same_bytes_are_stored_once(client) -> None:
    data = png_bytes(90, 90, (1, 2, 3))
    first = client.post("/v1/evaluations", data={"task": "text-to-image"}, files={"image": ("a.png", data)})
    second = client.post("/v1/evaluations", data={"task": "text-to-image"}, files={"image": ("b.png", data)})
    assert first.json()["image"] == second.json()["image"]
    assert first.json()["id"] != second.json()["id"]


def test_long_poll_returns_the_verdict(client) -> None:
    created = client.post(
        "/v1/evaluations", data={"task": "text-to-image"}, files={"image": ("a.png", png_bytes(128, 96))}
    ).json()
    assert created["status"] == "judging"
    assert created["verdict"] is None
    done = client.get(f"/v1/evaluations/{created['id']}?wait=30").json()
    assert done["status"] == "done"
    assert done["verdict"] in ("green", "amber", "red")
    assert done["votes_in"] == len(done["judges_expected"])
    assert all("reasoning" in judge for judge in done["judges"])
