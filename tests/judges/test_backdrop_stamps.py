"""A small stamp on a product shot's white backdrop ('SAMPLE' in a corner, dark or faint grey) is a watermark, found
by reading the backdrop closer; the product's own grey print (its label, its brand) stays the product's."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from tests.judges.test_text_held_out_signs import carton
from tests.judges.test_text_reading import SANS_BOLD, criterion, font, verdict


def jpeg(picture: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def bottle_shot(side: int = 1200) -> Image.Image:
    """A green bottle with a cream 'OLIVE OIL' label standing on pure white, a soft shadow under it."""
    shot = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(shot)
    unit = side / 1200
    draw.rounded_rectangle((340 * unit, 260 * unit, 860 * unit, 1130 * unit), round(60 * unit), fill=(30, 110, 60))
    draw.rectangle((530 * unit, 90 * unit, 670 * unit, 270 * unit), fill=(30, 110, 60))
    draw.rectangle((340 * unit, 560 * unit, 860 * unit, 780 * unit), fill=(238, 230, 205))
    draw.text(
        (600 * unit, 670 * unit), "OLIVE OIL", font=font(SANS_BOLD, round(80 * unit)), fill=(30, 30, 40), anchor="mm"
    )
    return shot


def stamped(shot: Image.Image, ink: tuple[int, int, int], size: int, where: tuple[float, float]) -> Image.Image:
    stamped_shot = shot.copy()
    side = shot.width
    ImageDraw.Draw(stamped_shot).text(
        (where[0] * side, where[1] * side), "SAMPLE", font=font(SANS_BOLD, size), fill=ink, anchor="mm"
    )
    return stamped_shot


STAMPS = [
    ((90, 90, 90), 36, (0.86, 0.95)),
    ((200, 200, 200), 36, (0.86, 0.95)),
    ((170, 170, 170), 28, (0.14, 0.06)),
    ((150, 150, 150), 30, (0.15, 0.5)),
]


@pytest.mark.parametrize(
    ("ink", "size", "where"), STAMPS, ids=[f"{ink[0]}-{size}px-{where}" for ink, size, where in STAMPS]
)
def test_a_small_grey_sample_stamp_on_the_white_backdrop_is_a_watermark(
    ink: tuple[int, int, int], size: int, where: tuple[float, float]
) -> None:
    document = verdict(jpeg(stamped(bottle_shot(), ink, size, where)), task="product-white-background")
    result = criterion(document, "no-stray-text")
    assert not result["passed"] and "SAMPLE" in result["detail"], document["summary"]
    assert document["verdict"] in ("amber", "red"), document["summary"]


def test_the_same_bottle_without_a_stamp_stays_green() -> None:
    document = verdict(jpeg(bottle_shot()), task="product-white-background")
    assert criterion(document, "no-stray-text")["passed"], document["summary"]


@pytest.mark.parametrize(("base", "ink"), [((200, 170, 120), (90, 90, 90)), ((230, 150, 20), (120, 120, 120))])
def test_a_products_own_grey_print_is_not_a_stamp(base: tuple[int, int, int], ink: tuple[int, int, int]) -> None:
    document = verdict(carton(base, ["PURE", "WATER"], ink), task="product-white-background")
    assert criterion(document, "no-stray-text")["passed"], document["summary"]


@pytest.mark.parametrize("ink", [(60, 60, 60), (100, 100, 100), (140, 140, 140)])
def test_grey_small_print_on_the_products_label_is_not_a_watermark(ink: tuple[int, int, int]) -> None:
    shot = bottle_shot()
    ImageDraw.Draw(shot).text((600, 740), "EXTRA VIRGIN", font=font(SANS_BOLD, 40), fill=ink, anchor="mm")
    document = verdict(jpeg(shot), task="product-white-background")
    assert criterion(document, "no-stray-text")["passed"], document["summary"]
