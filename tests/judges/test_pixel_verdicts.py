"""Pixel verdicts of the outside probe (H7): a blurred or pixelated product shot is not green on the shipped product
rubric; grain spanning two pixels is grain; a picture dim all over is underexposed, not blurred; a smooth gradient
has nothing to be blurred; shaded products side by side are not banding; a clear sky at the top is no paid
regeneration; haze the prompt asks for passes ``sharp``. Each also keeps the defect it must still catch."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
from PIL import Image, ImageDraw

from sentinel.evaluation.judges import pixels
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome, failure_severity
from sentinel.rubrics.loader import load_rubric
from sentinel.store.images import decoded_pixels
from tests.judges.test_pixel_held_out_verdicts import RUBRICS, encode, landscape, load_rubric_fix

SQUARE = {"width": 1024, "height": 1024}


def pixel_failures(task: str, payload: bytes, **params: object) -> dict[str, tuple[str, Outcome]]:
    """The shipped rubric's pixels criteria that fail on ``payload``: criterion id -> (severity, outcome)."""
    decoded_pixels.clear()
    source = ImageSource(hashlib.sha256(payload).hexdigest(), "image/png", lambda: payload, 100_000_000)
    context = JudgeContext(image=source, params=dict(params))
    failed = {}
    for criterion in load_rubric(RUBRICS / f"{task}.yaml").criteria:
        if criterion.judge != "pixels" or criterion.check is None:
            continue
        check = pixels.kind.checks[criterion.check]
        outcome = check.run(context, check.settings_model.model_validate(criterion.settings))
        if not outcome.passed:
            failed[criterion.id] = (failure_severity(criterion, outcome, check), outcome)
    return failed


def bottle(size: int = 1024, down_shading: bool = True, centre: float = 0.5) -> np.ndarray:
    """A rendered bottle on pure white: rounded across, a little darker towards its foot, no grain."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    half = np.where(yy < 0.25, 0.08, 0.17)
    inside = (np.abs(xx - centre) < half) & (yy > 0.05) & (yy < 0.95)
    across = np.cos(np.clip((xx - centre) / half, -1, 1) * np.pi / 2)
    shade = 0.55 + 0.45 * across * (1 - 0.3 * yy if down_shading else 1)
    colour = np.stack([20 + 40 * shade, 90 + 90 * shade, 50 + 40 * shade], axis=-1)
    picture = np.full((size, size, 3), 255.0)
    picture[inside] = colour[inside]
    return np.clip(picture, 0, 255).astype(np.uint8)


def blown_up(picture: np.ndarray, small: int) -> bytes:
    height, width = picture.shape[:2]
    tiny = Image.fromarray(picture).resize((small, small), Image.LANCZOS)
    return encode(tiny.resize((width, height), Image.NEAREST))


# F8: blurred and pixelated product shots ----------------------------------------------------------------------------


def test_a_clean_product_render_passes_the_new_sharp_and_pixelated_criteria() -> None:
    assert pixel_failures("product-white-background", encode(bottle())) == {}


def test_a_product_shot_out_of_focus_is_not_green_on_the_product_rubric() -> None:
    for sigma, worst in ((7, "severe"), (3, "moderate")):
        soft = cv2.GaussianBlur(bottle(), (0, 0), sigma)
        failed = pixel_failures("product-white-background", encode(soft))
        assert "sharp" in failed, (sigma, failed)
        severity, outcome = failed["sharp"]
        assert severity in ("moderate", "severe") and (sigma < 7 or severity == worst), (sigma, outcome.detail)
        assert "blurred" in outcome.detail


def test_a_product_render_blown_up_into_square_pixels_is_not_green_on_the_product_rubric() -> None:
    # Shaded both ways (a real render) or only from side to side (changes down the frame only at its outline): the
    # faint shading steps between blocks sit under the silhouette's edges, yet every line inside a block is still.
    for down_shading in (True, False):
        failed = pixel_failures("product-white-background", blown_up(bottle(down_shading=down_shading), 200))
        assert "not-pixelated" in failed, (down_shading, failed)
        severity, outcome = failed["not-pixelated"]
        across, down = (int(side) for side in str(outcome.facts["effective"]).split("×"))
        assert severity in ("moderate", "severe") and abs(across - 200) <= 5 and abs(down - 200) <= 5, outcome.detail
        fix = load_rubric_fix("product-white-background", "not-pixelated", outcome.facts)
        assert f"{across}×{down} px" in fix


def test_a_product_shot_must_be_sharp_whatever_mood_the_prompt_asks_for() -> None:
    soft = encode(cv2.GaussianBlur(bottle(), (0, 0), 7))
    failed = pixel_failures("product-white-background", soft, prompt="a perfume bottle on a misty morning, dreamy")
    assert "sharp" in failed


def test_a_sign_blown_up_into_square_pixels_fails_text_render() -> None:
    failed = pixel_failures("text-render", blown_up(landscape(), 128), text="OPEN", **SQUARE)
    assert "not-pixelated" in failed, failed


# F2: grain spanning two pixels ------------------------------------------------------------------------------------


def grainy(sigma: float, blur: float, seed: int = 3) -> bytes:
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, sigma, (1024, 1024, 1)).astype(np.float32)
    if blur:
        grain = cv2.GaussianBlur(grain, (0, 0), blur)[..., None]
    return encode(np.clip(landscape().astype(np.float32) + grain, 0, 255).astype(np.uint8))


def test_grain_softened_over_two_pixels_is_not_read_as_a_clean_image() -> None:
    failed = pixel_failures("text-to-image", grainy(45, 0.6), prompt="rolling hills", **SQUARE)
    assert "no-noise" in failed, failed
    severity, outcome = failed["no-noise"]
    assert severity in ("moderate", "severe") and "grainy" in outcome.detail, outcome.detail
    assert pixel_failures("text-to-image", grainy(45, 0.6), prompt="hills, heavy film grain", **SQUARE) == {}


def test_the_clean_landscape_and_light_grain_stay_green() -> None:
    assert "no-noise" not in pixel_failures("text-to-image", encode(landscape()), **SQUARE)
    assert "no-noise" not in pixel_failures("text-to-image", grainy(3, 0.6), **SQUARE)


# F3: a picture dim all over -------------------------------------------------------------------------------------


def test_a_murky_underexposed_picture_fails_exposure_not_sharpness() -> None:
    dim = encode((landscape().astype(np.float32) * 0.25).astype(np.uint8))
    failed = pixel_failures("text-to-image", dim, prompt="rolling hills", **SQUARE)
    assert "sharp" not in failed, failed["sharp"][1].detail
    assert "exposure" in failed, failed
    severity, outcome = failed["exposure"]
    assert severity in ("moderate", "severe") and "too dark" in outcome.detail, outcome.detail
    assert "brighten" in load_rubric_fix("text-to-image", "exposure", outcome.facts)


def test_a_night_scene_with_its_lights_passes_exposure() -> None:
    night = (landscape().astype(np.float32) * 0.2).astype(np.uint8)
    picture = Image.fromarray(night)
    draw = ImageDraw.Draw(picture)
    for x in range(80, 1000, 120):
        draw.rectangle((x, 700, x + 14, 716), fill=(255, 230, 160))  # lit windows
    assert "exposure" not in pixel_failures("text-to-image", encode(picture), prompt="a village at night", **SQUARE)


# F10: a smooth gradient -----------------------------------------------------------------------------------------


def dusk(size: int = 1024) -> np.ndarray:
    rng = np.random.default_rng(5)
    t = np.linspace(0, 1, size)[:, None, None]
    sky = np.array([40, 50, 120]) * (1 - t) + np.array([250, 150, 110]) * t
    return np.clip(np.broadcast_to(sky, (size, size, 3)) + rng.normal(0, 1, (size, size, 3)), 0, 255).astype(np.uint8)


def test_a_smooth_gradient_the_prompt_asks_for_is_not_blurred() -> None:
    failed = pixel_failures("text-to-image", encode(dusk()), prompt="a minimalist sky gradient at dusk", **SQUARE)
    assert failed == {}, {k: v[1].detail for k, v in failed.items()}


def test_a_heavily_blurred_photo_still_fails_sharp() -> None:
    blurred = cv2.GaussianBlur(landscape(), (0, 0), 15)
    failed = pixel_failures("text-to-image", encode(blurred), prompt="rolling hills", **SQUARE)
    assert failed.get("sharp", ("",))[0] == "severe", failed


# F13: shaded products side by side -----------------------------------------------------------------------------


def test_shaded_products_side_by_side_and_a_white_mug_on_white_are_not_banding() -> None:
    three = np.full((1024, 1024, 3), 255, np.uint8)
    for centre in (182, 512, 842):
        three[:, centre - 182 : centre + 182] = bottle()[:, 330:694]  # white strips between overlapping crops
    mug = np.full((1024, 1024), 255.0)
    xs = np.arange(1024)
    body = np.abs(xs - 470) < 330
    mug[80:960, body] = 200 + 50 * (0.5 + 0.5 * np.cos((xs[body] - 470) / 330 * np.pi / 2))
    picture = Image.fromarray(np.repeat(mug.astype(np.uint8)[..., None], 3, axis=-1))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((760, 300, 1000, 700), outline=(215, 215, 215), width=36)
    draw.ellipse((140, 60, 800, 120), fill=(235, 235, 235), outline=(205, 205, 205), width=4)
    for shot in (three, np.asarray(picture)):
        assert "no-banding" not in pixel_failures("product-white-background", encode(shot))


def test_a_product_shaded_in_visible_steps_still_fails_banding() -> None:
    stepped = bottle().astype(np.int32)
    product = stepped.min(axis=-1) < 250
    stepped[product] = stepped[product] // 12 * 12  # its shading drawn in steps of 12 levels
    failed = pixel_failures("product-white-background", encode(stepped.astype(np.uint8)))
    assert "no-banding" in failed, failed


# F15: a clear sky at the top ------------------------------------------------------------------------------------


def snow_field(flat_at: str) -> bytes:
    rng = np.random.default_rng(9)
    scene = np.clip(landscape(seed=2).astype(np.float32) * 0.6 + 110, 0, 255)
    depth = int(0.39 * 1024)
    band = slice(0, depth) if flat_at == "top" else slice(1024 - depth, 1024)
    scene[band] = np.array([199, 215, 234]) + rng.normal(0, 2, (depth, 1024, 3))
    return encode(np.clip(scene, 0, 255).astype(np.uint8))


def test_a_flat_clear_sky_at_the_top_is_at_most_a_mild_flag() -> None:
    failed = pixel_failures("text-to-image", snow_field("top"), prompt="pine trees in a snowy field", **SQUARE)
    if "not-truncated" in failed:
        assert failed["not-truncated"][0] == "mild", failed["not-truncated"][1].detail
    assert all(severity != "severe" for severity, _ in failed.values()), failed


def test_a_flat_band_at_the_bottom_is_still_a_cut_off_generation() -> None:
    failed = pixel_failures("text-to-image", snow_field("bottom"), prompt="pine trees in a snowy field", **SQUARE)
    assert failed.get("not-truncated", ("",))[0] == "severe", failed


# F16: haze the prompt asks for -----------------------------------------------------------------------------------


def test_haze_the_prompt_asks_for_passes_sharp_naming_its_words() -> None:
    hazy = encode(cv2.GaussianBlur(landscape(), (0, 0), 1.6))
    without = pixel_failures("text-to-image", hazy, prompt="hills in the morning", **SQUARE)
    assert "sharp" in without, without  # the same softness is a defect when nobody asked for it
    asked = pixel_failures("text-to-image", hazy, prompt="hills on a foggy morning, haze", **SQUARE)
    assert "sharp" not in asked, asked
    refused = pixel_failures("text-to-image", hazy, prompt="hills in the morning, no haze", **SQUARE)
    assert "sharp" in refused
