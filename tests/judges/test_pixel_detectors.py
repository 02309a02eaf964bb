"""The pixels judge catches what customers reject in real photographs (heavy noise, JPEG blocks, banding, clipped
or crushed exposure, bars and frames, a generation cut off by a flat band, tiled or stitched copies, a frame far
smaller than asked for) with a severity a customer would agree with, and leaves night scenes, textures, minimalist
flat areas, white product shots and regular patterns alone."""

from __future__ import annotations

import hashlib
import io
import re
import textwrap
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps
from skimage import data

from sentinel.evaluation.judges import pixels
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome, failure_severity
from sentinel.evaluation.numbers import number
from sentinel.evaluation.rubric import Criterion
from sentinel.rubrics.loader import load_rubric
from sentinel.store.images import decoded_pixels
from tests.conftest import png_bytes

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def encode(pixels_: np.ndarray, kind: str = "PNG", quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    if kind == "PNG":
        Image.fromarray(pixels_).save(buffer, "PNG", compress_level=1)
    else:
        Image.fromarray(pixels_).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def jpeg(pixels_: np.ndarray, quality: int) -> np.ndarray:
    """The pixels a decoder gets back from a JPEG at ``quality`` (what re-saving it as PNG keeps)."""
    return np.asarray(Image.open(io.BytesIO(encode(pixels_, "JPEG", quality))).convert("RGB"))


def context(pixels_: np.ndarray | bytes, **params: object) -> JudgeContext:
    payload = pixels_ if isinstance(pixels_, bytes) else encode(pixels_)
    mime = "image/jpeg" if payload.startswith(b"\xff\xd8") else "image/png"
    decoded_pixels.clear()
    source = ImageSource(hashlib.sha256(payload).hexdigest(), mime, lambda: payload, 100_000_000)
    return JudgeContext(image=source, params=dict(params))


def judge(name: str, pixels_: np.ndarray | bytes, **settings: object) -> tuple[Outcome, str | None]:
    """Run one pixels check with default (or given) settings: its outcome and, when it failed, its severity."""
    check = pixels.kind.checks[name]
    params = settings.pop("params", {})
    assert isinstance(params, dict)
    outcome = check.run(context(pixels_, **params), check.settings_model(**settings))
    criterion = Criterion(id="c", must="The image is fine.", judge="pixels", check=name)
    return outcome, None if outcome.passed else failure_severity(criterion, outcome, check)


def rgb(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.stack([array] * 3, axis=-1) if array.ndim == 2 else array[..., :3])


def upscale(photo: np.ndarray, factor: float) -> np.ndarray:
    image = Image.fromarray(photo)
    size = (round(photo.shape[1] * factor), round(photo.shape[0] * factor))
    return np.asarray(image.resize(size, Image.LANCZOS).filter(ImageFilter.UnsharpMask(2, 60, 2)))


@cache
def astronaut() -> np.ndarray:
    return upscale(data.astronaut(), 1.5)  # 768², a portrait with smooth backdrop and suit


@cache
def coffee() -> np.ndarray:
    return upscale(data.coffee(), 1.28)  # 768×512, blurred background and a wooden table


@cache
def rocket() -> np.ndarray:
    return rgb(data.rocket())  # a night sky gradient with launch-pad lights


def night_scene() -> np.ndarray:
    """A photo darkened to night (mean luminance about 20) with street lights and lit windows."""
    rng = np.random.default_rng(5)
    scene = (rocket().astype(np.float32) / 255) ** 2.2 * 0.25
    scene = scene ** (1 / 2.2) * 255 * 0.6
    height, width = scene.shape[:2]
    for _ in range(30):
        y, x = rng.integers(4, height - 4), rng.integers(4, width - 4)
        scene[y - 2 : y + 3, x - 2 : x + 3] = (255, 225, 160)
    for _ in range(40):
        y, x = rng.integers(height // 3, height - 10), rng.integers(0, width - 8)
        scene[y : y + 8, x : x + 6] = (235, 200, 120)
    return np.clip(scene, 0, 255).astype(np.uint8)


def minimalist(colour: tuple[int, int, int] = (236, 232, 226), side: int = 640) -> np.ndarray:
    """A plain wall with soft vignetting, a small dark object and its soft shadow: large flat areas on purpose."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    wall = 1 - 0.08 * (((xx - side / 2) ** 2 + (yy - side / 2) ** 2) / (side / 2) ** 2)
    scene = np.array(colour, np.float32)[None, None] * wall[..., None]
    cx, cy = side * 0.6, side * 0.62
    shadow = np.exp(-(((xx - cx - 15) / 60) ** 2 + ((yy - cy - 40) / 16) ** 2))
    scene *= (1 - 0.35 * shadow)[..., None]
    scene[((xx - cx) / 40) ** 2 + ((yy - cy) / 52) ** 2 < 1] = (40, 70, 60)
    scene += np.random.default_rng(3).normal(0, 1.0, scene.shape)
    return np.clip(scene, 0, 255).astype(np.uint8)


def textures() -> dict[str, np.ndarray]:
    return {
        "grass": rgb(data.grass()),
        "gravel": rgb(data.gravel()),
        "brick": rgb(data.brick()),
        "hubble": rgb(data.hubble_deep_field())[:600, :600],
    }


def chessboard(side: int = 512, cell: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:side, 0:side]
    return rgb((((yy // cell + xx // cell) % 2) * 200 + 30).astype(np.uint8))


def facade(side: int = 640) -> np.ndarray:
    """A wall with a regular grid of windows, slightly rotated like a real photograph of one."""
    rng = np.random.default_rng(9)
    wall = np.full((side, side, 3), (178, 160, 140), np.float32) + rng.normal(0, 6, (side, side, 1))
    for top in range(40, side - 60, 80):
        for left in range(30, side - 40, 64):
            wall[top : top + 50, left : left + 34] = np.array([70, 90, 110]) + rng.normal(0, 8, 3)
    image = Image.fromarray(np.clip(wall, 0, 255).astype(np.uint8))
    return np.asarray(image.rotate(2, Image.BICUBIC, fillcolor=(178, 160, 140)))


def fixture(path: str) -> np.ndarray:
    return np.asarray(Image.open(FIXTURES / path).convert("RGB"))


# ---------------------------------------------------------------------------------------------------------------
# noise
# ---------------------------------------------------------------------------------------------------------------


def with_noise(photo: np.ndarray, sigma: float, colour: bool = True, seed: int = 1) -> np.ndarray:
    shape = photo.shape if colour else (*photo.shape[:2], 1)
    noisy = photo + np.random.default_rng(seed).normal(0, sigma, shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("colour", [True, False], ids=["colour", "monochrome"])
def test_heavy_noise_is_severe_even_after_jpeg_reencoding(colour: bool) -> None:
    noisy = jpeg(with_noise(astronaut(), 25, colour), 90)
    outcome, severity = judge("noise", noisy)
    assert not outcome.passed and severity == "severe"
    assert "grainy" in outcome.detail and outcome.facts["level"] >= 10


def test_moderate_noise_fails_without_being_severe() -> None:
    outcome, severity = judge("noise", with_noise(coffee(), 12))
    assert not outcome.passed and severity == "moderate"


def test_light_grain_passes_or_fails_mildly() -> None:
    outcome, severity = judge("noise", with_noise(coffee(), 6, colour=False))
    assert outcome.passed or severity == "mild"


def test_poisson_noise_of_a_dim_sensor_is_severe() -> None:
    photo = astronaut().astype(np.float64)
    shot = np.random.default_rng(2).poisson(photo / 255 * 15) / 15 * 255
    outcome, severity = judge("noise", np.clip(shot, 0, 255).astype(np.uint8))
    assert not outcome.passed and severity == "severe"


@pytest.mark.parametrize("name", ["grass", "gravel", "brick", "hubble"])
def test_fine_texture_is_not_noise(name: str) -> None:
    outcome, _ = judge("noise", textures()[name])
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("scene", [night_scene, minimalist, astronaut], ids=["night", "minimalist", "portrait"])
def test_clean_scenes_are_not_noisy(scene) -> None:
    outcome, _ = judge("noise", jpeg(scene(), 90))
    assert outcome.passed, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# jpeg_blocking
# ---------------------------------------------------------------------------------------------------------------


def test_quality_5_jpeg_is_severe_and_reports_its_quality() -> None:
    outcome, severity = judge("jpeg_blocking", encode(coffee(), "JPEG", 5))
    assert not outcome.passed and severity == "severe"
    # A JPEG file states the quality its own tables were saved at, as the criteria table shows the measured value.
    assert outcome.facts["quality"] == outcome.measured == 5
    assert f"saved at JPEG quality {number(outcome.measured)} " in outcome.detail
    # The same pixels saved as PNG: the estimate, stated as the criteria table shows it (4.7, not 5 beside 4.7).
    outcome, severity = judge("jpeg_blocking", encode(jpeg(coffee(), 5)))
    assert not outcome.passed and severity == "severe"
    assert re.search(r"quality about [3-7](\.\d)?\b", outcome.detail) and outcome.facts["quality"] <= 7
    assert f"quality about {number(outcome.measured)} " in outcome.detail


@pytest.mark.parametrize(
    "resave",
    [lambda p: p, lambda p: jpeg(p, 90), lambda p: np.ascontiguousarray(p[3:, 5:])],
    ids=["saved-as-png", "reencoded-q90", "cropped-off-grid"],
)
def test_blocking_is_found_after_resaving(resave) -> None:
    blocky = resave(jpeg(astronaut(), 10))
    outcome, severity = judge("jpeg_blocking", blocky)
    assert not outcome.passed and severity in ("moderate", "severe"), outcome.detail


def test_quality_15_fails_mildly_and_quality_30_passes() -> None:
    low, severity = judge("jpeg_blocking", jpeg(coffee(), 15))
    assert not low.passed and severity == "mild"
    assert judge("jpeg_blocking", jpeg(coffee(), 30))[0].passed


@pytest.mark.parametrize("quality", [70, 90])
def test_normal_jpegs_pass(quality: int) -> None:
    outcome, _ = judge("jpeg_blocking", encode(astronaut(), "JPEG", quality))
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("pattern", ["brick", "chessboard", "facade"])
def test_regular_patterns_are_not_blocking(pattern: str) -> None:
    image = {"brick": textures()["brick"], "chessboard": chessboard(cell=32), "facade": facade()}[pattern]
    outcome, _ = judge("jpeg_blocking", jpeg(image, 90))
    assert outcome.passed, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# banding
# ---------------------------------------------------------------------------------------------------------------


def posterised(photo: np.ndarray, bits: int) -> np.ndarray:
    return np.asarray(ImageOps.posterize(Image.fromarray(photo), bits))


@pytest.mark.parametrize(("bits", "expected"), [(5, "mild"), (4, "moderate"), (2, "severe")])
def test_posterisation_is_graded_by_bit_depth_also_after_jpeg(bits: int, expected: str) -> None:
    outcome, severity = judge("banding", jpeg(posterised(coffee(), bits), 90))
    assert not outcome.passed and severity == expected, outcome.detail
    assert f"about {bits} bits" in outcome.detail


def stepped_sky(step: int, side: int = 640) -> np.ndarray:
    """A sky gradient drawn in ``step``-level steps above the launch pad of a real photo."""
    rows = np.linspace(0, 1, side)[:, None, None]
    sky = np.array([40, 90, 170.0]) + np.array([130, 110, 65.0]) * rows
    sky = np.broadcast_to(np.round(sky / step) * step, (side, side, 3)).copy()
    ground = upscale(rocket()[250:, :], 1.6)[: side // 2, :side]
    sky[side - ground.shape[0] :] = ground
    return sky.astype(np.uint8)


def test_a_sky_of_visible_steps_fails() -> None:
    outcome, severity = judge("banding", jpeg(stepped_sky(8), 90))
    assert not outcome.passed and severity is not None, outcome.detail


@pytest.mark.parametrize(
    "scene",
    [
        lambda: jpeg(stepped_sky(1), 90),  # a smooth 8-bit sky
        minimalist,
        lambda: minimalist((140, 150, 160)),
        night_scene,
        lambda: fixture("product-white-background/good.jpg"),
        lambda: fixture("text-render/open-24-7.jpg"),
        lambda: rgb(data.moon()),
        lambda: rgb(data.camera()),
    ],
    ids=["smooth-sky", "minimalist", "minimalist-grey", "night", "product-on-white", "sign", "moon", "camera"],
)
def test_smooth_and_flat_areas_are_not_banding(scene) -> None:
    outcome, _ = judge("banding", scene())
    assert outcome.passed, outcome.detail


def test_a_16_bit_greyscale_photo_is_not_posterised() -> None:
    camera = data.camera().astype(np.float64)
    wide = np.asarray(Image.fromarray(camera.astype(np.float32)).resize((768, 768), Image.BICUBIC), np.float64)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(wide * 257, 0, 65535).astype(np.uint16)).save(buffer, "PNG")
    outcome, _ = judge("banding", buffer.getvalue())
    assert outcome.passed, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# exposure
# ---------------------------------------------------------------------------------------------------------------


def scaled(photo: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(photo.astype(np.float64) * gain, 0, 255).round().astype(np.uint8)


@pytest.mark.parametrize(("gain", "expected"), [(0.18, "moderate"), (0.05, "severe")])
def test_underexposure_is_dark_and_graded(gain: float, expected: str) -> None:
    outcome, severity = judge("exposure", scaled(coffee(), gain))
    assert not outcome.passed and severity == expected
    assert outcome.facts == {"too": "dark"} and "too dark" in outcome.detail


def test_a_washed_out_image_is_bright_and_severe() -> None:
    washed = (255 - (255 - astronaut().astype(np.float64)) * 0.05).astype(np.uint8)
    outcome, severity = judge("exposure", washed)
    assert not outcome.passed and severity == "severe" and outcome.facts == {"too": "bright"}


def test_burnt_out_highlights_over_half_the_frame_are_severe() -> None:
    outcome, severity = judge("exposure", jpeg(scaled(coffee(), 2.2), 90))
    assert not outcome.passed and severity == "severe" and outcome.facts == {"too": "bright"}
    assert "clipped" in outcome.detail


def test_shadows_crushed_over_most_of_the_frame_fail() -> None:
    crushed = np.clip((rocket().astype(np.float64) - 90) * 1.5, 0, 255).astype(np.uint8)
    outcome, _ = judge("exposure", crushed)
    assert not outcome.passed and outcome.facts == {"too": "dark"}


@pytest.mark.parametrize(
    "scene",
    [
        night_scene,
        lambda: rgb(data.hubble_deep_field()),
        lambda: minimalist((250, 250, 248)),
        lambda: fixture("product-white-background/good.jpg"),
        lambda: fixture("text-render/open-24-7.jpg"),
        astronaut,
    ],
    ids=["night-street", "star-field", "minimalist-bright", "white-product-on-white", "saturated-sign", "portrait"],
)
def test_night_minimalist_and_white_backdrops_are_well_exposed(scene) -> None:
    outcome, _ = judge("exposure", scene())
    assert outcome.passed, outcome.detail


def test_the_existing_settings_names_still_work() -> None:
    dark = scaled(coffee(), 0.18)
    strict, _ = judge("exposure", dark, min_mean=25.0, max_mean=235.0, max_clipped_fraction=0.5)
    assert not strict.passed
    lenient, _ = judge("exposure", dark, min_mean=10.0)
    assert lenient.passed


# ---------------------------------------------------------------------------------------------------------------
# borders and truncated
# ---------------------------------------------------------------------------------------------------------------


def letterboxed(photo: np.ndarray, share: float, value: int = 0) -> np.ndarray:
    boxed = photo.copy()
    bar = round(photo.shape[0] * share)
    boxed[:bar] = value
    boxed[photo.shape[0] - bar :] = value
    return boxed


def test_a_letterboxed_square_is_severe_and_names_the_bars() -> None:
    square = np.asarray(Image.fromarray(coffee()).resize((640, 640)))
    outcome, severity = judge("borders", letterboxed(square, 0.22))
    assert not outcome.passed and severity == "severe"
    assert outcome.detail.startswith("the image has letterbox bars of #000000 at the top and bottom")
    assert outcome.facts["kind"] == "letterbox"


def test_pillarbox_bars_survive_jpeg() -> None:
    photo = astronaut().copy()
    photo[:, :150] = 0
    photo[:, -150:] = 0
    outcome, severity = judge("borders", jpeg(photo, 90))
    assert not outcome.passed and outcome.facts["kind"] == "pillarbox" and severity == "severe"


def test_a_thin_frame_is_mild() -> None:
    framed = astronaut().copy()
    framed[:16], framed[-16:], framed[:, :16], framed[:, -16:] = 255, 255, 255, 255
    outcome, severity = judge("borders", framed)
    assert not outcome.passed and outcome.facts["kind"] == "frame" and severity == "mild"


def test_the_bottom_half_flat_grey_is_a_severe_cut_off_generation() -> None:
    cut = coffee().copy()
    cut[cut.shape[0] // 2 :] = 128
    outcome, severity = judge("truncated", jpeg(cut, 90))
    assert not outcome.passed and severity == "severe"
    assert outcome.detail == "the bottom 50% is a flat #808080 band: the generation looks cut off"
    assert outcome.facts["side"] == "bottom"
    assert judge("borders", cut)[0].passed  # one band is a cut, not bars


def test_a_cut_at_the_right_edge_is_found() -> None:
    cut = astronaut().copy()
    cut[:, -230:] = (40, 40, 40)
    outcome, _ = judge("truncated", cut)
    assert not outcome.passed and outcome.facts["side"] == "right"


@pytest.mark.parametrize(
    "scene",
    [
        lambda: rgb(data.camera()),  # a plain sky above a subject
        minimalist,  # a backdrop that meets the subject only around it
        lambda: fixture("product-white-background/good.jpg"),
        night_scene,
        astronaut,
    ],
    ids=["plain-sky", "studio-backdrop", "white-product", "night", "portrait"],
)
def test_plain_skies_and_backdrops_are_not_bands(scene) -> None:
    for name in ("borders", "truncated"):
        outcome, _ = judge(name, scene())
        assert outcome.passed, f"{name}: {outcome.detail}"


def test_a_product_touching_the_bottom_edge_is_not_cut_off() -> None:
    shot = fixture("product-white-background/good.jpg").copy()
    height = shot.shape[0]
    lowered = np.full_like(shot, 255)
    lowered[height // 5 :] = shot[: height - height // 5]
    assert judge("truncated", lowered)[0].passed


# ---------------------------------------------------------------------------------------------------------------
# tiling and seams
# ---------------------------------------------------------------------------------------------------------------


def tiled(photo: np.ndarray, across: int, down: int) -> np.ndarray:
    height, width = photo.shape[:2]
    tile = np.asarray(Image.fromarray(photo).resize((width // across, height // down), Image.LANCZOS))
    return np.tile(tile, (down, across, 1))


@pytest.mark.parametrize(("across", "down"), [(2, 2), (3, 3)])
def test_a_grid_of_copies_is_severe(across: int, down: int) -> None:
    outcome, severity = judge("tiling", jpeg(tiled(coffee(), across, down), 90))
    assert not outcome.passed and severity == "severe"
    assert f"{across}×{down} grid of copies" in outcome.detail


def mandala(side: int = 768) -> np.ndarray:
    """A symmetric design: rings of petals and dots around the centre, shaded, on a warm background."""
    from PIL import ImageDraw

    image = Image.new("RGB", (side, side), (236, 222, 196))
    draw = ImageDraw.Draw(image)
    centre = side / 2
    for ring, (radius, petals, colour) in enumerate(
        [(330, 24, (120, 40, 60)), (260, 16, (30, 90, 120)), (180, 12, (200, 120, 40)), (100, 8, (60, 120, 70))]
    ):
        for petal in range(petals):
            angle = 2 * np.pi * petal / petals
            x, y = centre + radius * np.cos(angle), centre + radius * np.sin(angle)
            size = 38 - ring * 6
            draw.ellipse((x - size, y - size / 2, x + size, y + size / 2), fill=colour, outline=(20, 20, 20), width=3)
        draw.ellipse((centre - radius + 40, centre - radius + 40, centre + radius - 40, centre + radius - 40),
                     outline=colour, width=4)  # fmt: skip
    return np.asarray(image.filter(ImageFilter.GaussianBlur(0.8)))


def test_duplicated_halves_are_severe_but_a_symmetric_design_is_not_a_copy() -> None:
    photo = astronaut()
    half = photo.shape[1] // 2
    copied = photo.copy()
    copied[:, half:] = photo[:, :half]
    copy_outcome, copy_severity = judge("tiling", copied)
    assert not copy_outcome.passed and copy_severity == "severe" and "halves are copies" in copy_outcome.detail
    # A mandala, a logo or a facade shot head-on mirrors itself by design: that is what the prompt asked for.
    assert judge("tiling", jpeg(mandala(), 90))[0].passed
    small_symmetric = np.asarray(Image.open(io.BytesIO(png_bytes(64, 64))).convert("RGB"))
    assert judge("tiling", small_symmetric)[0].passed


def test_a_faint_seam_down_the_middle_is_mild() -> None:
    photo = coffee().astype(np.int16)
    photo[:, photo.shape[1] // 2 :] += 12
    outcome, severity = judge("tiling", jpeg(np.clip(photo, 0, 255).astype(np.uint8), 90))
    assert not outcome.passed and severity == "mild" and "seam" in outcome.detail


@pytest.mark.parametrize(
    "scene",
    [
        lambda: textures()["brick"],
        lambda: textures()["gravel"],
        lambda: chessboard(cell=64),
        lambda: jpeg(chessboard(640, 40), 90),
        facade,
        astronaut,
        lambda: fixture("text-render/open-24-7.jpg"),
    ],
    ids=["brick", "gravel", "chessboard", "chessboard-jpeg", "facade", "portrait", "symmetric-sign"],
)
def test_regular_patterns_and_symmetric_designs_are_not_tiling(scene) -> None:
    outcome, _ = judge("tiling", scene())
    assert outcome.passed, outcome.detail


# ---------------------------------------------------------------------------------------------------------------
# size
# ---------------------------------------------------------------------------------------------------------------


def blank_frame(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), 128, np.uint8)


@pytest.mark.parametrize(
    ("delivered", "requested", "expected"),
    [
        ((192, 128), (1536, 1024), "severe"),
        ((384, 256), (1536, 1024), "moderate"),
        ((512, 341), (1536, 1024), "mild"),
        ((1024, 576), (1024, 1024), "severe"),
        ((1024, 768), (1024, 1024), "moderate"),
        ((1024, 1000), (1024, 1024), "mild"),
    ],
)
def test_a_frame_far_too_small_or_of_the_wrong_aspect_fails(
    delivered: tuple[int, int], requested: tuple[int, int], expected: str
) -> None:
    params = {"width": requested[0], "height": requested[1]}
    outcome, severity = judge("size", blank_frame(*delivered), params=params)
    assert not outcome.passed and severity == expected, outcome.detail


def test_half_the_requested_size_with_the_right_aspect_still_passes() -> None:
    outcome, _ = judge("size", blank_frame(512, 512), params={"width": 1024, "height": 1024})
    assert outcome.passed and "matches" in outcome.detail


def test_the_scale_floor_is_a_setting() -> None:
    outcome, severity = judge("size", blank_frame(512, 512), min_scale=0.9, params={"width": 1024, "height": 1024})
    assert not outcome.passed and "only 50% of the requested size" in outcome.detail and severity == "mild"


# ---------------------------------------------------------------------------------------------------------------
# rubric data
# ---------------------------------------------------------------------------------------------------------------


def test_a_rubric_can_use_every_new_check_with_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "photo.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            id: photo
            title: Photo
            params:
              width: {type: integer}
              height: {type: integer}
            criteria:
              - {id: no-noise, must: No grain., judge: pixels, check: noise, settings: {max_noise: 5}}
              - {id: no-blocks, must: No blocks., judge: pixels, check: jpeg_blocking, settings: {min_quality: 30}}
              - {id: no-banding, must: No bands., judge: pixels, check: banding, settings: {max_banded_share: 0.1}}
              - {id: lit, must: Exposed well., judge: pixels, check: exposure, settings: {max_clipped_fraction: 0.2}}
              - {id: no-borders, must: No bars., judge: pixels, check: borders, settings: {min_band: 0.02}}
              - {id: whole, must: Not cut off., judge: pixels, check: truncated, severity: {moderate: 0.1, severe: 0.2}}
              - {id: no-tiling, must: No copies., judge: pixels, check: tiling, settings: {max_similarity: 0.85}}
              - {id: size, must: As asked., judge: pixels, check: size, settings: {min_scale: 0.5}}
            """
        )
    )
    rubric = load_rubric(path)
    assert [c.check for c in rubric.criteria] == [
        "noise",
        "jpeg_blocking",
        "banding",
        "exposure",
        "borders",
        "truncated",
        "tiling",
        "size",
    ]
