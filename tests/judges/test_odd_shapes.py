"""Every offline judge votes on images of odd shapes and modes (1×1, single rows and columns, thin strips, images
smaller than a check's window, one colour, fully transparent, 16-bit, palette, greyscale with alpha, CMYK): no check
raises or warns, so no judge abstains over our own bug and no evaluation ends amber for want of a quorum. A check that
cannot measure so small an image says so; the size criteria fail it."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image

from sentinel.evaluation.judges import KINDS
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.panel import JudgeConfig, Panel
from sentinel.evaluation.rubric import Rubric
from sentinel.evaluation.runner import VoteResult, run_offline_judges, run_panel
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import DATA_ROOT
from sentinel.store.images import inspect_image

MAX_PIXELS = 40_000_000
PARAMS = {"text": "OPEN", "prompt": "a cup", "width": 1024, "height": 1024, "color": "#ffffff"}


def encoded(picture: Image.Image, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, kind)
    return buffer.getvalue()


def noise(width: int, height: int, seed: int = 7) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def sixteen_bit_png(channels: int, value: int) -> bytes:
    """A 16-bit PNG (RGB or RGBA; Pillow writes no 16-bit colour PNG)."""
    ok, data = cv2.imencode(".png", np.full((3, 3, channels), value, dtype=np.uint16))
    assert ok
    return data.tobytes()


def _images() -> dict[str, Callable[[], bytes]]:
    shapes = [(1, 1), (1, 2), (2, 1), (1, 64), (64, 1), (1, 4096), (4096, 1), (2, 2), (3, 3), (7, 7), (17, 17)]
    shapes += [(4096, 3), (3, 4096), (20000, 2)]
    images: dict[str, Callable[[], bytes]] = {
        f"noise-{w}x{h}": (lambda w=w, h=h: encoded(noise(w, h))) for w, h in shapes
    }
    images |= {
        "one-colour-1x1": lambda: encoded(Image.new("RGB", (1, 1), (200, 30, 30))),
        "one-colour-4096x3": lambda: encoded(Image.new("RGB", (4096, 3), (200, 30, 30))),
        "white-2x2": lambda: encoded(Image.new("RGB", (2, 2), (255, 255, 255))),
        "white-64x64": lambda: encoded(Image.new("RGB", (64, 64), (255, 255, 255))),
        "transparent-1x1": lambda: encoded(Image.new("RGBA", (1, 1), (0, 0, 0, 0))),
        "transparent-64x64": lambda: encoded(Image.new("RGBA", (64, 64), (0, 0, 0, 0))),
        "grey-16bit-1x1": lambda: encoded(Image.fromarray(np.full((1, 1), 40000, dtype=np.uint16))),
        "grey-16bit-5x5": lambda: encoded(Image.fromarray(np.arange(25, dtype=np.uint16).reshape(5, 5) * 2000)),
        "rgb-16bit-3x3": lambda: sixteen_bit_png(3, 30000),
        "rgba-16bit-transparent-3x3": lambda: sixteen_bit_png(4, 0),
        "palette-3x3": lambda: encoded(noise(3, 3).convert("P")),
        "gif-palette-1x1": lambda: encoded(Image.new("P", (1, 1), 0), "GIF"),
        "grey-alpha-transparent-2x2": lambda: encoded(Image.new("LA", (2, 2), (10, 0))),
        "grey-1x1": lambda: encoded(Image.new("L", (1, 1), 0)),
        "bilevel-5x5": lambda: encoded(Image.new("1", (5, 5), 1)),
        "cmyk-jpeg-9x9": lambda: encoded(Image.new("CMYK", (9, 9), (10, 20, 30, 40)), "JPEG"),
        "jpeg-1x1": lambda: encoded(Image.new("RGB", (1, 1), (90, 90, 90)), "JPEG"),
        "webp-1x1": lambda: encoded(Image.new("RGB", (1, 1), (90, 90, 90)), "WEBP"),
    }
    return images


IMAGES = _images()


def source_of(data: bytes) -> ImageSource:
    info = inspect_image(data, max_bytes=50 << 20, max_pixels=MAX_PIXELS)
    return ImageSource(info.sha256, info.mime, lambda: data, MAX_PIXELS).shared()


def mask_for(data: bytes) -> bytes:
    """A mask of the image's size marking its centre (at least one pixel)."""
    width, height = Image.open(io.BytesIO(data)).size
    mask = Image.new("L", (width, height), 0)
    mask.paste(
        255, (width // 4, height // 4, max(width // 4 + 1, 3 * width // 4), max(height // 4 + 1, 3 * height // 4))
    )
    return encoded(mask)


def every_check_rubric() -> Rubric:
    """A task with every check of every offline judge kind, at its default settings."""
    criteria = [
        {"id": f"{kind}-{check}".replace("_", "-"), "must": f"{check} holds", "judge": kind, "check": check}
        for kind, judges in KINDS.items()
        for check in judges.checks
    ]
    return Rubric.model_validate(
        {"id": "every-check", "title": "every check", "inputs": ["image", "source", "mask"], "criteria": criteria}
    )


def offline_judges() -> list[JudgeConfig]:
    return [j for j in Panel.from_dir(DATA_ROOT / "judges").judges if j.kind in KINDS]


def votes_on(rubric: Rubric, image: bytes, source: bytes, mask: bytes) -> tuple[list[VoteResult], list[str]]:
    """The offline judges' votes as a worker's panel message makes them, and the RuntimeWarnings (numpy's empty or
    invalid reductions) raised meanwhile on any thread."""
    judges = [j for j in offline_judges() if j.kind in rubric.judge_kinds()]
    shared = {"image": source_of(image), "source": source_of(source), "mask": source_of(mask)}
    contexts = {j.name: JudgeContext(params=PARAMS, **shared) for j in judges}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        votes = run_offline_judges(judges, rubric, contexts)
    raised = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught]
    return votes, [w for w in raised if w.startswith("RuntimeWarning")]


def assert_every_check_voted(rubric: Rubric, votes: list[VoteResult], warned: list[str]) -> None:
    for vote in votes:
        assert vote.passed is not None, f"{vote.judge} {vote.reasoning}"
        owned = [c.id for c in rubric.criteria if c.judge == vote.judge]
        assert [c["id"] for c in vote.criteria] == owned, vote.judge
        for criterion in vote.criteria:
            assert criterion["detail"], criterion
    assert warned == []


@pytest.mark.parametrize("name", list(IMAGES))
def test_every_offline_check_votes_on_an_odd_image(name: str) -> None:
    image = IMAGES[name]()
    rubric = every_check_rubric()
    # The image judged as an edit of itself (mask of its size), and an ordinary source's edit come back odd.
    ordinary = encoded(noise(64, 48))
    for source in (image, ordinary):
        votes, warned = votes_on(rubric, image, source, mask_for(source))
        assert_every_check_voted(rubric, votes, warned)
    # An odd source and mask, with an ordinary result.
    votes, warned = votes_on(rubric, ordinary, image, mask_for(image))
    assert_every_check_voted(rubric, votes, warned)


@pytest.mark.parametrize("name", ["noise-1x1", "noise-1x4096", "noise-4096x3", "noise-2x2", "transparent-1x1"])
def test_every_bundled_task_votes_on_an_odd_image(name: str) -> None:
    image = IMAGES[name]()
    registry = RubricRegistry.from_dirs(DATA_ROOT / "rubrics")
    for task in ("background-replace", "object-removal", "product-white-background", "text-render", "text-to-image"):
        votes, warned = votes_on(registry.get(task), image, image, mask_for(image))
        assert_every_check_voted(registry.get(task), votes, warned)


def test_a_one_pixel_image_is_red_for_its_size_not_amber_for_want_of_a_quorum() -> None:
    """The probe's case: a 1×1 product shot. Every offline judge votes; the size criteria fail it and say why."""
    image = source_of(IMAGES["noise-1x1"]())
    rubric = RubricRegistry.from_dirs(DATA_ROOT / "rubrics").get("product-white-background")
    panel = Panel.from_dir(DATA_ROOT / "judges")
    verdict, votes = run_panel(panel, rubric, lambda judge: JudgeContext(image=image, params=PARAMS), 1.0)
    assert all(v.passed is not None for v in votes), [v.reasoning for v in votes]
    assert verdict.verdict == "red", verdict.summary
    criteria = {c["id"]: c for v in votes for c in v.criteria}
    assert not criteria["min-size"]["passed"]
    assert criteria["min-size"]["detail"] == "longest side is 1 px, is below the 1000 px minimum"
    assert not criteria["size"]["passed"]
    assert "only 0.1% of the requested size" in criteria["size"]["detail"]


def test_a_check_that_cannot_measure_so_small_an_image_says_so() -> None:
    rubric = every_check_rubric()
    image = IMAGES["noise-1x1"]()
    votes, _ = votes_on(rubric, image, image, mask_for(image))
    criteria = {c["id"]: c for v in votes for c in v.criteria}
    unmeasurable = [
        "pixels-sharp",
        "pixels-noise",
        "pixels-jpeg-blocking",
        "pixels-banding",
        "pixels-borders",
        "pixels-truncated",
        "pixels-tiling",
        "layout-subject-cut-off",
        "layout-busy-background",
    ]
    for criterion_id in unmeasurable:
        criterion = criteria[criterion_id]
        assert criterion["measured"] is None, criterion
        assert criterion["detail"].startswith("image is 1×1 px: too small to "), criterion
    assert criteria["pixels-noise"]["detail"] == (
        "image is 1×1 px: too small to measure noise; noise is read on 32×32 px tiles"
    )


def test_a_mask_thinner_than_an_analysis_pixel_is_said_to_be_unmeasurable() -> None:
    """A 20000×2 edit is compared at 512×1: a mask on one of its two rows covers no whole pixel there."""
    image = IMAGES["noise-20000x2"]()
    rubric = every_check_rubric()
    votes, _ = votes_on(rubric, image, image, mask_for(image))
    criteria = {c["id"]: c for v in votes for c in v.criteria}
    for criterion_id in ("edit-changed-in-mask", "edit-subject-preserved", "edit-fill-matches-surroundings"):
        assert criteria[criterion_id]["detail"].startswith("the mask is too thin to measure inside"), criterion_id
