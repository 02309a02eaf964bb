"""Bad input gets a clear 4xx in our error shape, never a 500, and nothing is half-written."""

from __future__ import annotations

import hashlib
import io
import zlib

import pytest
from PIL import Image
from sqlmodel import Session, func, select

from sentinel.models import Evaluation, StoredImage
from sentinel.wiring import get_services
from tests.conftest import png_bytes


def stored_with(data: bytes) -> tuple[int, int]:
    """Evaluations of these bytes and stored copies of them. (Not the tables' totals: earlier tests' jobs may still be
    adding rows in the background while this one runs.)"""
    digest = hashlib.sha256(data).hexdigest()
    with Session(get_services().engine) as session:
        evaluations = session.exec(select(func.count()).select_from(Evaluation).where(Evaluation.image_id == digest))
        images = session.exec(select(func.count()).select_from(StoredImage).where(StoredImage.id == digest))
        return evaluations.one(), images.one()


def post_image(client, data: bytes, task: str = "text-to-image", filename: str = "x.png", **extra):
    files = {"image": (filename, data, "image/png")}
    files.update(extra.pop("files", {}))
    return client.post("/v1/evaluations", data={"task": task, **extra}, files=files)


def assert_error(response, status: int, error_type: str, *words: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == error_type
    for word in words:
        assert word in error["message"], error["message"]
    return error


def truncated_png() -> bytes:
    data = png_bytes(256, 256)
    return data[: len(data) // 2]


def bomb_png() -> bytes:
    """A 30000×30000 greyscale PNG: a few KB on disk, 900 megapixels decoded."""
    width = height = 30000
    raw = b"".join(b"\x00" + bytes(width) for _ in range(64))
    compressor = zlib.compressobj(9)
    body = compressor.compress(raw)
    # Repeat the same all-zero rows by compressing lazily: far too big to build in memory.
    for _ in range(height // 64 - 1):
        body += compressor.compress(raw)
    body += compressor.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("name", "payload", "status", "error_type", "words"),
    [
        ("truncated png", truncated_png, 422, "bad_image", ("truncated",)),
        (
            "text file named .png",
            lambda: b"hello, I am plain text\n" * 10,
            422,
            "bad_image",
            ("text, not an image",),
        ),
        ("empty file", lambda: b"", 422, "bad_image", ("empty",)),
        ("decompression bomb", bomb_png, 413, "image_too_large", ("900 megapixels", "decompression bomb")),
    ],
)
def test_bad_image_is_refused_with_a_clear_error(client, name, payload, status, error_type, words) -> None:
    data = payload()
    response = post_image(client, data)
    error = assert_error(response, status, error_type, *words)
    assert error["field"] == "image"
    assert stored_with(data) == (0, 0)


def test_thirty_megabyte_upload_is_refused(client) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(30 * 1024 * 1024)
    response = post_image(client, data)
    assert_error(response, 413, "image_too_large", "20 MB")
    assert stored_with(data) == (0, 0)


def test_unknown_task_names_the_known_ones(client) -> None:
    response = post_image(client, png_bytes(), task="make-it-pretty")
    error = assert_error(response, 400, "unknown_task", "make-it-pretty", "text-to-image")
    assert error["field"] == "task"


def test_missing_required_param(client) -> None:
    response = post_image(client, png_bytes(), task="text-render")
    error = assert_error(response, 400, "invalid_request_error", "text")
    assert error["field"] == "params.text"


def test_param_of_wrong_type_and_unknown_param(client) -> None:
    response = post_image(client, png_bytes(), params='{"width": "wide"}')
    assert_error(response, 400, "invalid_request_error", "width", "whole number")
    response = post_image(client, png_bytes(), params='{"colour": "red"}')
    assert_error(response, 400, "invalid_request_error", "unknown param 'colour'")
    response = post_image(client, png_bytes(), params="{not json")
    assert_error(response, 400, "invalid_request_error", "not valid JSON")


def test_edit_task_without_source_or_mask(client) -> None:
    response = post_image(client, png_bytes(), task="object-removal")
    error = assert_error(response, 400, "invalid_request_error", "source")
    assert error["field"] == "source"
    response = post_image(client, png_bytes(), task="object-removal", files={"source": ("s.png", png_bytes())})
    assert_error(response, 400, "invalid_request_error", "mask")


def test_mask_for_a_task_without_one(client) -> None:
    response = post_image(client, png_bytes(), files={"mask": ("m.png", png_bytes())})
    assert_error(response, 400, "invalid_request_error", "takes no 'mask'")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1/cat.png", ("127.0.0.1", "loopback")),
        ("http://10.0.0.1/cat.png", ("10.0.0.1", "private")),
        ("http://169.254.169.254/latest/meta-data/", ("169.254.169.254",)),
        ("http://localhost/cat.png", ("localhost", "127.0.0.1")),
        ("file:///etc/passwd", ("file",)),
    ],
)
def test_urls_to_private_addresses_are_refused(client, url, words) -> None:
    response = client.post("/v1/evaluations", json={"task": "text-to-image", "image_url": url})
    error = assert_error(response, 400, "disallowed_url", *words)
    assert error["field"] == "image_url"


def test_json_body_errors(client) -> None:
    response = client.post("/v1/evaluations", json={"task": "text-to-image"})
    assert_error(response, 400, "invalid_request_error", "image_url")
    response = client.post("/v1/evaluations", content=b"{oops", headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_request_error")
    response = client.post("/v1/evaluations", content=b"task=x", headers={"content-type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type", "multipart/form-data or application/json")


def test_unknown_ids_are_404(client) -> None:
    assert_error(client.get("/v1/evaluations/ev_nope"), 404, "not_found", "ev_nope")
    assert_error(client.get("/v1/images/" + "0" * 64), 404, "not_found")
    assert_error(client.get("/v1/rubrics/nope"), 404, "unknown_task")
    response = client.get("/v1/evaluations/ev_nope?wait=999")
    assert_error(response, 400, "invalid_request_error", "wait")


def test_gif_first_frame_and_webp_are_accepted(client) -> None:
    for fmt in ("GIF", "WEBP", "JPEG"):
        buffer = io.BytesIO()
        Image.open(io.BytesIO(png_bytes(128, 128))).save(buffer, fmt)
        response = post_image(client, buffer.getvalue(), filename="whatever.bin")
        assert response.status_code == 202, response.text
        image = client.get(response.json()["image"]["url"])
        assert image.headers["content-type"] == f"image/{fmt.lower()}"


def test_one_byte_over_the_limit_says_two_different_sizes(client) -> None:
    # "image is 20 MB; the limit is 20 MB" told the caller nothing: the sizes are given in bytes when they round alike.
    data = b"\x89PNG\r\n\x1a\n" + bytes(20 * 1024 * 1024 + 1 - 8)
    response = post_image(client, data)
    assert_error(response, 413, "image_too_large", "20,971,521 bytes; the limit is 20,971,520 bytes")


def test_null_params_are_params_left_out(client) -> None:
    # As null is for every other optional field: the request goes on to its URL (refused here for its address).
    body = {"task": "text-to-image", "image_url": "http://10.0.0.1/cat.png", "params": None, "source_url": None}
    error = assert_error(client.post("/v1/evaluations", json=body), 400, "disallowed_url", "10.0.0.1")
    assert error["field"] == "image_url"


def test_an_unknown_task_in_a_judged_openai_request_is_a_400_the_sdk_reads_as_a_bad_request(client) -> None:
    # The OpenAI SDK raises NotFoundError on a 404, which reads as a wrong URL; the request's field was wrong.
    body = {"prompt": "a bottle", "model": "sentinel-local", "sentinel": {"task": "make-it-pretty"}}
    response = client.post("/v1/images/generations", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "unknown_task" and "make-it-pretty" in error["message"]
    assert client.get("/v1/rubrics/make-it-pretty").status_code == 404


def test_a_judged_openai_request_names_the_fields_it_was_sent(client) -> None:
    # The job's params and task come from the request's `sentinel` object: an error names them there, where the
    # caller must fill them ('params.text' pointed at a top-level field the gateway refuses).
    body = {"prompt": "a sign", "model": "sentinel-local", "sentinel": {"task": "text-render"}}
    missing = client.post("/v1/images/generations", json=body)
    assert missing.status_code == 400, missing.text
    assert missing.json()["error"]["param"] == "sentinel.params.text", missing.text
    unknown = client.post("/v1/images/generations", json=body | {"sentinel": {"task": "make-it-pretty"}})
    assert unknown.json()["error"]["param"] == "sentinel.task", unknown.text
