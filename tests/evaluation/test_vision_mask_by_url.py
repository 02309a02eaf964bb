"""A vision judge that sends Sentinel image URLs (``image_url_base``) points its model at the mask as the inline mode
sends it: a plain grey picture, white where the mask marks, under the label of the task's convention. The uploaded
mask's own URL showed the model the mask as uploaded (an RGBA mask is white all over where it is opaque)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from PIL import Image

from sentinel.evaluation.vision.judge import KEEP_MASK_LABEL
from sentinel_fakes import chat
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.conftest import clean_env, png_bytes, start_server
from tests.judges.test_vision_judges import KEY, vision_judge_file

#: Where the judge tells the model Sentinel is; the test reads the same paths from the server it started.
URL_BASE = "https://sentinel.example.com"
SIDE = 64


def edit_rubric(folder: Path, marks: str) -> None:
    rubric = {
        "id": f"edit-vision-{marks}",
        "title": "An edit, checked by eye",
        "inputs": ["image", "source", "mask"],
        "mask_marks": marks,
        "criteria": [{"id": "ok", "must": "The edit is right.", "judge": "vision", "ask": "Is the edit right?"}],
    }
    (folder / f"edit-vision-{marks}.yaml").write_text(yaml.safe_dump(rubric))


def rgba_mask() -> bytes:
    """Opaque white with a transparent hole: the hole is the region it marks."""
    mask = Image.new("RGBA", (SIDE, SIDE), (255, 255, 255, 255))
    mask.paste((0, 0, 0, 0), (16, 16, 48, 48))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, VisionScript]]:
    tmp = tmp_path_factory.mktemp("vision-mask-url")
    script = VisionScript(api_key=KEY)
    with serve(chat.create_app(script)) as model:
        judges, rubrics = tmp / "judges", tmp / "rubrics"
        judges.mkdir()
        rubrics.mkdir()
        vision_judge_file(judges, "eye", model.url, options={"image_url_base": URL_BASE})
        for marks in ("change", "keep"):
            edit_rubric(rubrics, marks)
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_JUDGES_DIR=str(judges),
            SENTINEL_RUBRICS_DIR=str(rubrics),
            SENTINEL_TEST_VISION_KEY=KEY,
        )
        server, base = start_server(env, tmp / "api.log")
        try:
            yield base, script
        finally:
            server.stop()


@pytest.mark.parametrize("marks", ["change", "keep"])
def test_the_model_is_pointed_at_the_plain_mask_under_the_tasks_label(served, marks: str) -> None:
    base, script = served
    asked_before = len(script.requests)
    created = httpx.post(
        f"{base}/v1/evaluations",
        data={"task": f"edit-vision-{marks}"},
        files={
            "image": ("result.png", png_bytes(SIDE, SIDE, (30, 200, 30))),
            "source": ("source.png", png_bytes(SIDE, SIDE)),
            "mask": ("mask.png", rgba_mask()),
        },
        timeout=30,
    )
    assert created.status_code == 202, created.text
    done = httpx.get(f"{base}/v1/evaluations/{created.json()['id']}?wait=30", timeout=40).json()
    assert done["status"] == "done" and done["verdict"] == "green", done

    [request] = script.requests[asked_before:]
    content = request["body"]["messages"][1]["content"]
    label = [part["text"] for part in content if part["type"] == "text"][2]
    if marks == "keep":
        assert KEEP_MASK_LABEL in label
    else:
        assert "white marks the region the edit was allowed to change" in label
    pointed_at = [part for part in content if part["type"] == "image_url"][2]["image_url"]["url"]
    assert pointed_at.startswith(f"{URL_BASE}/v1/images/")
    # What the model fetches at that address, without a key (it has none): the signed URL serves it.
    address = urlsplit(pointed_at)
    fetched = httpx.get(f"{base}{address.path}?{address.query}", timeout=10)
    assert fetched.status_code == 200, fetched.text
    shown = Image.open(io.BytesIO(fetched.content))
    assert shown.mode == "L" and shown.size == (SIDE, SIDE)
    # White where the mask marks (its hole), black elsewhere; the upload was white where this is black.
    assert shown.getpixel((32, 32)) == 255 and shown.getpixel((2, 2)) == 0
