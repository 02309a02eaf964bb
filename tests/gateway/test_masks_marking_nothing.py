"""A mask that marks no region (no white pixel, no fully transparent one) is refused with a 400 naming `mask` before
any provider is called: an edit under it can only hand the source back, paid for, and a judged job would pay for
every attempt, each red for the mask (outside probe K1, K8). Over real HTTP to `sentinel serve`, whose one model is
the fake OpenAI provider (so a paid call would show in its request log)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from PIL import Image, ImageDraw

from sentinel_fakes.openai import create_app as openai_app
from sentinel_fakes.server import Script, serve
from tests.conftest import serving_with_fake
from tests.gateway.test_edits import SIZE, ball_mask, picture


class Served(NamedTuple):
    base: str
    provider: Script


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp: Path = tmp_path_factory.mktemp("masks-marking-nothing")
    script = Script()
    with serve(openai_app(script)) as fake, serving_with_fake(fake.url, tmp) as base:
        yield Served(base, script)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def black_mask() -> bytes:
    return png(Image.new("L", (SIZE, SIZE), 0))


def opaque_rgba(fill: tuple[int, int, int]) -> bytes:
    """An RGBA mask with no transparent pixel (OpenAI: "keep everything"), read here by its brightness."""
    return png(Image.new("RGBA", (SIZE, SIZE), (*fill, 255)))


def half_transparent_hole() -> bytes:
    """White and opaque, with a hole only half transparent: it has transparency, so its alpha is read, and no pixel
    is fully transparent."""
    image = Image.new("RGBA", (SIZE, SIZE), (255, 255, 255, 255))
    ImageDraw.Draw(image).rectangle((20, 20, 60, 60), fill=(0, 0, 0, 128))
    return png(image)


def edit(base: str, mask: bytes, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/images/edits",
        files={"image": ("photo.png", picture(), "image/png"), "mask": ("mask.png", mask, "image/png")},
        data={"prompt": "remove the ball", "model": "house", "response_format": "b64_json", **fields},
        timeout=60,
    )


def refused_for_the_mask(answer: httpx.Response) -> str:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error.get("param", error.get("field")) == "mask", error
    return str(error["message"])


def test_the_fake_provider_edits_under_a_mask_that_marks_a_region(served: Served) -> None:
    before = len(served.provider.requests)
    assert edit(served.base, ball_mask()).status_code == 200
    assert edit(served.base, ball_mask(transparent=True)).status_code == 200
    assert len(served.provider.requests) == before + 2


@pytest.mark.parametrize(
    ("mask", "why"),
    [
        (black_mask, "it has no white pixel"),
        (lambda: opaque_rgba((0, 0, 0)), "it has no white pixel"),
        (half_transparent_hole, "no fully transparent pixel"),
    ],
    ids=["black", "opaque-black-rgba", "half-transparent"],
)
def test_an_edit_under_a_mask_that_marks_nothing_is_400_and_calls_no_provider(served: Served, mask, why) -> None:
    before = len(served.provider.requests)
    message = refused_for_the_mask(edit(served.base, mask()))
    assert message.startswith("the mask marks no region to change") and why in message, message
    assert "white pixels of an opaque mask mark it, or fully transparent pixels" in message
    assert len(served.provider.requests) == before


def test_an_opaque_rgba_mask_is_read_by_brightness(served: Served) -> None:
    """OpenAI would read an opaque white RGBA mask as "keep everything"; here, documented, it marks everything."""
    before = len(served.provider.requests)
    assert edit(served.base, opaque_rgba((255, 255, 255))).status_code == 200
    sent = served.provider.requests[before:]
    assert len(sent) == 1 and "mask" in sent[0]["body"]["files"]


def job(base: str, mask: bytes, task: str = "object-removal", **extra: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/jobs",
        data={"task": task, "prompt": "remove the ball", "model": "house", **extra},
        files={"source": ("source.png", picture(), "image/png"), "mask": ("mask.png", mask, "image/png")},
        timeout=60,
    )


def test_an_edit_job_whose_mask_marks_nothing_is_400_before_anything_is_stored_or_paid(served: Served) -> None:
    before = len(served.provider.requests)
    listed = httpx.get(f"{served.base}/v1/jobs?task=object-removal&limit=500").json()["data"]
    message = refused_for_the_mask(job(served.base, black_mask()))
    assert "marks no region to change" in message
    # Marked everywhere: nothing outside the mask is left for the judges to compare, on every attempt.
    message = refused_for_the_mask(job(served.base, png(Image.new("L", (SIZE, SIZE), 255))))
    assert "marks the whole image" in message
    # background-replace: white marks the subject to keep; a mask with none keeps nothing.
    message = refused_for_the_mask(
        job(served.base, black_mask(), task="background-replace", params=json.dumps({"color": "#ffffff"}))
    )
    assert "marks no subject to keep" in message
    assert httpx.get(f"{served.base}/v1/jobs?task=object-removal&limit=500").json()["data"] == listed
    assert len(served.provider.requests) == before


def test_a_judged_sdk_edit_whose_mask_marks_nothing_is_400(served: Served) -> None:
    before = len(served.provider.requests)
    # As the OpenAI SDK writes extra_body={"sentinel": {"task": ...}} into a multipart form.
    answer = edit(served.base, black_mask(), **{"sentinel[task]": "object-removal"})
    assert "marks no region to change" in refused_for_the_mask(answer)
    assert len(served.provider.requests) == before


def test_an_evaluation_whose_mask_marks_nothing_is_400(served: Served) -> None:
    answer = httpx.post(
        f"{served.base}/v1/evaluations",
        data={"task": "object-removal"},
        files={
            "image": ("result.png", picture(), "image/png"),
            "source": ("source.png", picture(), "image/png"),
            "mask": ("mask.png", black_mask(), "image/png"),
        },
        timeout=60,
    )
    assert "marks no region to change" in refused_for_the_mask(answer)
