"""An animated image is refused at intake, naming its frames: a verdict on its first frame would speak for a
picture the viewer sees only for a moment (a photo that turns black, a black frame before the photo)."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sentinel.errors import BadImage
from sentinel.store.images import inspect_image
from tests.conftest import SENTINEL, clean_env

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 50_000_000, "field": "image"}


def _frames(count: int) -> list[Image.Image]:
    photo = Image.effect_mandelbrot((96, 96), (-2.0, -1.5, 1.0, 1.5), 60).convert("RGB")
    black = Image.new("RGB", (96, 96), (0, 0, 0))
    return [photo if index % 2 == 0 else black for index in range(count)]


def _saved(fmt: str, count: int) -> bytes:
    first, *rest = _frames(count)
    out = io.BytesIO()
    options: dict[str, Any] = {"save_all": True, "append_images": rest, "duration": 500, "loop": 0} if rest else {}
    first.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "count"), [("GIF", 2), ("GIF", 5), ("WEBP", 2), ("PNG", 3)])
def test_an_animated_image_is_refused_naming_its_frames(fmt: str, count: int) -> None:
    with pytest.raises(BadImage) as refused:
        inspect_image(_saved(fmt, count), **LIMITS)
    assert refused.value.status_code == 422
    assert refused.value.field == "image"
    assert refused.value.message == (
        f"animated images ({count} frames) are not judged: send one frame as PNG, JPEG, WebP or GIF"
    )


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG", "JPEG"])
def test_a_single_frame_image_is_taken(fmt: str) -> None:
    info = inspect_image(_saved(fmt, 1), **LIMITS)
    assert (info.width, info.height) == (96, 96)


def test_an_animated_upload_is_a_422_bad_image(client: Any) -> None:
    answer = client.post(
        "/v1/evaluations", data={"task": "text-to-image"}, files={"image": ("a.gif", _saved("GIF", 2), "image/gif")}
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["type"] == "bad_image"
    assert error["message"].startswith("animated images (2 frames) are not judged")


def test_sentinel_eval_reports_an_animated_file_by_name_and_judges_the_rest(tmp_path: Path) -> None:
    (tmp_path / "anim.gif").write_bytes(_saved("GIF", 2))
    (tmp_path / "still.png").write_bytes(_saved("PNG", 1))
    done = subprocess.run(
        [SENTINEL, "eval", "anim.gif", "still.png", "--task", "text-to-image", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")),
        timeout=300,
    )
    lines = {row["image"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert lines["anim.gif"]["verdict"] is None
    assert lines["anim.gif"]["error"].startswith("animated images (2 frames) are not judged")
    assert lines["still.png"]["verdict"] is not None
