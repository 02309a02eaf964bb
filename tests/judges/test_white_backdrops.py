"""A product shot on a plain backdrop is not a framed or letterboxed picture, and its white backdrop is not blown
highlights: text-to-image (whose rubric checks bars, frames and exposure) must not send a product photo back with
"fill the frame edge to edge" or "tone down the highlights" when the prompt asked for a plain white background.
Real bars and frames (white, black, coloured; thin and thick) and real burnt-out highlights still fail."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from tests.judges.test_pixel_detectors import astronaut, coffee, jpeg, judge, scaled

SIDE = 1024
WHITE = (255, 255, 255)
OFF_WHITE = (244, 242, 238)


def backdrop(colour: tuple[int, int, int] = WHITE, side: int = SIDE) -> Image.Image:
    return Image.new("RGB", (side, side), colour)


def with_shadow(
    canvas: Image.Image, box: tuple[int, int, int, int], radius: int, offset: tuple[int, int] = (18, 24), blur: int = 22
) -> Image.Image:
    """A soft drop shadow of a (rounded) rectangle ``box`` cast on the canvas, as a studio light would."""
    mask = Image.new("L", canvas.size, 0)
    left, top, right, bottom = box
    ImageDraw.Draw(mask).rounded_rectangle(
        (left + offset[0], top + offset[1], right + offset[0], bottom + offset[1]), radius, fill=110
    )
    mask = mask.filter(ImageFilter.GaussianBlur(blur))
    shadow = Image.new("RGB", canvas.size, (60, 60, 60))
    return Image.composite(shadow, canvas, mask)


def product_box(
    colour: tuple[int, int, int],
    box: tuple[int, int, int, int],
    radius: int = 0,
    ground: tuple[int, int, int] = WHITE,
    shadow: bool = False,
    label: bool = True,
    blur: int = 22,
) -> np.ndarray:
    canvas = backdrop(ground)
    if shadow:
        canvas = with_shadow(canvas, box, radius, offset=(12, 16), blur=blur)
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle(box, radius, fill=colour)
    if label:
        left, top, right, bottom = box
        cx, cy = (left + right) // 2, (top + bottom) // 2
        draw.ellipse((cx - 70, cy - 70, cx + 70, cy + 70), fill=(240, 200, 40))
        draw.rectangle((left + 40, bottom - 120, right - 40, bottom - 90), fill=(250, 250, 250))
    return jpeg(np.asarray(canvas), 92)


def bottle(ground: tuple[int, int, int] = WHITE, touching_bottom: bool = False) -> np.ndarray:
    """A green bottle (rounded body, shoulders, neck and cap) standing on the backdrop, with a contact shadow."""
    canvas = backdrop(ground)
    draw = ImageDraw.Draw(canvas)
    floor = SIDE if touching_bottom else 900
    draw.ellipse((330, floor - 40, 700, floor + 20), fill=(205, 205, 205))
    canvas = canvas.filter(ImageFilter.GaussianBlur(6))
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle((360, 380, 660, floor), 60, fill=(30, 110, 60))
    draw.polygon([(360, 430), (450, 260), (570, 260), (660, 430)], fill=(30, 110, 60))
    draw.rectangle((460, 140, 560, 270), fill=(30, 110, 60))
    draw.rectangle((450, 100, 570, 150), fill=(180, 30, 30))
    draw.rectangle((380, 520, 640, 720), fill=(236, 226, 200))
    return jpeg(np.asarray(canvas), 92)


def small_mug() -> np.ndarray:
    """A red mug a third of the frame wide, centred on pure white: nine tenths of the frame is backdrop."""
    canvas = backdrop()
    draw = ImageDraw.Draw(canvas)
    draw.ellipse((400, 600, 640, 640), fill=(225, 225, 225))
    draw.rectangle((420, 420, 600, 620), fill=(190, 30, 35))
    draw.ellipse((570, 460, 650, 560), outline=(190, 30, 35), width=18)
    draw.ellipse((420, 405, 600, 435), fill=(120, 20, 25))
    return jpeg(np.asarray(canvas), 92)


def round_tin(colour: tuple[int, int, int], fill: float, band: tuple[int, int, int] = WHITE) -> np.ndarray:
    canvas = backdrop()
    radius = round(SIDE * fill / 2)
    centre = SIDE // 2
    draw = ImageDraw.Draw(canvas)
    draw.ellipse((centre - radius, centre - radius, centre + radius, centre + radius), fill=colour)
    draw.ellipse((centre - radius // 2, centre - radius // 2, centre + radius // 2, centre + radius // 2), fill=band)
    return jpeg(np.asarray(canvas), 92)


def poster(ground: tuple[int, int, int]) -> np.ndarray:
    """A flat graphic in two saturated colours at full strength (a channel at 255 in each) on ``ground``."""
    canvas = backdrop(ground)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((120, 120, 904, 520), fill=(255, 140, 0))
    draw.ellipse((220, 420, 804, 904), fill=(255, 214, 0))
    draw.polygon([(512, 160), (820, 480), (204, 480)], fill=(230, 30, 60))
    return jpeg(np.asarray(canvas), 92)


def framed_print(offset: tuple[int, int] = (0, 0), side: str = "") -> np.ndarray:
    """A photo in a black moulding and a cream mat, hung on white with a soft shadow; ``side`` lets it run off one
    edge of the frame (the shot is cropped there)."""
    canvas = backdrop()
    left, top = 150 + offset[0], 250 + offset[1]
    box = (left, top, left + 724, top + 524)
    if side == "right":
        box = (left + 120, top, SIDE + 40, top + 524)
    canvas = with_shadow(canvas, box, 0, offset=(10, 14), blur=9)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle(box, fill=(24, 24, 26))
    mat = (box[0] + 28, box[1] + 28, box[2] - 28, box[3] - 28)
    draw.rectangle(mat, fill=(242, 238, 228))
    photo_box = (mat[0] + 50, mat[1] + 50, mat[2] - 50, mat[3] - 50)
    photo = Image.fromarray(coffee()).resize((photo_box[2] - photo_box[0], photo_box[3] - photo_box[1]))
    canvas.paste(photo, photo_box[:2])
    return jpeg(np.asarray(canvas), 92)


def cabinet(ground: tuple[int, int, int] = WHITE) -> np.ndarray:
    """A tall grey cabinet standing on the bottom edge of the shot: its straight sides run most of the height."""
    canvas = backdrop(ground)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((260, 180, 764, SIDE), fill=(120, 124, 130))
    draw.rectangle((290, 220, 734, 560), fill=(150, 154, 160))
    draw.rectangle((290, 600, 734, 980), fill=(150, 154, 160))
    draw.rectangle((490, 360, 530, 420), fill=(40, 40, 40))
    return jpeg(np.asarray(canvas), 92)


PRODUCT_SHOTS = {
    "framed-print-with-shadow": framed_print,
    "framed-print-off-centre": lambda: framed_print((-90, 120)),
    "framed-print-cut-by-the-right-edge": lambda: framed_print(side="right"),
    "cabinet-standing-on-the-bottom-edge": cabinet,
    "cabinet-on-off-white": lambda: cabinet(OFF_WHITE),
    "rounded-case-on-white": lambda: product_box((30, 90, 170), (150, 110, 874, 914), radius=60),
    "box-with-drop-shadow": lambda: product_box((40, 40, 45), (200, 160, 800, 840), shadow=True),
    "box-with-a-tight-shadow": lambda: product_box((40, 40, 45), (200, 160, 800, 840), shadow=True, blur=8),
    "rounded-box-on-off-white": lambda: product_box((200, 60, 40), (180, 140, 840, 880), 48, ground=OFF_WHITE),
    "bottle-on-white": bottle,
    "bottle-touching-the-bottom": lambda: bottle(touching_bottom=True),
    "bottle-on-off-white": lambda: bottle(OFF_WHITE),
    "small-mug-on-white": small_mug,
    "round-tin-filling-a-third": lambda: round_tin((230, 120, 20), 0.33),
    "vivid-orange-tin-with-a-yellow-lid": lambda: round_tin((255, 140, 0), 0.8, band=(255, 214, 0)),
}


@pytest.mark.parametrize("shot", PRODUCT_SHOTS.values(), ids=PRODUCT_SHOTS.keys())
def test_a_product_on_a_plain_backdrop_has_no_bars_or_frame(shot: Callable[[], np.ndarray]) -> None:
    outcome, _ = judge("borders", shot())
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("shot", PRODUCT_SHOTS.values(), ids=PRODUCT_SHOTS.keys())
def test_a_white_backdrop_is_not_blown_highlights(shot: Callable[[], np.ndarray]) -> None:
    outcome, _ = judge("exposure", shot())
    assert outcome.passed, outcome.detail


def framed(photo: np.ndarray, share: float, colour: tuple[int, int, int]) -> np.ndarray:
    """``photo`` inside a frame of ``colour``, ``share`` of the shorter side thick on every side."""
    height, width = photo.shape[:2]
    bar = round(min(height, width) * share)
    out = np.empty_like(photo)
    out[:] = colour
    inner = Image.fromarray(photo).resize((width - 2 * bar, height - 2 * bar), Image.LANCZOS)
    out[bar : height - bar, bar : width - bar] = np.asarray(inner)
    return jpeg(out, 92)


def letterboxed(photo: np.ndarray, share: float, colour: tuple[int, int, int]) -> np.ndarray:
    """``photo`` fitted between bars of ``colour``, ``share`` of the height each (the whole picture, squeezed)."""
    height, width = photo.shape[:2]
    bar = round(height * share)
    out = np.empty_like(photo)
    out[:] = colour
    out[bar : height - bar] = np.asarray(Image.fromarray(photo).resize((width, height - 2 * bar), Image.LANCZOS))
    return jpeg(out, 92)


def bright_topped(photo: np.ndarray) -> np.ndarray:
    """``photo`` with its top quarter fading to near white, as a hazy sky does: content white near a bar."""
    height = photo.shape[0]
    fade = np.clip(1 - np.arange(height, dtype=np.float32) / (height * 0.25), 0, 1)[:, None, None]
    return (photo * (1 - 0.9 * fade) + 250 * 0.9 * fade).astype(np.uint8)


@pytest.mark.parametrize(
    ("picture", "kind", "severities"),
    [
        (lambda: framed(astronaut(), 0.08, WHITE), "frame", {"moderate", "severe"}),
        (lambda: framed(coffee(), 0.02, WHITE), "frame", {"mild"}),
        (lambda: framed(coffee(), 0.06, (0, 0, 0)), "frame", {"moderate", "severe"}),
        (lambda: framed(astronaut(), 0.05, (180, 30, 40)), "frame", {"moderate", "severe"}),
        (lambda: framed(bright_topped(coffee()), 0.05, WHITE), "frame", {"moderate", "severe"}),
        (lambda: letterboxed(astronaut(), 0.2, WHITE), "letterbox", {"severe"}),
        (lambda: letterboxed(coffee(), 0.15, (20, 40, 90)), "letterbox", {"severe"}),
        (lambda: letterboxed(astronaut(), 0.2, (0, 0, 0)), "letterbox", {"severe"}),
        (lambda: framed(astronaut(), 0.2, (0, 0, 0)), "frame", {"severe"}),
        (lambda: framed(astronaut(), 0.2, WHITE), "frame", {"severe"}),
    ],
    ids=[
        "white-frame",
        "thin-white-frame",
        "black-frame",
        "red-frame",
        "white-frame-around-a-white-sky",
        "white-letterbox",
        "navy-letterbox",
        "black-letterbox-on-a-dark-suit",
        "thick-black-frame-around-dark-corners",
        "thick-white-frame",
    ],
)
def test_real_bars_and_frames_still_fail(picture: Callable[[], np.ndarray], kind: str, severities: set[str]) -> None:
    outcome, severity = judge("borders", picture())
    assert not outcome.passed and outcome.facts["kind"] == kind and severity in severities, (outcome.detail, severity)


@pytest.mark.parametrize("ground", [(20, 30, 80), WHITE], ids=["on-navy", "on-white"])
def test_saturated_flat_colours_are_not_bleached_highlights(ground: tuple[int, int, int]) -> None:
    """Paint and print at full strength put a channel at 255 with the others flat: no detail was burnt out."""
    outcome, _ = judge("exposure", poster(ground))
    assert outcome.passed, outcome.detail


def test_a_burnt_out_subject_on_a_white_backdrop_is_still_overexposed() -> None:
    """The backdrop is left aside, the subject is not: a product burnt out to white on white still fails."""
    canvas = np.full((SIDE, SIDE, 3), 255, np.uint8)
    subject = np.asarray(Image.fromarray(scaled(coffee(), 2.4)).resize((700, 466)))
    canvas[280:746, 162:862] = subject
    outcome, severity = judge("exposure", jpeg(canvas, 92))
    assert not outcome.passed and outcome.facts == {"too": "bright"}, outcome.detail
    assert "of the subject" in outcome.detail and severity in {"moderate", "severe"}


def test_a_sky_burnt_out_above_a_landscape_is_still_overexposed() -> None:
    """A blown sky reaches the top and the upper sides, never around the subject: it is no backdrop."""
    outcome, severity = judge("exposure", jpeg(scaled(coffee(), 2.2), 90))
    assert not outcome.passed and severity == "severe" and "of the image" in outcome.detail
