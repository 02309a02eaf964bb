"""The offline `local` renderer: deterministic, honours size, colour and quoted text, fails on request."""

from __future__ import annotations

import asyncio
import io
import random

import numpy as np
import pytest
from PIL import Image

from sentinel.evaluation.local import evaluate_files
from sentinel.providers.base import GenerationRequest, Outcome
from sentinel.providers.local import LocalProvider
from sentinel.wiring import get_services


def generate(prompt: str, **kwargs) -> object:
    return asyncio.run(
        LocalProvider(rng=random.Random(1)).generate(GenerationRequest(prompt=prompt, model="procedural", **kwargs))
    )


def test_same_seed_same_image_and_other_seed_other_image() -> None:
    first = generate("a red ball", seed=7, width=256, height=256)
    again = generate("a red ball", seed=7, width=256, height=256)
    other = generate("a red ball", seed=8, width=256, height=256)
    assert first.images[0].data == again.images[0].data
    assert first.images[0].data != other.images[0].data


def test_honours_size_and_colour_words() -> None:
    result = generate("a red ball on a white background", seed=1, width=640, height=480)
    image = Image.open(io.BytesIO(result.images[0].data)).convert("RGB")
    assert image.size == (640, 480)
    pixels = np.asarray(image).reshape(-1, 3)
    centre = np.asarray(image)[240, 320]
    assert centre[0] > 150 and centre[1] < 100 and centre[2] < 100  # red subject in the middle
    assert (pixels == 255).all(axis=1).mean() > 0.3  # a white background around it


def test_quoted_text_is_drawn_legibly(tmp_path) -> None:
    result = generate('a shop sign that says "OPEN 24/7"', seed=3, width=1024, height=768)
    data = result.images[0].data
    [(_, verdict)] = list(
        evaluate_files(get_services(), "text-render", {"text": "OPEN 24/7"}, [(tmp_path / "sign.png", data)], {})
    )
    assert verdict["verdict"] == "green", verdict["summary"]


@pytest.mark.parametrize(
    "prompt",
    [
        "a red cup on a grey background. Use a seamless pure white (#FFFFFF) background all the way to the edges.",
        "a red cup on a blue backdrop, #ffffff background",
        "a red cup on a white background",
    ],
)
def test_a_white_background_is_drawn_however_a_fix_words_it(prompt: str) -> None:
    image = np.asarray(Image.open(io.BytesIO(generate(prompt, seed=2, width=256, height=256).images[0].data)))
    border = np.concatenate([image[:8].reshape(-1, 3), image[-8:].reshape(-1, 3)])
    assert (border == 255).all()


@pytest.mark.parametrize(
    ("prompt", "drawn"),
    [
        ('a shop sign. The sign must read exactly "Joe\'s Diner": every letter as given.', "Joe's Diner"),
        ("a sign that says 'OPEN'", "OPEN"),
        ('the baker\'s sign that says "Fresh Bread"', "Fresh Bread"),
    ],
)
def test_the_quoted_text_is_the_sign_and_an_apostrophe_does_not_end_it(prompt: str, drawn: str) -> None:
    from sentinel.providers.local import DOUBLE_QUOTED, SINGLE_QUOTED

    quoted = DOUBLE_QUOTED.search(prompt) or SINGLE_QUOTED.search(prompt)
    assert quoted is not None and quoted.group(1) == drawn


@pytest.mark.parametrize(
    ("inject", "outcome"),
    [
        ("rate_limited", Outcome.RATE_LIMITED),
        ("unavailable", Outcome.UNAVAILABLE),
        ("content_filtered", Outcome.CONTENT_FILTERED),
    ],
)
def test_injected_failures(inject, outcome) -> None:
    result = generate("x", params={"inject": inject})
    assert result.outcome is outcome
    assert "injected" in result.message


def test_injected_blank_image_and_slowness() -> None:
    blank = generate("x", width=64, height=64, params={"inject": "blank"})
    assert blank.outcome is Outcome.OK
    assert np.asarray(Image.open(io.BytesIO(blank.images[0].data))).std() == 0

    async def slow() -> object:
        provider = LocalProvider()
        request = GenerationRequest(prompt="x", model="m", params={"inject": "slow", "slow_seconds": 5})
        return await asyncio.wait_for(provider.generate(request), timeout=0.2)

    with pytest.raises(TimeoutError):
        asyncio.run(slow())


def test_unknown_injection_and_huge_size_are_invalid_requests() -> None:
    assert generate("x", params={"inject": "meteor"}).outcome is Outcome.INVALID_REQUEST
    assert generate("x", width=10000, height=10000).outcome is Outcome.INVALID_REQUEST
