"""Minimalist and document-like images (outside probe HQ F2, F3): a line of small text on a plain sign, a small logo
on white, one thin line, a tiny product are pictures, not blank frames; a page of print or a letter is not broken
by streaks or posterised because of the paper between its lines. Blank frames, specks and real streaks still fail
severely."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.judges.test_pixel_held_out_verdicts import encode, judge, shaded_box

DEJAVU = "/usr/share/fonts/truetype/dejavu"
LOREM = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
]
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "quietly",
    "pack",
    "boxes",
    "of",
    "liquor",
    "jugs",
]


def plain_sign(side: int, size: int) -> bytes:
    """Red 'OPEN 24/7' in ``size``-px bold letters centred on a flat beige ``side``² sign, as a JPEG."""
    image = Image.new("RGB", (side, side), (235, 235, 225))
    letters = ImageFont.truetype(f"{DEJAVU}/DejaVuSans-Bold.ttf", size)
    ImageDraw.Draw(image).text((side // 2, side // 2), "OPEN 24/7", fill=(180, 20, 20), font=letters, anchor="mm")
    return encode(image, "JPEG", 92)


def small_logo() -> np.ndarray:
    image = Image.new("RGB", (1024, 1024), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((472, 440, 552, 520), fill=(20, 70, 160))
    bold = f"{DEJAVU}/DejaVuSans-Bold.ttf"
    draw.text((512, 480), "K", fill=(255, 255, 255), font=ImageFont.truetype(bold, 48), anchor="mm")
    draw.text((512, 548), "KESTREL", fill=(20, 70, 160), font=ImageFont.truetype(bold, 18), anchor="mm")
    return np.asarray(image)


def thin_line() -> np.ndarray:
    image = Image.new("RGB", (1024, 1024), (245, 243, 238))
    ImageDraw.Draw(image).line((200, 700, 830, 330), fill=(30, 30, 30), width=2)
    return np.asarray(image)


def page(width: int, height: int, size: int, lead: int, rng: np.random.Generator) -> np.ndarray:
    """Ragged lines of ``size``-px dark serif print ``lead`` px apart on cream paper, with paragraph breaks."""
    image = Image.new("RGB", (width, height), (250, 248, 240))
    draw = ImageDraw.Draw(image)
    letters = ImageFont.truetype(f"{DEJAVU}/DejaVuSerif.ttf", size)
    top = 40
    while top < height - 40:
        draw.text((40, top), " ".join(rng.choice(WORDS, int(rng.integers(6, 14)))), fill=(20, 20, 20), font=letters)
        top += lead
        if rng.random() < 0.15:
            top += lead
    return np.asarray(image)


def menu_and_letter() -> tuple[np.ndarray, np.ndarray]:
    """A 1024² menu of 16-px lines and a 1024×1536 letter of 12-px lines, drawn in the probe's order."""
    rng = np.random.default_rng(2)
    menu = page(1024, 1024, 16, 22, rng)
    page(1024, 1024, 16, 22, rng)
    return menu, page(1024, 1536, 12, 16, rng)


def page_of_small_print() -> np.ndarray:
    """An A4 page (1240×1754) of 11-px black sans lines on white, 15 px apart."""
    rng = np.random.default_rng(5)
    image = Image.new("RGB", (1240, 1754), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    letters = ImageFont.truetype(f"{DEJAVU}/DejaVuSans.ttf", 11)
    for top in range(60, 1754 - 60, 15):
        draw.text((60, top), " ".join(rng.choice(LOREM, 16)), fill=(0, 0, 0), font=letters)
    return np.asarray(image)


@pytest.mark.parametrize(("side", "size"), [(1024, 16), (4096, 64), (1024, 24)])
def test_a_legible_sign_of_small_text_on_a_plain_backdrop_is_not_blank(side: int, size: int) -> None:
    outcome, _ = judge("not_blank", plain_sign(side, size))
    assert outcome.passed, outcome.detail
    assert "small subject" in outcome.detail


@pytest.mark.parametrize(
    "picture",
    [small_logo, thin_line, lambda: shaded_box((470, 480, 550, 540))],
    ids=["small-logo-on-white", "one-thin-line", "tiny-product-on-white"],
)
def test_a_small_logo_a_thin_line_or_a_tiny_product_on_plain_ground_is_not_blank(picture) -> None:
    outcome, _ = judge("not_blank", encode(picture()))
    assert outcome.passed, outcome.detail


def speck(colour: tuple[int, int, int], radius: int) -> np.ndarray:
    image = Image.new("RGB", (1024, 768), (255, 255, 255))
    ImageDraw.Draw(image).ellipse((512 - radius, 384 - radius, 512 + radius, 384 + radius), fill=colour)
    return np.asarray(image)


def salted(share: float) -> np.ndarray:
    """Flat grey with ``share`` of its pixels, scattered, turned black or white."""
    rng = np.random.default_rng(4)
    grey = np.full((768, 1024, 3), 128, np.uint8)
    hit = rng.random(grey.shape[:2]) < share
    grey[hit] = rng.choice([0, 255], size=(int(hit.sum()), 1))
    return grey


@pytest.mark.parametrize(
    ("picture", "kinds"),
    [
        (lambda: speck((30, 30, 30), 20), ("PNG", "JPEG")),
        (lambda: np.full((1024, 1024, 3), 250, np.uint8), ("PNG", "JPEG")),
        # Losslessly: a JPEG spreads each dot into a blur that the spread check reads as content, as it always has.
        (lambda: salted(0.004), ("PNG",)),
    ],
    ids=["a-dark-speck-on-white", "plain-white", "scattered-salt-on-grey"],
)
def test_a_speck_scattered_dots_or_a_plain_frame_are_still_severely_blank(picture, kinds: tuple[str, ...]) -> None:
    for kind in kinds:
        outcome, severity = judge("not_blank", encode(picture(), kind, 90))
        assert not outcome.passed and severity == "severe", (kind, outcome.detail)


def test_a_page_of_small_print_is_not_broken_by_streaks() -> None:
    outcome, _ = judge("broken_regions", encode(page_of_small_print()))
    assert outcome.passed, outcome.detail
    outcome, _ = judge("broken_regions", encode(page_of_small_print(), "JPEG", 90))
    assert outcome.passed, outcome.detail


def test_a_menu_on_cream_paper_is_not_broken_by_streaks() -> None:
    menu, _ = menu_and_letter()
    outcome, _ = judge("broken_regions", encode(menu, "JPEG", 92))
    assert outcome.passed, outcome.detail


def test_a_letter_of_small_serif_print_is_not_posterised() -> None:
    _, letter = menu_and_letter()
    outcome, _ = judge("banding", encode(letter))
    assert outcome.passed, outcome.detail


def test_a_product_on_white_smeared_into_streaks_of_its_own_colours_is_still_broken() -> None:
    """The plain white backdrop is the image's ground, but the smears are the product's colours: still streaks."""
    shot = shaded_box((380, 300, 640, 720)).astype(float)
    product = shot.sum(axis=2) < 760
    shot[product] += np.random.default_rng(1).normal(0, 12, (int(product.sum()), 3))  # a textured surface
    shot = np.clip(shot, 0, 255).astype(np.uint8)
    for row in range(320, 700, 7):
        shot[row : row + 3] = shot[row, 400]
    outcome, severity = judge("broken_regions", encode(shot))
    assert not outcome.passed and "streaks" in outcome.detail, outcome.detail
    assert severity == "severe"


def test_a_posterised_photo_with_a_plain_backdrop_is_still_posterised() -> None:
    """A plain ground covers most of it, but the product's gradients sit on 16-level steps."""
    shot = shaded_box((250, 250, 700, 700)).astype(np.int32)
    posterised = (shot // 16 * 16).astype(np.uint8)
    outcome, _ = judge("banding", encode(posterised), prompt="a cardboard box on a white background")
    assert not outcome.passed and "posterised" in outcome.detail, outcome.detail
