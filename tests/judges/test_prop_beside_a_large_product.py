"""A cup or a potted plant standing apart beside a large product on pure white is a prop (held-out probe F23: it
was measured against the product's area only, so beside a product filling much of the frame a cup a tenth of the
frame across passed): plain-background fails it as moderate and its guidance says where the object to remove
stands. The product alone, a pair of like parts, and a speck still pass; and a backdrop that turns grey towards
the bottom edge fails white-background, not not-cropped (F24: it was right as it was)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage import data

from tests.judges.test_product_props_and_bands import judge
from tests.judges.test_text_reading import criterion, verdict

WHITE = (255, 255, 255)


def framed_print(side: int) -> Image.Image:
    """The astronaut photo in a dark frame, 84% of the frame tall, on pure white."""
    unit = side / 1024
    picture = Image.new("RGB", (side, side), WHITE)
    ImageDraw.Draw(picture).rectangle((238 * unit, 68 * unit, 712 * unit, 952 * unit), fill=(40, 30, 25))
    photo = Image.fromarray(data.astronaut()).resize((round(450 * unit), round(860 * unit)))
    picture.paste(photo, (round(250 * unit), round(80 * unit)))
    return picture


def coffee_plate(side: int) -> Image.Image:
    """A round cut-out of the coffee photo, half the frame across, on pure white."""
    unit = side / 1024
    picture = Image.new("RGB", (side, side), WHITE)
    photo = Image.fromarray(data.coffee()[60:380, 130:470]).resize((round(560 * unit), round(530 * unit)))
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, *photo.size), fill=255)
    picture.paste(photo, (round(230 * unit), round(250 * unit)), mask)
    return picture


def with_cup(picture: Image.Image, centre_x: float = 850) -> Image.Image:
    """A red cup with a handle, 11% of the frame across, standing beside the product at the lower right."""
    unit = picture.width / 1024
    out = picture.copy()
    draw = ImageDraw.Draw(out)
    x, base, width = centre_x * unit, 950 * unit, 108 * unit
    draw.rounded_rectangle((x - width / 2, base - width, x + width / 2, base), radius=width / 8, fill=(180, 60, 50))
    draw.ellipse(
        (x + 0.38 * width, base - 0.75 * width, x + 0.83 * width, base - 0.25 * width),
        outline=(180, 60, 50),
        width=max(2, round(width / 10)),
    )
    return out


def with_plant(picture: Image.Image) -> Image.Image:
    """A potted plant (a terracotta pot, leaves on stems) at the lower right."""
    unit = picture.width / 1024
    out = picture.copy()
    draw = ImageDraw.Draw(out)
    x, base, width = 850 * unit, 950 * unit, 120 * unit
    rim = base - 0.7 * width
    draw.polygon(
        [(x - width / 2, rim), (x + width / 2, rim), (x + width / 3, base), (x - width / 3, base)], fill=(170, 90, 50)
    )
    rng = np.random.default_rng(3)
    for _ in range(9):
        angle, length = -np.pi / 2 + rng.uniform(-1.1, 1.1), width * rng.uniform(0.6, 1.1)
        tip_x, tip_y = x + length * np.cos(angle), rim + length * np.sin(angle)
        draw.line((x, rim, tip_x, tip_y), fill=(40, 120, 40), width=max(2, round(width / 30)))
        draw.ellipse((tip_x - width / 7, tip_y - width / 14, tip_x + width / 7, tip_y + width / 14), fill=(50, 140, 50))
    return out


def as_array(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture)


@pytest.mark.parametrize("side", [512, 1024, 2048])
@pytest.mark.parametrize(
    "scene",
    [
        lambda side: with_cup(framed_print(side)),
        lambda side: with_plant(framed_print(side)),
        lambda side: with_cup(coffee_plate(side), centre_x=880),
    ],
    ids=["cup beside a framed print", "plant beside a framed print", "cup beside a coffee plate"],
)
def test_a_cup_or_plant_beside_a_large_product_is_a_prop(scene: Callable[[int], Image.Image], side: int) -> None:
    outcome, severity = judge("busy_background", as_array(scene(side)))
    assert not outcome.passed and severity == "moderate", outcome.detail
    assert "separate object" in outcome.detail and "lower right" in outcome.detail
    assert outcome.facts["prop_at"] == "lower right"


def test_the_guidance_says_where_the_object_to_remove_stands() -> None:
    buffer = io.BytesIO()
    with_cup(framed_print(1024)).save(buffer, "JPEG", quality=90)
    document = verdict(buffer.getvalue(), task="product-white-background", prompt="a framed print")
    result = criterion(document, "plain-background")
    assert not result["passed"] and result["severity"] == "moderate", result["detail"]
    assert document["verdict"] == "amber"

    from sentinel.evaluation.guidance import render_fix
    from sentinel.wiring import get_services

    rubric = get_services().rubrics.get("product-white-background")
    [plain] = [c for c in rubric.criteria if c.id == "plain-background"]
    fix = render_fix(plain, result, {})
    assert fix.startswith("Remove the separate object at the lower right of the frame, beside the product."), fix


@pytest.mark.parametrize("side", [512, 1024, 2048])
def test_a_large_product_alone_a_pair_or_a_speck_beside_it_is_plain(side: int) -> None:
    for product in (framed_print(side), coffee_plate(side)):
        outcome, _ = judge("busy_background", as_array(product))
        assert outcome.passed, outcome.detail
    speck = framed_print(side)
    unit = side / 1024
    ImageDraw.Draw(speck).ellipse((840 * unit, 900 * unit, 860 * unit, 920 * unit), fill=(200, 40, 40))
    outcome, _ = judge("busy_background", as_array(speck))
    assert outcome.passed, outcome.detail
    # Two like cartons side by side: parts of one product (a pair, a set), not a prop.
    pair = Image.new("RGB", (side, side), WHITE)
    draw = ImageDraw.Draw(pair)
    for left in (120, 560):
        draw.rectangle((left * unit, 120 * unit, (left + 340) * unit, 920 * unit), fill=(40, 90, 160))
        draw.rectangle(((left + 40) * unit, 400 * unit, (left + 300) * unit, 600 * unit), fill=(240, 230, 200))
    outcome, _ = judge("busy_background", as_array(pair))
    assert outcome.passed, outcome.detail


def floor_ramp(picture: np.ndarray, start: float, level: int) -> np.ndarray:
    """The white backdrop darkening smoothly from ``start`` (share of the height) to grey ``level`` at the bottom."""
    out = picture.astype(np.float32)
    height = picture.shape[0]
    top = int(height * start)
    ramp = np.linspace(255, level, height - top)[:, None].repeat(picture.shape[1], axis=1)
    backdrop = (picture[top:] >= 250).all(axis=2)
    out[top:][backdrop] = ramp[backdrop][:, None]
    return out.astype(np.uint8)


@pytest.mark.parametrize(("start", "level"), [(0.75, 200), (0.9, 238)])
def test_a_backdrop_greying_towards_the_bottom_is_no_white_backdrop_and_no_cut_product(
    start: float, level: int
) -> None:
    shot = floor_ramp(as_array(coffee_plate(1024)), start, level)
    outcome, severity = judge("white_background", shot)
    assert not outcome.passed and severity == "severe", outcome.detail
    outcome, _ = judge("subject_cut_off", shot)
    assert outcome.passed, outcome.detail
