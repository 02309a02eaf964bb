"""The ``local`` provider: an offline procedural renderer for development, demos and tests.

It is NOT a generative model. It reads a few things from the prompt — colour words, a shape word,
any text in quotes, "white background" — and draws them with Pillow: a subject shape on a
background, deterministic for a seed. It can also be told to fail the way real providers fail
(429, 503, slow, content filter, blank image), so fallback can be demonstrated without a network.

It edits too, procedurally and deterministically (:func:`edit`): the region to change is the mask's white (or
transparent) pixels, else the source's transparent pixels, else, for a background request, the pixels that look
like the source's border. A prompt that asks for a background colour ("a plain light grey background", "#e0e0e0
background") gets the region painted that colour; any other prompt gets the region filled from its surroundings
(object removal: the mean colour of the ring around it, smoothed into the edges). A variation (:func:`vary`) is the
source with its hue turned a little and seeded noise added, at the same size.
"""

from __future__ import annotations

import asyncio
import functools
import io
import math
import random
import re
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from sentinel.providers.base import GenerationRequest, Operation, Outcome, ProviderImage, ProviderResult, failure
from sentinel.providers.masks import MASK_RULE, edit_region, transparent_region

#: Colour words the renderer understands, first match is the subject, second the background.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (210, 40, 45),
    "orange": (240, 140, 30),
    "yellow": (245, 210, 40),
    "green": (50, 160, 70),
    "teal": (30, 140, 140),
    "cyan": (40, 200, 220),
    "blue": (40, 90, 200),
    "purple": (130, 60, 170),
    "pink": (240, 130, 180),
    "brown": (120, 80, 45),
    "black": (20, 20, 20),
    "white": (255, 255, 255),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "gold": (212, 175, 55),
    "silver": (190, 190, 200),
}
SHAPES = {
    "ellipse": ("circle", "ball", "sphere", "sun", "moon", "planet", "orange", "apple", "cup", "mug", "bottle"),
    "rectangle": ("square", "box", "cube", "book", "phone", "sign", "card", "building"),
    "triangle": ("triangle", "mountain", "tree", "pyramid", "tent"),
    "star": ("star", "flower", "sparkle"),
}
#: Failures the renderer can be asked to produce (route parameter ``inject``).
INJECTABLE = ("rate_limited", "unavailable", "slow", "content_filtered", "blank")
#: Largest side it draws: bigger requests are refused like a real provider refuses them.
MAX_SIDE = 4096
#: Text in double quotes is drawn on a sign; single quotes count only when there are no double quotes, so an
#: apostrophe ("McDonald's") is part of the text, not its end.
DOUBLE_QUOTED = re.compile(r"[\"“”]([^\"“”]{1,80})[\"“”]")
SINGLE_QUOTED = re.compile(r"(?<![A-Za-z])['‘’]([^'‘’]{1,80})['‘’](?![A-Za-z])")
#: Guillemets, which guidance puts around a text that holds double quotes itself (« Say "Hi" »): tried first.
GUILLEMETS = re.compile(r"«([^«»]{1,80})»")
#: A request for a white background, however it is written: "white background", "pure white (#FFFFFF) background".
WHITE_BACKGROUND = re.compile(r"white\s+(?:\(#?f{6}\)\s+)?(?:seamless\s+)?background|#f{6}\s+background", re.I)


#: The face signs are drawn in when the machine has it (most Linux systems do): it has accented letters, which
#: Pillow's built-in face draws as empty boxes.
SIGN_FONT = "DejaVuSans-Bold.ttf"


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(SIGN_FONT, size)
    except OSError:
        return ImageFont.load_default(size=size)


def _shape_for(prompt: str, rng: random.Random) -> str:
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    for shape, triggers in SHAPES.items():
        if words & set(triggers):
            return shape
    return rng.choice(list(SHAPES))


def _random_colour(rng: random.Random, low: int, high: int) -> tuple[int, int, int]:
    return rng.randrange(low, high), rng.randrange(low, high), rng.randrange(low, high)


def _colours(prompt: str, rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    found = [COLOURS[w] for w in re.findall(r"[a-z]+", prompt.lower()) if w in COLOURS]
    subject = found[0] if found else _random_colour(rng, 30, 225)
    if WHITE_BACKGROUND.search(prompt):
        return subject, (255, 255, 255)
    background = found[1] if len(found) > 1 else _random_colour(rng, 150, 250)
    return subject, background


def render(prompt: str, width: int, height: int, seed: int) -> bytes:
    """Draw the prompt's subject, colours and quoted text; the same inputs give the same PNG."""
    rng = random.Random(seed)
    subject, background = _colours(prompt, rng)
    product_shot = background == (255, 255, 255)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    if not product_shot:
        # A soft gradient and a few background shapes, so a scene is not a flat colour.
        for y in range(0, height, 4):
            shade = tuple(max(0, c - int(40 * y / height)) for c in background)
            draw.rectangle((0, y, width, y + 4), fill=shade)
        for _ in range(6):
            x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(min(width, height) // 12 + 2)
            tone = tuple(min(255, c + rng.randrange(-30, 30)) for c in background)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tone)
    fill = 0.88 if product_shot else 0.55
    side = min(width, height) * fill
    cx, cy = width / 2, height / 2
    box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    quoted = GUILLEMETS.search(prompt) or DOUBLE_QUOTED.search(prompt) or SINGLE_QUOTED.search(prompt)
    shape = "rectangle" if quoted else _shape_for(prompt, rng)
    if quoted:
        # A sign: wide enough for its text.
        box = (width * 0.08, cy - height * 0.2, width * 0.92, cy + height * 0.2)
    outline = tuple(max(0, c - 70) for c in subject)
    stroke = max(2, int(side / 60))
    if shape == "ellipse":
        draw.ellipse(box, fill=subject, outline=outline, width=stroke)
    elif shape == "rectangle":
        draw.rounded_rectangle(box, radius=side / 10, fill=subject, outline=outline, width=stroke)
    elif shape == "triangle":
        draw.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=subject, outline=outline)
    else:
        points = []
        for i in range(10):
            radius = side / 2 if i % 2 == 0 else side / 5
            angle = i * math.pi / 5 - math.pi / 2
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        draw.polygon(points, fill=subject, outline=outline)
    # Highlights give the subject texture and edges, like a photographed object.
    for _ in range(12):
        x = rng.uniform(box[0] + side * 0.2, box[2] - side * 0.2)
        y = rng.uniform(box[1] + side * 0.2, box[3] - side * 0.2)
        r = side * rng.uniform(0.01, 0.04)
        tone = tuple(min(255, c + 60) for c in subject)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tone)
    if quoted:
        text = quoted.group(1).strip()
        size = max(12, int(min(height * 0.16, width * 1.4 / max(len(text), 1))))
        font = _font(size)
        # The text stays on the sign, whatever the face's letter widths.
        while size > 12 and draw.multiline_textbbox((0, 0), text, font=font)[2] > width * 0.78:
            size -= 2
            font = _font(size)
        ink = (20, 20, 20) if sum(subject) > 380 else (250, 250, 250)
        draw.text(
            (cx, cy),
            text,
            fill=ink,
            font=font,
            anchor="mm",
            stroke_width=max(1, size // 25),
            stroke_fill=tuple(255 - c for c in ink),
        )
    image = image.filter(ImageFilter.SMOOTH_MORE) if not quoted and not product_shot else image
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


#: A colour asked for by hex: "#d3d3d3" or "#ddd".
HEX_COLOUR = re.compile(r"#([0-9a-f]{6}|[0-9a-f]{3})\b", re.I)
#: How far "light" and "dark" move a colour word towards white or black.
SHADE = {"light": 0.5, "pale": 0.5, "dark": -0.45, "deep": -0.3}
#: A pixel within this distance (RGB) of the border's median colour counts as background, when no mask says.
BACKGROUND_DISTANCE = 40.0


class EditRefused(ValueError):
    """An edit the renderer cannot make (no region to change); its message says what to send."""


def requested_colour(prompt: str) -> tuple[int, int, int] | None:
    """The colour a prompt asks for: a hex value, else the first colour word (shaded by "light" or "dark")."""
    hex_match = HEX_COLOUR.search(prompt)
    if hex_match:
        digits = hex_match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    words = re.findall(r"[a-z]+", prompt.lower())
    for index, word in enumerate(words):
        if word in COLOURS:
            colour = COLOURS[word]
            shade = SHADE.get(words[index - 1], 0.0) if index else 0.0
            target = 255 if shade > 0 else 0
            return tuple(round(c + (target - c) * abs(shade)) for c in colour)  # type: ignore[return-value]
    return None


def background_colour(prompt: str) -> tuple[int, int, int] | None:
    """The background colour a prompt asks for ("a plain light grey background"); None when it asks for none."""
    return requested_colour(prompt) if re.search(r"\bbackground\b", prompt, re.I) else None


def _border_background(rgb: np.ndarray) -> np.ndarray:
    """Pixels close to the median colour of the image's outermost rows and columns: its background, roughly."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    median = np.median(border, axis=0)
    return np.linalg.norm(rgb.astype(np.float32) - median, axis=2) < BACKGROUND_DISTANCE


def _fill_from_surroundings(rgb: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The region filled with the mean colour of the ring around it, then blended into its edges by repeated blurs
    that only ever change the region's pixels (a cheap diffusion: the known pixels stay as they were)."""
    mask_image = Image.fromarray(region.astype(np.uint8) * 255, "L")
    ring = (np.asarray(mask_image.filter(ImageFilter.MaxFilter(9))) > 0) & ~region
    if not ring.any():
        ring = ~region
    if not ring.any():
        raise EditRefused("the mask covers the whole image: there are no surroundings to fill it from")
    filled = rgb.astype(np.float32).copy()
    filled[region] = rgb[ring].astype(np.float32).mean(axis=0)
    side = max(rgb.shape[0], rgb.shape[1])
    for radius in (side / 16, side / 32, side / 64, 3, 1.5):
        blurred = np.asarray(
            Image.fromarray(filled.round().astype(np.uint8), "RGB").filter(ImageFilter.GaussianBlur(max(radius, 1)))
        )
        filled[region] = blurred[region]
    return filled.round().astype(np.uint8)


def edit(source: bytes, mask: bytes | None, prompt: str, width: int, height: int) -> bytes:
    """The procedural edit described in the module's docstring; the same inputs give the same PNG."""
    with Image.open(io.BytesIO(source)) as opened:
        rgb = np.asarray(opened.convert("RGB"))
    colour = background_colour(prompt)
    if mask is not None:
        region = edit_region(mask)
        if region.shape != rgb.shape[:2]:
            # The gateway refuses such masks; a direct caller's is stretched onto the source.
            resized = Image.fromarray(region.astype(np.uint8) * 255, "L").resize(
                (rgb.shape[1], rgb.shape[0]), Image.Resampling.NEAREST
            )
            region = np.asarray(resized) > 127
        if not region.any():
            # The gateway refuses such masks; an "edit" under one would hand back the source as a success.
            raise EditRefused(f"the mask marks no region to change: {MASK_RULE}")
    else:
        region = transparent_region(source)
        if region is None and colour is not None:
            region = _border_background(rgb)
        if region is None:
            raise EditRefused(
                "an edit needs a region: send a mask (white or transparent = change), an image with transparent "
                "pixels, or ask for a background colour"
            )
    if colour is not None:
        result = rgb.copy()
        result[region] = colour
    else:
        result = _fill_from_surroundings(rgb, region)
    image = Image.fromarray(result, "RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def vary(source: bytes, width: int, height: int, seed: int) -> bytes:
    """A variation: the hue turned by up to ±10% and seeded noise of ±8 levels; the same seed, the same PNG."""
    rng = np.random.default_rng(seed)
    with Image.open(io.BytesIO(source)) as opened:
        hsv = np.asarray(opened.convert("RGB").convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(rng.integers(-25, 26))) % 256
    rgb = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB")).astype(np.int16)
    rgb = np.clip(rgb + rng.integers(-8, 9, size=rgb.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


class LocalProvider:
    """Renders offline; route parameters ``inject`` (one of INJECTABLE), ``inject_rate`` and ``slow_seconds``."""

    def __init__(self, name: str = "local", rng: random.Random | None = None) -> None:
        self.name = name
        self._rng = rng or random.Random()

    @classmethod
    def supports(cls, model: str, operation: Operation) -> bool:
        # Every operation, procedurally: it is the offline stand-in for all of them.
        return True

    async def generate(self, request: GenerationRequest) -> ProviderResult:
        params: dict[str, Any] = request.params
        inject = params.get("inject")
        if inject is not None and inject not in INJECTABLE:
            return failure(Outcome.INVALID_REQUEST, f"local: unknown inject '{inject}'; use one of {INJECTABLE}")
        if inject and self._rng.random() < float(params.get("inject_rate", 1.0)):
            if inject == "rate_limited":
                return failure(Outcome.RATE_LIMITED, "local: injected 429 Too Many Requests", 429, 1.0)
            if inject == "unavailable":
                return failure(Outcome.UNAVAILABLE, "local: injected 503 Service Unavailable", 503)
            if inject == "content_filtered":
                return failure(Outcome.CONTENT_FILTERED, "local: injected content-filter refusal", 400)
            if inject == "slow":
                await asyncio.sleep(min(float(params.get("slow_seconds", 5.0)), 60.0))
            if inject == "blank":
                blank = io.BytesIO()
                Image.new("RGB", (request.width, request.height), (0, 0, 0)).save(blank, "PNG")
                return ProviderResult(Outcome.OK, [ProviderImage(data=blank.getvalue())])
        if not (16 <= request.width <= MAX_SIDE and 16 <= request.height <= MAX_SIDE):
            return failure(
                Outcome.INVALID_REQUEST, f"local: size {request.width}x{request.height} is outside 16-{MAX_SIDE}"
            )
        # Drawing a large image takes tens of milliseconds: keep it off the event loop.
        # Same seed, same picture; without one, every call draws a new variation (n images differ).
        seed = request.seed if request.seed is not None else self._rng.randrange(2**32)
        if request.operation is not Operation.GENERATE:
            return await self._change(request, seed)
        data = await asyncio.to_thread(render, request.prompt, request.width, request.height, seed)
        return ProviderResult(Outcome.OK, [ProviderImage(data=data, revised_prompt=request.prompt)])

    async def _change(self, request: GenerationRequest, seed: int) -> ProviderResult:
        """An edit or a variation of ``request.image``."""
        if request.image is None:
            return failure(Outcome.INVALID_REQUEST, f"local: an image {request.operation.value} needs an image")
        try:
            if request.operation is Operation.VARIATION:
                data = await asyncio.to_thread(vary, request.image, request.width, request.height, seed)
            else:
                data = await asyncio.to_thread(
                    edit, request.image, request.mask, request.prompt, request.width, request.height
                )
        except EditRefused as exc:
            return failure(Outcome.INVALID_REQUEST, f"local: {exc}")
        except (OSError, ValueError) as exc:
            # Bytes Pillow cannot read: the gateway checks uploads, a direct caller may not have.
            return failure(Outcome.INVALID_REQUEST, f"local: the image could not be read: {exc}")
        return ProviderResult(Outcome.OK, [ProviderImage(data=data)])
