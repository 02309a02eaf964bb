"""A cream or beige material that fills much of a picture (a shop's sign board, a living-room wall) is its own
colour, not a warm light: grey surfaces beside it stay neutral, which a tint over the whole picture would have
reached. Sand, parchment and a wooden table top pass too; a real warm or yellow cast over a whole photo, which leaves
no grey neutral, still fails."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from tests.judges.test_pixel_detectors import jpeg, judge
from tests.judges.test_pixels_colour_cast import astronaut, blended, photo, room, white_balanced


def finished(picture: np.ndarray | Image.Image, seed: int = 0) -> np.ndarray:
    """A photo's softness and grain over a drawn scene."""
    rng = np.random.default_rng(seed)
    pixels = ndimage.gaussian_filter(np.asarray(picture, np.float64), (1.0, 1.0, 0))
    return np.clip(pixels + rng.normal(0, 2.0, pixels.shape), 0, 255).astype(np.uint8)


def lit(side: int, colour: tuple[int, int, int], darkest: float, across: bool) -> np.ndarray:
    """A surface of one colour lit from one side (left or top), falling off to ``darkest`` of its brightness."""
    fall = np.linspace(1.0, darkest, side)
    shade = fall[None, :] if across else fall[:, None]
    return np.array(colour, np.float64)[None, None] * shade[..., None] * np.ones((side, side, 1))


def cream_sign(side: int = 1024, board: tuple[int, int, int] = (238, 226, 196)) -> np.ndarray:
    """A shopfront: a grey rendered wall and a dark window under a large cream sign board with brown letters."""
    yy, xx = np.mgrid[0:side, 0:side]
    picture = lit(side, (120, 118, 115), 0.6, across=True) + 12 * ((yy // 40 + (xx // 90) % 2) % 2)[..., None]
    picture[600:, 150:870] = (40, 45, 50)
    picture[120:480, 80:940] = lit(side, board, 0.6, across=True)[120:480, 80:940]
    image = Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))
    try:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.truetype("DejaVuSans-Bold.ttf", 150)
    except OSError:
        font = ImageFont.load_default()
    ImageDraw.Draw(image).text((150, 220), "BAKERY", fill=(60, 40, 30), font=font)
    return finished(image)


def beige_room(side: int = 1024, wall: tuple[int, int, int] = (226, 212, 186)) -> np.ndarray:
    """A living room: a beige wall lit from the window side, a wooden floor, a grey sofa and rug, a dark screen."""
    picture = lit(side, wall, 0.62, across=True)
    picture[700:] = lit(side, (150, 120, 90), 0.7, across=False)[700:]
    picture[380:640, 300:560] = (30, 30, 35)
    picture[480:760, 560:960] = lit(side, (128, 128, 128), 0.7, across=False)[480:760, 560:960]
    picture[800:980, 120:520] = (150, 150, 149)
    return finished(picture, seed=1)


def sand_beach(side: int = 1024) -> np.ndarray:
    """A sky and sea over a sand beach lit from the front."""
    rng = np.random.default_rng(3)
    down = (np.arange(side) / side)[:, None, None]
    picture = np.array([90, 150, 220.0]) * (1 - down) + np.array([170, 205, 235.0]) * down * np.ones((1, side, 1))
    picture[300:450] = (40, 110, 160)
    picture[450:] = lit(side, (225, 205, 165), 0.75, across=False)[450:]
    picture[450:] += ndimage.gaussian_filter(rng.normal(0, 8, (side - 450, side)), 2)[..., None]
    return finished(picture, seed=2)


def parchment(side: int = 1024) -> np.ndarray:
    """A sheet of parchment, darker toward its edges, with lines of brown handwriting."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:side, 0:side] / side
    fade = 1 - 0.35 * np.hypot(xx - 0.5, yy - 0.5) ** 1.5
    picture = np.array([240, 228, 198.0]) * fade[..., None]
    picture += ndimage.gaussian_filter(rng.normal(0, 10, (side, side)), 6)[..., None]
    image = Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for y in range(150, 900, 60):
        draw.line((120, y, 880, y + 5), fill=(70, 50, 35), width=4)
    return finished(image, seed=3)


def wooden_table(side: int = 1024) -> np.ndarray:
    """A wooden table top with its grain, a white plate and food on it."""
    yy, xx = np.mgrid[0:side, 0:side]
    grain = np.sin(xx / 9.0 + 3 * np.sin(yy / 80.0)) * 12
    picture = lit(side, (190, 150, 105), 0.7, across=False) + grain[..., None] * np.array([1, 0.8, 0.6])
    picture[350:650, 380:640] = (245, 245, 243)
    picture[420:580, 450:570] = (200, 80, 40)
    return finished(picture, seed=4)


WARM_MATERIALS = {
    "cream-sign": cream_sign,
    "beige-sign": lambda: cream_sign(board=(230, 214, 180)),
    "beige-room": beige_room,
    "cream-room": lambda: beige_room(wall=(236, 226, 200)),
    "sand-beach": sand_beach,
    "parchment": parchment,
    "wooden-table": wooden_table,
}


@pytest.mark.parametrize("encoded", ["png", "jpeg-85"])
@pytest.mark.parametrize("scene", WARM_MATERIALS.values(), ids=WARM_MATERIALS.keys())
def test_a_cream_or_beige_material_is_not_a_cast(scene, encoded: str) -> None:
    picture = scene() if encoded == "png" else jpeg(scene(), 85)
    outcome, _ = judge("colour_cast", picture, params={"prompt": "a photo"})
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("scene", [cream_sign, beige_room], ids=["cream-sign", "beige-room"])
def test_the_greys_beside_the_material_are_what_tells_it_from_a_light(scene) -> None:
    outcome, _ = judge("colour_cast", scene(), params={"prompt": "a photo"})
    assert "neutral grey" in outcome.detail, outcome.detail


WARM_CASTS = {
    "room-yellow-blend-12": lambda: blended(room(face=False), "yellow", 0.12),
    "room-yellow-blend-20": lambda: blended(room(face=False), "yellow", 0.2),
    "astronaut-yellow-blend-12": lambda: blended(astronaut(), "yellow", 0.12),
    "garage-yellow-blend-20": lambda: blended(photo("china.jpg"), "yellow", 0.2),
    "room-yellow-white-balance-50": lambda: white_balanced(room(face=False), "yellow", 0.5),
    "astronaut-yellow-white-balance-50": lambda: white_balanced(astronaut(), "yellow", 0.5),
    "beige-room-yellow-blend-6": lambda: blended(beige_room(), "yellow", 0.06),
    "cream-sign-yellow-blend-8": lambda: blended(cream_sign(), "yellow", 0.08),
}


@pytest.mark.parametrize("picture", WARM_CASTS.values(), ids=WARM_CASTS.keys())
def test_a_real_warm_cast_over_the_whole_photo_still_fails(picture) -> None:
    outcome, _ = judge("colour_cast", picture(), params={"prompt": "a photo"})
    assert not outcome.passed and outcome.facts.get("tint") in ("yellow", "yellow-green", "orange"), outcome.detail
