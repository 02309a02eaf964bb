"""The text judge runs its OCR models only where a criterion needs them: a picture with no place that could hold
two characters is not read at all, an edit's source only when its result holds text, and a large picture is read
at a bounded size. Whatever is skipped, the text a customer would object to is still found."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from sentinel.bench.judges import time_task
from sentinel.evaluation.judges import text
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.local import evaluate_files
from sentinel.wiring import get_services

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
SANS = DEJAVU / "DejaVuSans.ttf"
SANS_BOLD = DEJAVU / "DejaVuSans-Bold.ttf"
SERIF = DEJAVU / "DejaVuSerif.ttf"


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def source(image: bytes, loads: list[str] | None = None, name: str = "image") -> ImageSource:
    def load() -> bytes:
        if loads is not None:
            loads.append(name)
        return image

    return ImageSource(f"test-{name}-{hash(image)}", "image/png", load, 10**8)


def context(image: bytes, **params: Any) -> JudgeContext:
    return JudgeContext(image=source(image), params=params)


def model_calls() -> dict[str, int]:
    return dict(text.model_calls)


def calls_since(before: dict[str, int]) -> dict[str, int]:
    return {what: text.model_calls[what] - before.get(what, 0) for what in ("detect", "recognise")}


def flat_render(side: int = 1024, seed: int = 1) -> Image.Image:
    """Flat shapes on a flat ground, as `bench load` draws its pictures: nothing like a letter anywhere."""
    picture = Image.new("RGB", (side, side), (230, 230, 230))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((side // 5, side // 5, side * 4 // 5, side * 4 // 5), fill=(40 + seed, 90, 160))
    draw.rectangle((side // 3, side // 8, side // 2, side // 4), fill=(200, 60, 40))
    return picture


def gradient_sky(side: int = 1024) -> Image.Image:
    rows = np.linspace(90, 230, side, dtype=np.float32)[:, None, None]
    colour = np.array([0.55, 0.75, 1.0], dtype=np.float32)
    return Image.fromarray(np.broadcast_to(rows * colour, (side, side, 3)).astype(np.uint8))


def written(
    picture: Image.Image,
    words: str,
    size: int,
    centre: tuple[int, int],
    fill: tuple[int, ...],
    face: Path = SANS_BOLD,
) -> Image.Image:
    layer = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    colour = fill if len(fill) == 4 else (*fill, 255)
    ImageDraw.Draw(layer).text(centre, words, font=ImageFont.truetype(str(face), size), fill=colour, anchor="mm")
    marked = picture.convert("RGBA")
    marked.alpha_composite(layer)
    return marked.convert("RGB")


@pytest.mark.parametrize(
    "picture",
    [
        pytest.param(lambda: flat_render(), id="flat-render"),
        pytest.param(lambda: flat_render(512, seed=7), id="flat-render-512"),
        pytest.param(lambda: gradient_sky(), id="smooth-sky"),
        pytest.param(lambda: Image.new("RGB", (1024, 768), (18, 18, 20)), id="black-frame"),
    ],
)
def test_a_picture_without_text_is_judged_clean_without_running_the_ocr_models(picture: Any) -> None:
    before = model_calls()
    outcome = text.no_stray_text(context(png(picture())), text.StrayTextSettings())
    assert outcome.passed, outcome.detail
    assert calls_since(before) == {"detect": 0, "recognise": 0}


@pytest.mark.parametrize(
    ("picture", "words"),
    [
        # A credit in a corner, 22 px high, on the same flat render that is not read at all without it.
        pytest.param(lambda: written(flat_render(), "© J. Smith 2024", 22, (880, 1000), (20, 20, 20)), "Smith"),
        # One huge word across the picture: at the detector's scale its strokes are far apart.
        pytest.param(lambda: written(flat_render(), "SALE", 300, (512, 560), (20, 20, 20)), "SALE", id="huge"),
        # Red on a green of the same brightness: no luminance edge at all, only colour.
        pytest.param(
            lambda: written(Image.new("RGB", (1024, 1024), (0, 140, 0)), "SAMPLE", 90, (512, 880), (255, 40, 40)),
            "SAMPLE",
            id="colour-only",
        ),
        pytest.param(
            lambda: written(gradient_sky(), "Photo by Ann Lee", 40, (512, 960), (40, 40, 40), SERIF), "Ann", id="sky"
        ),
    ],
)
def test_stray_text_on_a_plain_picture_is_still_found(picture: Any, words: str) -> None:
    before = model_calls()
    outcome = text.no_stray_text(context(png(picture())), text.StrayTextSettings())
    assert not outcome.passed
    assert words.lower() in outcome.facts["text"].lower(), outcome.detail
    assert calls_since(before)["detect"] >= 1


def test_a_faint_watermark_on_a_plain_sky_is_still_found() -> None:
    # 20% white over a smooth gradient: the plain read sees nothing, the contrast-normalised one does.
    marked = written(gradient_sky(), "SAMPLE", 150, (512, 512), (255, 255, 255, 51))
    outcome = text.no_stray_text(context(png(marked)), text.StrayTextSettings())
    assert not outcome.passed and "watermark" in outcome.detail, outcome.detail


@pytest.mark.parametrize("size", [14, 24, 48, 120, 300, 600])
@pytest.mark.parametrize("words", ["Il", "ok", "SALE", "Fresh Fish"])
def test_the_look_for_text_finds_a_place_for_any_two_characters_at_any_size(words: str, size: int) -> None:
    side = max(1024, int(size * len(words) * 0.8) + 64)
    picture = written(Image.new("RGB", (side, side), (128, 128, 128)), words, size, (side // 2, side // 2), (160,) * 3)
    assert text.might_hold_text(np.asarray(picture), text.DETECTION_SIDE, text.PAGE_EDGE_STEP)


def test_a_long_thin_banner_and_a_tiny_picture_are_read_not_skipped() -> None:
    banner = written(Image.new("RGB", (4096, 96), (250, 250, 250)), "SUMMER SALE", 60, (2048, 48), (20, 20, 20))
    assert text.might_hold_text(np.asarray(banner), text.DETECTION_SIDE, text.PAGE_EDGE_STEP)
    assert text.might_hold_text(np.zeros((24, 24, 3), np.uint8), text.DETECTION_SIDE, text.PAGE_EDGE_STEP)


def test_an_edit_without_text_in_its_result_never_reads_its_source() -> None:
    loads: list[str] = []
    picture = png(flat_render())
    ctx = JudgeContext(
        image=source(picture, loads, "image"), params={}, source=source(png(flat_render(seed=9)), loads, "source")
    )
    before = model_calls()
    outcome = text.no_new_text(ctx, text.NewTextSettings())
    assert outcome.passed, outcome.detail
    assert "source" not in loads
    assert calls_since(before) == {"detect": 0, "recognise": 0}


def test_text_an_edit_added_is_new_and_text_its_source_had_is_not() -> None:
    sign = written(flat_render(), "OPEN DAILY", 90, (512, 900), (20, 20, 20))
    added = text.no_new_text(
        JudgeContext(image=source(png(sign)), params={}, source=source(png(flat_render()), name="source")),
        text.NewTextSettings(),
    )
    kept = text.no_new_text(
        JudgeContext(image=source(png(sign)), params={}, source=source(png(sign), name="source")),
        text.NewTextSettings(),
    )
    assert not added.passed and "OPEN" in added.facts["text"], added.detail
    assert kept.passed, kept.detail


def test_a_task_without_text_criteria_runs_no_ocr() -> None:
    photo = flat_render()
    cut = Image.new("L", photo.size, 0)
    ImageDraw.Draw(cut).ellipse((200, 200, 824, 824), fill=255)
    replaced = Image.new("RGB", photo.size, "white")
    replaced.paste(photo, (0, 0), cut)
    before = model_calls()
    [(_, document)] = list(
        evaluate_files(
            get_services(),
            "background-replace",
            {"color": "#ffffff"},
            [(Path("result.png"), png(replaced))],
            {"source": png(photo), "mask": png(cut.convert("RGB"))},
        )
    )
    assert document["verdict"] in ("green", "amber", "red")
    assert calls_since(before) == {"detect": 0, "recognise": 0}


def test_a_large_picture_is_read_at_a_bounded_size_and_reads_the_same_words() -> None:
    sign = written(gradient_sky(1024), "FRESH BREAD", 110, (512, 512), (20, 20, 20))
    pages = []
    for side in (1024, 2048):
        ctx = context(png(sign.resize((side, side), Image.Resampling.LANCZOS)))
        page = text._page(ctx)
        pages.append(page)
        assert max(page.width, page.height) == text.OCR_SIDE
    assert [w.text for w in pages[0].words] == [w.text for w in pages[1].words] == ["FRESH BREAD"]


def test_the_judges_benchmark_reports_cpu_time_and_ocr_work_per_evaluation() -> None:
    services = get_services()
    flat = time_task(services, "text-to-image", {"image": png(flat_render(512))}, {}, 1, 512, 0)
    assert set(flat.judges_cpu_ms) == set(flat.judges_ms)
    assert flat.cpu_ms > 0 and all(v >= 0 for v in flat.judges_cpu_ms.values())
    assert (flat.ocr_detections, flat.ocr_lines) == (0, 0)
    sign = written(flat_render(512), "OPEN 24/7", 60, (256, 460), (20, 20, 20))
    read = time_task(services, "text-render", {"image": png(sign)}, {"text": "OPEN 24/7"}, 1, 512, 0)
    assert read.ocr_detections >= 1 and read.ocr_lines >= 1
