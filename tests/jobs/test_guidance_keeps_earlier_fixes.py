"""A regeneration keeps the fixes of every earlier failure of its slot: a fix that worked, dropped from the next
prompt, lets the model's default come back, and the same failure is paid for again."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import serving_with_fake

WHITE_FIX = "Use a seamless pure white (#FFFFFF) background"


def product(background: tuple[int, int, int], share: float) -> bytes:
    """A 1024² product shot: a dark bottle-like block spanning ``share`` of the frame on ``background``."""
    picture = Image.new("RGB", (1024, 1024), background)
    side = int(1024 * share)
    left = (1024 - side) // 2
    ImageDraw.Draw(picture).rounded_rectangle((left, left, left + side, left + side), 40, fill=(40, 70, 120))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def test_third_attempt_keeps_the_white_background_fix_the_second_one_needed(tmp_path: Path) -> None:
    script = Script()
    # The first picture's background is grey; the second, told to use white, is white but its product too small.
    script.images.extend([product((150, 150, 150), 0.9), product((255, 255, 255), 0.4), product((255, 255, 255), 0.4)])
    with serve(create_app(script)) as fake, serving_with_fake(fake.url, tmp_path) as base:
        created = httpx.post(
            f"{base}/v1/jobs",
            json={"task": "product-white-background", "prompt": "a blue bottle", "max_attempts": 3},
            timeout=30,
        )
        assert created.status_code == 202, created.text
        job = httpx.get(f"{base}/v1/jobs/{created.json()['id']}", params={"wait": 60}, timeout=90).json()
    attempts = {a["number"]: a for a in job["attempts"]}
    assert len(attempts) == 3, job
    assert "background border" in attempts[1]["summary"]
    assert WHITE_FIX in attempts[2]["prompt"]
    assert "background border" not in attempts[2]["summary"] and "fills" in attempts[2]["summary"]
    # The third is still told to keep the background white, after the fix for what failed last.
    assert WHITE_FIX in attempts[3]["prompt"]
    assert attempts[3]["guidance"].index(WHITE_FIX) > 0
