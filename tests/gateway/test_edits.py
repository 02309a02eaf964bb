"""Edits and variations through the gateway: the official OpenAI SDK against `sentinel serve` on the offline `local`
provider (the shipped routes), and the checks a caller meets over real HTTP."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from PIL import Image, ImageDraw

from tests.conftest import clean_env, start_server

SIZE = 96
BALL = (30, 30, 66, 66)


def picture(size: int = SIZE, background: tuple[int, int, int] = (240, 240, 240)) -> bytes:
    """A red ball on a background with a gentle left-to-right shade (a photo is never one flat colour)."""
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    for x in range(size):
        draw.line((x, 0, x, size), fill=tuple(c - 12 * x // size for c in background))
    draw.ellipse(BALL, fill=(210, 30, 30))
    return png(image)


def ball_mask(size: int = SIZE, transparent: bool = False) -> bytes:
    """White (or, OpenAI's way, fully transparent) over the ball, a little beyond its edge."""
    box = (BALL[0] - 3, BALL[1] - 3, BALL[2] + 3, BALL[3] + 3)
    if transparent:
        image = Image.new("RGBA", (size, size), (0, 0, 0, 255))
        ImageDraw.Draw(image).rectangle(box, fill=(0, 0, 0, 0))
    else:
        image = Image.new("L", (size, size), 0)
        ImageDraw.Draw(image).rectangle(box, fill=255)
    return png(image)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def sentinel_url(tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("edits")
    env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"))
    server, base = start_server(env, tmp / "serve.log")
    try:
        yield base
    finally:
        server.stop()


def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused-by-the-embedded-default", max_retries=0)


def test_sdk_edit_removes_the_object_under_the_mask_and_keeps_the_rest(sentinel_url) -> None:
    raw = client(sentinel_url).images.with_raw_response.edit(
        model="sentinel-local",
        image=("photo.png", picture(), "image/png"),
        mask=("mask.png", ball_mask(), "image/png"),
        prompt="remove the ball",
        response_format="b64_json",
    )
    result = raw.parse()
    edited = pixels(base64.b64decode(result.data[0].b64_json))
    source = pixels(picture())
    assert edited.shape == source.shape  # no size asked: the source's
    # The ball is gone: its centre now has the background's colour around it, not red.
    assert np.abs(edited[48, 48] - source[48, 10]).max() <= 8
    # Outside the mask nothing changed.
    outside = np.ones((SIZE, SIZE), bool)
    outside[BALL[1] - 3 : BALL[3] + 4, BALL[0] - 3 : BALL[2] + 4] = False
    assert np.array_equal(edited[outside], source[outside])
    assert raw.headers["x-sentinel-provider"] == "local"
    assert raw.headers["x-sentinel-attempts"] == "1"
    assert raw.headers["x-sentinel-request-id"].startswith("edit_")


def test_sdk_edit_with_an_openai_style_transparent_mask_and_a_list_of_images(sentinel_url) -> None:
    result = client(sentinel_url).images.edit(
        model="sentinel-local",
        image=[("photo.png", picture(), "image/png")],  # sent as image[], as for gpt-image
        mask=("mask.png", ball_mask(transparent=True), "image/png"),
        prompt="remove the ball",
        response_format="b64_json",
        n=2,
    )
    assert len(result.data) == 2
    for item in result.data:
        assert np.abs(pixels(base64.b64decode(item.b64_json))[48, 48] - pixels(picture())[48, 10]).max() <= 8


def test_sdk_edit_paints_the_requested_background_and_answers_a_url_that_serves_the_stored_image(
    sentinel_url,
) -> None:
    result = client(sentinel_url).images.edit(
        model="sentinel-local",
        image=("photo.png", picture(background=(250, 250, 250)), "image/png"),
        prompt="put the ball on a plain light grey background",
        response_format="url",
        size="256x256",
    )
    served = httpx.get(result.data[0].url, timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    edited = pixels(served.content)
    assert edited.shape == (256, 256, 3)  # the size asked for
    assert np.abs(edited[5, 5] - [192, 192, 192]).max() <= 3  # light grey around the subject
    assert edited[128, 128][0] > 150 and edited[128, 128][1] < 80  # the red ball kept


def test_sdk_variations_are_the_same_size_and_differ_from_the_source_and_each_other(sentinel_url) -> None:
    result = client(sentinel_url).images.create_variation(
        model="sentinel-local", image=("photo.png", picture(), "image/png"), n=2, response_format="b64_json"
    )
    first, second = (pixels(base64.b64decode(item.b64_json)) for item in result.data)
    source = pixels(picture())
    assert first.shape == second.shape == source.shape
    assert not np.array_equal(first, source) and not np.array_equal(first, second)
    # A variation, not a new picture: close to the source on average.
    assert np.abs(first - source).mean() < 40


def test_variation_with_a_seed_is_deterministic(sentinel_url) -> None:
    def vary() -> bytes:
        answer = httpx.post(
            f"{sentinel_url}/v1/images/variations",
            files={"image": ("photo.png", picture(), "image/png")},
            data={"model": "sentinel-local", "seed": "7", "response_format": "b64_json"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return base64.b64decode(answer.json()["data"][0]["b64_json"])

    assert vary() == vary()


def test_a_mask_of_another_size_is_refused_naming_both_sizes(sentinel_url) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client(sentinel_url).images.edit(
            model="sentinel-local",
            image=("photo.png", picture(), "image/png"),
            mask=("mask.png", ball_mask(size=64), "image/png"),
            prompt="remove the ball",
        )
    error = refused.value.body
    assert error["param"] == "mask"
    assert "64×64" in error["message"] and f"{SIZE}×{SIZE}" in error["message"]


def test_a_model_none_of_whose_candidates_can_edit_is_refused_naming_it(sentinel_url) -> None:
    # flux-dev's candidates (fal, Replicate) generate only; nothing is called, whatever keys are set.
    with pytest.raises(openai.BadRequestError) as refused:
        client(sentinel_url).images.edit(
            model="flux-dev", image=("photo.png", picture(), "image/png"), prompt="remove the ball"
        )
    assert refused.value.body["param"] == "model"
    assert "'flux-dev'" in refused.value.body["message"] and "sentinel-local" in refused.value.body["message"]
    # GPT Image edits, but no GPT image model makes variations.
    with pytest.raises(openai.BadRequestError) as refused:
        client(sentinel_url).images.create_variation(
            model="gpt-image-2.6-flare", image=("photo.png", picture(), "image/png")
        )
    assert "'gpt-image-2.6-flare'" in refused.value.body["message"]


def test_bad_uploads_are_refused_before_any_provider_is_called(sentinel_url) -> None:
    def edit(files: dict, data: dict) -> httpx.Response:
        return httpx.post(f"{sentinel_url}/v1/images/edits", files=files, data=data, timeout=30)

    not_an_image = edit({"image": ("photo.png", b"not an image at all", "image/png")}, {"prompt": "x"})
    assert not_an_image.status_code == 422 and not_an_image.json()["error"]["param"] == "image"
    no_image = edit({"mask": ("mask.png", ball_mask(), "image/png")}, {"prompt": "x"})
    assert no_image.status_code == 400 and no_image.json()["error"]["param"] == "image"
    unknown = edit({"image": ("photo.png", picture(), "image/png")}, {"prompt": "x", "colour": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "colour"
    no_prompt = edit({"image": ("photo.png", picture(), "image/png")}, {})
    assert no_prompt.status_code == 400 and no_prompt.json()["error"]["param"] == "prompt"
    two_masks = edit(
        [("image", ("a.png", picture(), "image/png")), ("mask", ("m.png", ball_mask(), "image/png"))] * 2,  # type: ignore[arg-type]
        {"prompt": "x"},
    )
    assert two_masks.status_code == 400 and two_masks.json()["error"]["param"] == "mask"


def test_idempotency_key_replays_the_same_edit(sentinel_url) -> None:
    def edit(prompt: str) -> httpx.Response:
        return httpx.post(
            f"{sentinel_url}/v1/images/edits",
            files={"image": ("photo.png", picture(), "image/png"), "mask": ("mask.png", ball_mask(), "image/png")},
            data={"prompt": prompt, "model": "sentinel-local"},
            headers={"Idempotency-Key": "edit-once"},
            timeout=30,
        )

    first, again = edit("remove the ball"), edit("remove the ball")
    assert first.status_code == again.status_code == 200
    assert again.headers["x-sentinel-request-id"] == first.headers["x-sentinel-request-id"]
    assert again.json()["sentinel"]["images"] == first.json()["sentinel"]["images"]
    reused = edit("remove something else")
    assert reused.status_code == 422  # the key was used for another edit


def test_readme_documents_the_edit_endpoints() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "/v1/images/edits" in readme and "/v1/images/variations" in readme
