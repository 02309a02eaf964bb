"""The ``local`` provider: an offline procedural renderer for development, demos and tests.

It is NOT a generative model. It reads a few things from the prompt — colour words, a shape word,
any text in quotes, "white background" — and draws them with Pillow: a subject shape on a
background, deterministic for a seed. It can also be told to fail the way real providers fail
(429, 503, slow, content filter, blank image), so fallback can be demonstrated without a network.
"""

from __future__ import annotations

import asyncio
import functools
import io
import math
import random
import re
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from sentinel.providers.base import GenerationRequest, Outcome, ProviderImage, ProviderResult, failure

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
    quoted = DOUBLE_QUOTED.search(prompt) or SINGLE_QUOTED.search(prompt)
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


class LocalProvider:
    """Renders offline; route parameters ``inject`` (one of INJECTABLE), ``inject_rate`` and ``slow_seconds``."""

    def __init__(self, name: str = "local", rng: random.Random | None = None) -> None:
        self.name = name
        self._rng = rng or random.Random()

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
        data = await asyncio.to_thread(render, request.prompt, request.width, request.height, seed)
        return ProviderResult(Outcome.OK, [ProviderImage(data=data, revised_prompt=request.prompt)])
