"""The pixels judge's verdicts on held-out pictures a customer pays to regenerate: a clean PNG product is not called
heavily compressed, a JPEG file's own quality is read from its tables, heavy compression is not taken for a contact
sheet, washed-out and banded pictures are caught, broken parts of a frame are caught, impossible noise levels are
not reported, and a prompt that asks for a style (grain, a mat, letterbox bars, pixel art, black and white) does not
fail the criterion that style would otherwise break."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sentinel.evaluation.guidance import render_fix
from sentinel.evaluation.judges import pixels
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome, failure_severity
from sentinel.evaluation.rubric import Criterion
from sentinel.rubrics.loader import load_rubric
from sentinel.store.images import decoded_pixels

RUBRICS = Path(__file__).resolve().parents[2] / "rubrics"


def encode(picture: Image.Image | np.ndarray, kind: str = "PNG", quality: int = 95) -> bytes:
    image = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    buffer = io.BytesIO()
    if kind == "PNG":
        image.save(buffer, "PNG", compress_level=1)
    else:
        image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def judge(name: str, payload: bytes, **params: object) -> tuple[Outcome, str | None]:
    """One pixels check on ``payload`` with its default settings: its outcome and, when it failed, its severity."""
    mime = "image/jpeg" if payload.startswith(b"\xff\xd8") else "image/png"
    decoded_pixels.clear()
    source = ImageSource(hashlib.sha256(payload).hexdigest(), mime, lambda: payload, 100_000_000)
    check = pixels.kind.checks[name]
    outcome = check.run(JudgeContext(image=source, params=dict(params)), check.settings_model())
    criterion = Criterion(id="c", must="The image is fine.", judge="pixels", check=name)
    return outcome, None if outcome.passed else failure_severity(criterion, outcome, check)


def shaded_box(box: tuple[int, int, int, int], colour: tuple[int, int, int] = (160, 120, 70)) -> np.ndarray:
    """A 1024² product shot: a box lit from one side, with a photo's slight grain, on pure white."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:1024, 0:1024]
    x0, y0, x1, y1 = box
    inside = (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2 + 1
    shade = 1 - 0.35 * (((xx - cx) / r) * 0.3 + ((yy - cy) / r) * 0.2 + 0.5) ** 2
    lit = np.array(colour, float) * np.clip(shade, 0.4, 1.1)[..., None] + rng.normal(0, 2, (1024, 1024, 3))
    picture = np.full((1024, 1024, 3), 255.0)
    picture[inside] = lit[inside]
    return np.clip(picture, 0, 255).astype(np.uint8)


def landscape(seed: int = 0) -> np.ndarray:
    """A 1024² landscape: a sky gradient over wavy green hills with texture, a few dark bushes and a pale sun."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:1024, 0:1024]
    t = yy / 1024
    scene = np.array([60, 110, 200]) * (1 - t)[..., None] + np.array([250, 190, 140]) * t[..., None]
    horizon = 614
    ground = yy > horizon + 30 * np.sin(xx / 80.0)
    texture = (25 * np.sin(xx[ground] / 5.0) * np.cos(yy[ground] / 7.0))[..., None]
    scene[ground] = np.array([50, 90, 40]) + texture + rng.normal(0, 10, (int(ground.sum()), 3))
    image = Image.fromarray(np.clip(scene + rng.normal(0, 1.5, scene.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y, size = int(rng.integers(0, 1024)), horizon + int(rng.integers(-40, 60)), int(rng.integers(30, 90))
        draw.ellipse((x - size, y - 2 * size, x + size, y), fill=tuple(int(v) for v in rng.integers(20, 90, 3)))
    draw.ellipse((716, 102, 819, 205), fill=(255, 240, 200))
    return np.asarray(image)


# F5 ---------------------------------------------------------------------------------------------------------------


def test_a_clean_png_product_whose_straight_outline_falls_on_the_8px_grid_is_not_heavily_compressed() -> None:
    for box in ((100, 100, 920, 920), (40, 40, 980, 980), (92, 92, 932, 932), (20, 20, 1000, 1000)):
        outcome, _ = judge("jpeg_blocking", encode(shaded_box(box)))
        assert outcome.passed, (box, outcome.detail)
    outcome, _ = judge("jpeg_blocking", encode(shaded_box((60, 60, 964, 964), colour=(40, 90, 160))))
    assert outcome.passed, outcome.detail


def test_a_jpeg_file_reports_the_quality_its_own_tables_were_saved_at() -> None:
    product = shaded_box((100, 100, 920, 920))
    outcome, _ = judge("jpeg_blocking", encode(product, "JPEG", quality=92))
    assert outcome.passed and "quality 92" in outcome.detail, outcome.detail
    outcome, _ = judge("jpeg_blocking", encode(product, "JPEG", quality=30))
    assert outcome.passed and outcome.measured == 30, outcome.detail


# F6 / F10 ---------------------------------------------------------------------------------------------------------


def test_heavy_jpeg_compression_of_a_smooth_product_fails_graded_on_the_files_quality() -> None:
    product = shaded_box((100, 100, 920, 920))
    outcome, severity = judge("jpeg_blocking", encode(product, "JPEG", quality=5))
    assert not outcome.passed and "quality 5" in outcome.detail and severity == "severe", outcome.detail
    outcome, severity = judge("jpeg_blocking", encode(product, "JPEG", quality=10))
    assert not outcome.passed and severity == "moderate", outcome.detail
    outcome, severity = judge("jpeg_blocking", encode(product, "JPEG", quality=15))
    assert not outcome.passed and severity == "mild", outcome.detail


def test_a_heavily_compressed_landscape_is_compression_not_a_contact_sheet() -> None:
    payload = encode(landscape(), "JPEG", quality=5)
    compression, severity = judge("jpeg_blocking", payload)
    assert not compression.passed and severity == "severe", compression.detail
    tiling, _ = judge("tiling", payload)
    assert tiling.passed, tiling.detail


# F7 ---------------------------------------------------------------------------------------------------------------


def test_a_landscape_floored_to_steps_that_are_no_power_of_two_is_posterised() -> None:
    scene = landscape()
    for step in (12, 20, 32, 40):
        outcome, _ = judge("banding", encode((scene // step * step).astype(np.uint8)))
        assert not outcome.passed and f"steps {step} levels apart" in outcome.detail, (step, outcome.detail)
    outcome, _ = judge("banding", encode(scene))
    assert outcome.passed, outcome.detail


# F8 ---------------------------------------------------------------------------------------------------------------


def test_a_washed_out_picture_fails_exposure_with_guidance_to_restore_contrast() -> None:
    scene = landscape().astype(float)
    # All of its values between 190 and 254: a person must look (amber) at least.
    outcome, severity = judge("exposure", encode(np.clip(scene * 0.25 + 190, 0, 255).astype(np.uint8)))
    assert not outcome.passed and "washed out" in outcome.detail, outcome.detail
    assert outcome.facts["too"] == "flat" and severity == "moderate"
    outcome, _ = judge("exposure", encode(np.clip(scene * 0.35 + 160, 0, 255).astype(np.uint8)))
    assert not outcome.passed and "washed out" in outcome.detail, outcome.detail
    murky, _ = judge("exposure", encode(np.clip(scene * 0.25 + 20, 0, 255).astype(np.uint8)))
    assert not murky.passed and "murky" in murky.detail, murky.detail
    rubric = load_rubric_fix("text-to-image", "exposure", {"too": "flat"})
    assert "restore full contrast: deep shadows and clean highlights" in rubric


def test_low_key_and_high_key_pictures_keep_their_exposure_pass() -> None:
    scene = landscape().astype(float)
    night = (scene * 0.35).astype(np.uint8)  # dark, but its shadows reach black
    outcome, _ = judge("exposure", encode(night))
    assert outcome.passed, outcome.detail
    rng = np.random.default_rng(3)
    columns = np.mgrid[0:1024, 0:1024][1]
    snow = 235 + rng.normal(0, 6, (1024, 1024, 3)) + 10 * np.sin(columns / 30.0)[..., None]
    outcome, _ = judge("exposure", encode(np.clip(snow, 0, 255).astype(np.uint8)))
    assert outcome.passed, outcome.detail


def load_rubric_fix(task: str, criterion_id: str, facts: dict[str, object]) -> str:
    """The regeneration guidance a rubric's criterion gives for a failure with ``facts``, as jobs render it."""
    rubric = load_rubric(RUBRICS / f"{task}.yaml")
    criterion = next(c for c in rubric.criteria if c.id == criterion_id)
    return render_fix(criterion, {"facts": facts}, {})


# F9 ---------------------------------------------------------------------------------------------------------------


def test_streaks_smeared_over_part_of_the_frame_break_the_picture() -> None:
    scene = landscape()
    below = scene.copy()
    below[700:] = below[700:701]  # every column smeared down from row 700
    beside = scene.copy()
    beside[:, 700:] = beside[:, 700:701]  # every row smeared right from column 700
    patch = scene.copy()
    patch[500:900, 300:800] = patch[500:900, 300:301]  # a 500×400 smear
    for smeared, lines in ((below, "columns"), (beside, "rows"), (patch, "rows")):
        outcome, severity = judge("broken_regions", encode(smeared))
        assert not outcome.passed and f"of its {lines} are smeared" in outcome.detail, outcome.detail
        assert severity == "severe"


def test_one_large_flat_block_in_a_scene_is_for_a_person_to_check() -> None:
    scene = landscape()
    for colour in ((128, 128, 128), (255, 0, 255)):
        broken = scene.copy()
        broken[300:600, 200:700] = colour
        outcome, severity = judge("broken_regions", encode(broken))
        assert not outcome.passed and "one flat rectangle" in outcome.detail, outcome.detail
        assert severity == "moderate"


def test_flat_objects_and_straight_edges_of_flat_areas_are_not_broken() -> None:
    rng = np.random.default_rng(5)
    backdrop = np.full((1024, 1024, 3), (250, 215, 220)) + rng.normal(0, 1.5, (1024, 1024, 3))
    flat_lay = Image.fromarray(np.clip(backdrop, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(flat_lay)
    draw.rectangle((600, 200, 850, 700), fill=(60, 60, 70))
    draw.rectangle((200, 650, 500, 800), fill=(230, 180, 60))
    outcome, _ = judge("broken_regions", encode(flat_lay))
    assert outcome.passed, outcome.detail
    outcome, _ = judge("broken_regions", encode(landscape()))
    assert outcome.passed, outcome.detail


# F11 --------------------------------------------------------------------------------------------------------------


def test_a_dithered_one_bit_picture_is_named_so_with_a_noise_level_a_0_255_scale_can_hold() -> None:
    dithered = Image.fromarray(landscape()).convert("1")
    buffer = io.BytesIO()
    dithered.save(buffer, "PNG")
    outcome, _ = judge("noise", buffer.getvalue())
    assert not outcome.passed and "dithered" in outcome.detail and "1-bit" in outcome.detail, outcome.detail
    assert outcome.measured is not None and float(outcome.measured) <= 128
    assert "dots of pure black and white" in load_rubric_fix("text-to-image", "no-noise", outcome.facts)


# F20 --------------------------------------------------------------------------------------------------------------


def with_grain(picture: np.ndarray, sigma: float = 20.0) -> np.ndarray:
    rng = np.random.default_rng(9)
    return np.clip(picture + rng.normal(0, sigma, picture.shape), 0, 255).astype(np.uint8)


def test_a_prompt_that_asks_for_a_look_passes_the_criterion_that_look_would_fail_naming_its_words() -> None:
    scene = landscape()
    letterboxed = np.zeros_like(scene)
    letterboxed[312:712] = np.asarray(Image.fromarray(scene).resize((1024, 400)))  # bars: 61% of it, black
    matted = np.full_like(scene, 255)
    matted[120:904, 120:904] = np.asarray(Image.fromarray(scene).resize((784, 784)))
    pixel_art = np.asarray(Image.fromarray(scene).resize((64, 64)).resize((1024, 1024), Image.Resampling.NEAREST))
    asked = [
        ("noise", with_grain(scene), "a grainy 35mm film photo of a meadow, heavy film grain", "grainy"),
        ("borders", matted, "a landscape print with a wide white mat border, gallery framing", "white mat"),
        ("borders", letterboxed, "a cinematic 2.39:1 widescreen still with black letterbox bars", "2.39:1"),
        ("exposure", letterboxed, "a cinematic 2.39:1 widescreen still with black letterbox bars", None),
        ("pixelated", pixel_art, "8-bit pixel art of a meadow at sunset", "8-bit"),
        ("exposure", np.clip(scene * 0.25 + 190, 0, 255).astype(np.uint8), "a meadow in thick morning fog", "fog"),
    ]
    for check, picture, prompt, words in asked:
        unasked, _ = judge(check, encode(picture))
        assert not unasked.passed, (check, prompt, unasked.detail)
        outcome, _ = judge(check, encode(picture), prompt=prompt)
        assert outcome.passed, (check, prompt, outcome.detail)
        if words:
            assert f"as the prompt asks ('{words}" in outcome.detail, outcome.detail


def test_a_prompt_that_refuses_or_only_mentions_a_look_does_not_waive_it() -> None:
    grainy = encode(with_grain(landscape()))
    for prompt in ("a meadow, no film grain", "a wooden table showing its wood grain", '"GRAINY" on a sign'):
        outcome, _ = judge("noise", grainy, prompt=prompt)
        assert not outcome.passed, (prompt, outcome.detail)
    scene = landscape()
    letterboxed = np.zeros_like(scene)
    letterboxed[224:800] = np.asarray(Image.fromarray(scene).resize((1024, 576)))
    outcome, _ = judge("borders", encode(letterboxed), prompt="a border collie in a meadow")
    assert not outcome.passed, outcome.detail


def test_a_hazy_prompt_waives_low_contrast_but_not_burnt_out_highlights() -> None:
    scene = landscape().astype(float)
    burnt = encode(np.clip(scene * 2.2, 0, 255).astype(np.uint8))
    unasked, _ = judge("exposure", burnt)
    assert not unasked.passed, unasked.detail
    outcome, _ = judge("exposure", burnt, prompt="a pagoda on a hill above a lake, hazy sky")
    assert not outcome.passed, outcome.detail
    milky = encode(np.clip(scene * 0.25 + 190, 0, 255).astype(np.uint8))
    outcome, _ = judge("exposure", milky, prompt="a pagoda on a hill above a lake, hazy sky")
    assert outcome.passed and "('hazy')" in outcome.detail, outcome.detail
    outcome, _ = judge("exposure", milky, prompt="a high-contrast black and white woodcut")
    assert not outcome.passed, outcome.detail


def test_red_letters_on_a_green_sign_of_one_luminance_are_not_murky() -> None:
    # The colours differ, the luminance hardly: the picture's contrast is in its colour.
    sign = Image.new("RGB", (1024, 512), (30, 110, 30))
    ImageDraw.Draw(sign).rectangle((200, 150, 824, 362), fill=(220, 10, 10))
    pixels_ = np.asarray(sign).astype(float) + np.random.default_rng(1).normal(0, 1, (512, 1024, 3))
    payload = encode(np.clip(pixels_, 0, 255).astype(np.uint8))
    outcome, _ = judge("exposure", payload)
    assert outcome.passed, outcome.detail
