"""A product's own print set close to its edge (a brand along a carton's top, a line running to a booklet's margin)
is the product's, not stray text, although the detector's box around the line sticks past the product's outline
onto the backdrop (held-out probe F20, F26: was red). A mark laid across product and backdrop leaves letters over
the backdrop and stays stray text, level or slanted, opaque or faint; so does a semi-transparent mark wholly on the
product, and a caption that touches the product from the backdrop."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage import data

from tests.judges.test_text_reading import SANS, SANS_BOLD, SERIF, criterion, font, verdict

WHITE = (255, 255, 255)


def encoded(picture: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **({} if fmt == "PNG" else {"quality": 90}))
    return buffer.getvalue()


def carton(
    side: int,
    words: str,
    colour: tuple[int, int, int],
    ink: tuple[int, int, int],
    where: str = "top",
    half_width: float = 0.55,
    size: int = 120,
) -> Image.Image:
    """A flat carton 89% of the frame tall on pure white, ``words`` printed on it: 10 px (at 1024) under its top
    edge, 8 px over its bottom edge, or across the middle as wide as the carton."""
    unit = side / 1024
    picture = Image.new("RGB", (side, side), WHITE)
    draw = ImageDraw.Draw(picture)
    top, bottom = 60 * unit, 970 * unit
    draw.rectangle((512 * unit * (1 - half_width), top, 512 * unit * (1 + half_width), bottom), fill=colour)
    face = font(SANS_BOLD, round(size * unit))
    if where == "top":
        draw.text((512 * unit, top + 10 * unit), words, font=face, fill=ink, anchor="mt")
    elif where == "bottom":
        draw.text((512 * unit, bottom - 8 * unit), words, font=face, fill=ink, anchor="mb")
    else:
        draw.text((512 * unit, 500 * unit), words, font=face, fill=ink, anchor="mm")
    return picture


def booklet(side: int, page: tuple[int, int, int]) -> Image.Image:
    """A booklet's cover inside a grey edge line: a title just under its top edge, a cat's photo, a publisher's line
    just over its bottom edge."""
    unit = side / 1024
    picture = Image.new("RGB", (side, side), WHITE)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((190 * unit, 40 * unit, 834 * unit, 984 * unit), fill=page, outline=(150, 150, 150), width=3)
    photo = Image.fromarray(data.chelsea()).resize((round(560 * unit), round(380 * unit)))
    picture.paste(photo, (round(232 * unit), round(420 * unit)))
    draw.text(
        (512 * unit, 48 * unit), "Cat Care Guide", font=font(SERIF, round(64 * unit)), fill=(20, 20, 30), anchor="mt"
    )
    body = font(SANS, round(40 * unit))
    for line, words in enumerate(["Feeding, grooming and play", "for happy healthy cats"]):
        draw.text((512 * unit, (170 + 70 * line) * unit), words, font=body, fill=(40, 40, 50), anchor="mt")
    draw.text((512 * unit, 978 * unit), "Pet Press Publishing House", font=body, fill=(40, 40, 50), anchor="mb")
    return picture


def bottle(side: int) -> Image.Image:
    """A green bottle as wide as its cream label, 'LEMON' printed just under the label's top edge."""
    unit = side / 1024
    picture = Image.new("RGB", (side, side), WHITE)
    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle((330 * unit, 250 * unit, 694 * unit, 980 * unit), round(50 * unit), fill=(40, 120, 70))
    draw.rectangle((450 * unit, 60 * unit, 574 * unit, 260 * unit), fill=(40, 120, 70))
    draw.rectangle((330 * unit, 290 * unit, 694 * unit, 520 * unit), fill=(240, 232, 205))
    draw.text((512 * unit, 300 * unit), "LEMON", font=font(SANS_BOLD, round(80 * unit)), fill=(30, 30, 40), anchor="mt")
    return picture


def leaflet(side: int) -> Image.Image:
    """A cream leaflet whose longest line of print runs to its margins."""
    unit = side / 1024
    picture = Image.new("RGB", (side, side), WHITE)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((200 * unit, 40 * unit, 824 * unit, 984 * unit), fill=(246, 240, 225), outline=(190, 180, 160))
    face = font(SANS_BOLD, round(60 * unit))
    for line, words in enumerate(["SPRING SALE", "Fresh fruit and", "vegetables daily", "Open 8am to 8pm"]):
        draw.text((512 * unit, (70 + line * 110) * unit), words, font=face, fill=(30, 30, 40), anchor="mt")
    return picture


def laid_over(
    picture: Image.Image, words: str, at: tuple[float, float], size: int, ink: tuple[int, int, int], opacity: float
) -> Image.Image:
    """``words`` laid over the picture at ``opacity`` (``at`` and ``size`` at 1024)."""
    unit = picture.width / 1024
    layer = Image.new("L", picture.size, 0)
    ImageDraw.Draw(layer).text(
        (at[0] * unit, at[1] * unit), words, font=font(SANS_BOLD, round(size * unit)), fill=255, anchor="mm"
    )
    alpha = np.asarray(layer, float)[..., None] / 255 * opacity
    mixed = np.asarray(picture, float) * (1 - alpha) + np.array(ink, float) * alpha
    return Image.fromarray(mixed.clip(0, 255).astype(np.uint8))


def slanted(picture: Image.Image, words: str, opacity: float, degrees: float) -> Image.Image:
    unit = picture.width / 1024
    layer = Image.new("L", picture.size, 0)
    ImageDraw.Draw(layer).text(
        (512 * unit, 500 * unit), words, font=font(SANS_BOLD, round(170 * unit)), fill=255, anchor="mm"
    )
    alpha = np.asarray(layer.rotate(degrees, center=(512 * unit, 500 * unit)), float)[..., None] / 255 * opacity
    mixed = np.asarray(picture, float) * (1 - alpha) + np.array([90.0, 90.0, 90.0]) * alpha
    return Image.fromarray(mixed.clip(0, 255).astype(np.uint8))


def blue_carton(side: int) -> Image.Image:
    return carton(side, "", (60, 110, 170), WHITE, half_width=0.5)


PRODUCT_PRINT: dict[str, Callable[[int], Image.Image]] = {
    "yellow brand along a red carton's top": lambda side: carton(side, "CHOCO", (200, 40, 40), (250, 230, 60)),
    "white brand along a blue carton's top": lambda side: carton(side, "FRESH", (40, 80, 170), WHITE),
    "black weight along an orange carton's bottom": lambda side: carton(
        side, "NET 500g", (240, 150, 30), (20, 20, 20), where="bottom", size=90
    ),
    "a brand as wide as its carton": lambda side: carton(
        side, "MUESLI", (60, 150, 80), (255, 250, 235), where="middle", half_width=0.46, size=112
    ),
    "black brand along a bottle label's top": bottle,
    "a cream leaflet's lines to its margins": leaflet,
    "a cream booklet's title and imprint at its edges": lambda side: booklet(side, (250, 246, 236)),
    "a white booklet's title and imprint at its edges": lambda side: booklet(side, WHITE),
}


@pytest.mark.parametrize("name", list(PRODUCT_PRINT))
def test_print_close_to_the_products_edge_is_the_products_own(name: str) -> None:
    document = verdict(encoded(PRODUCT_PRINT[name](1024), "PNG"), task="product-white-background", prompt="a product")
    result = criterion(document, "no-stray-text")
    assert result["passed"], result["detail"]


@pytest.mark.parametrize(("side", "fmt"), [(512, "JPEG"), (1024, "WEBP"), (2048, "JPEG")])
@pytest.mark.parametrize(
    "name", ["yellow brand along a red carton's top", "a white booklet's title and imprint at its edges"]
)
def test_print_at_the_edge_stays_the_products_at_other_sizes_and_formats(name: str, side: int, fmt: str) -> None:
    document = verdict(encoded(PRODUCT_PRINT[name](side), fmt), task="product-white-background", prompt="a product")
    result = criterion(document, "no-stray-text")
    assert result["passed"], result["detail"]


MARKS: dict[str, Callable[[int], Image.Image]] = {
    "a faint grey mark across the carton's edge": lambda side: laid_over(
        blue_carton(side), "SAMPLE", (762, 500), 170, (90, 90, 90), 0.3
    ),
    "an opaque grey mark across the carton's edge": lambda side: laid_over(
        blue_carton(side), "SAMPLE", (762, 500), 170, (90, 90, 90), 1.0
    ),
    "a faint grey mark barely past both edges": lambda side: laid_over(
        blue_carton(side), "SAMPLE", (512, 500), 170, (90, 90, 90), 0.3
    ),
    "a slanted mark across carton and backdrop": lambda side: slanted(blue_carton(side), "SAMPLE COPY", 0.4, 30),
    "a semi-transparent white mark wholly on the carton by its top": lambda side: laid_over(
        blue_carton(side), "PREVIEW", (512, 130), 110, WHITE, 0.35
    ),
    "a caption touching the carton from the backdrop": lambda side: laid_over(
        blue_carton(side), "BEST PRICE", (768, 900), 60, (20, 20, 20), 1.0
    ),
}


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("name", list(MARKS))
def test_a_mark_laid_across_product_and_backdrop_is_still_stray_text(name: str, fmt: str) -> None:
    document = verdict(encoded(MARKS[name](1024), fmt), task="product-white-background", prompt="a product")
    result = criterion(document, "no-stray-text")
    assert not result["passed"], result["detail"]
