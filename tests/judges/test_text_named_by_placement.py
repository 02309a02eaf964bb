"""Text a prompt places on a thing without quoting it ("a cake with Happy Birthday written on it", "a Happy Birthday
cake") is the text the picture is asked to show, not stray text; a word the prompt does not place so, or a stock
mark, is still stray."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.judges.test_ocr_work import SANS_BOLD, SERIF
from tests.judges.test_text_verdicts import verdict


def cake_top(mark: str | None = None) -> Image.Image:
    """A warm, textured scene with a light plaque in the middle carrying 'Happy Birthday' in pink serif letters, and
    optionally a stock mark laid over the lower part of the picture."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:1024, 0:1024].astype(np.float32)
    base = np.stack([120 + 40 * np.sin(xx / 90), 80 + 30 * np.cos(yy / 70), 50 + 20 * np.sin((xx + yy) / 120)], -1)
    picture = Image.fromarray((base + rng.normal(0, 3, base.shape)).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle([130, 400, 894, 600], radius=30, fill=(250, 240, 245))
    draw.text((512, 500), "Happy Birthday", font=ImageFont.truetype(str(SERIF), 110), fill=(200, 60, 120), anchor="mm")
    if mark:
        layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
        ImageDraw.Draw(layer).text(
            (512, 800), mark, font=ImageFont.truetype(str(SANS_BOLD), 110), fill=(255, 255, 255, 150), anchor="mm"
        )
        picture = Image.alpha_composite(picture.convert("RGBA"), layer).convert("RGB")
    return picture


@pytest.mark.parametrize(
    "prompt",
    [
        "a birthday cake with Happy Birthday written on it in pink icing",
        "a cake with Happy Birthday on it",
        "a Happy Birthday cake",
        "a cake with Happy Birthday in pink icing",
        "a chocolate cake, Happy Birthday piped across the top",
    ],
)
def test_text_the_prompt_places_on_a_thing_is_asked_for(prompt: str) -> None:
    document = verdict(cake_top(), "text-to-image", prompt=prompt, width=1024, height=1024)
    assert document["verdict"] == "green", document["summary"]


@pytest.mark.parametrize("prompt", ["a cake", "a birthday cake", "a birthday party with a cake"])
def test_text_the_prompt_does_not_place_on_anything_is_still_stray(prompt: str) -> None:
    document = verdict(cake_top(), "text-to-image", prompt=prompt, width=1024, height=1024)
    assert document["verdict"] == "red", document["summary"]
    assert "Happy Birthday" in document["summary"]


@pytest.mark.parametrize("mark", ["shutterstock", "SAMPLE"])
def test_a_stock_mark_beside_the_asked_text_is_still_stray(mark: str) -> None:
    prompt = f"a cake with Happy Birthday on it, {mark} {mark}"
    document = verdict(cake_top(mark), "text-to-image", prompt=prompt, width=1024, height=1024)
    assert document["verdict"] != "green", document["summary"]
    assert mark in document["summary"]
