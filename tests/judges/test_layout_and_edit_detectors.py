"""What a customer rejects in product shots and edits, caught with a measurement and a severity, while the hard
negatives (a white product on white with a soft shadow, a product that fills the frame with a margin, a plausible
fill on a plain wall, a re-encoded subject) stay green."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from skimage import data

from sentinel.evaluation.judges import KINDS
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, Outcome, failure_severity
from sentinel.evaluation.rubric import Criterion
from sentinel.store.images import decoded_pixels


def stored(pixels: np.ndarray, fmt: str = "PNG", **options: Any) -> ImageSource:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    data_ = buffer.getvalue()
    return ImageSource(hashlib.sha256(data_).hexdigest(), f"image/{fmt.lower()}", lambda: data_, 100_000_000)


def context(image: np.ndarray, source: np.ndarray | None = None, mask: np.ndarray | None = None, **params: Any):
    decoded_pixels.clear()
    return JudgeContext(
        image=stored(image),
        params=params,
        source=None if source is None else stored(source),
        mask=None if mask is None else stored((mask * 255).astype(np.uint8) if mask.dtype == bool else mask),
    )


def judge(kind: str, check: str, ctx: JudgeContext, **settings: Any) -> tuple[Outcome, str | None]:
    """The check's outcome and, when it failed, its severity as a rubric criterion without overrides grades it."""
    registered = KINDS[kind].checks[check]
    outcome = registered.run(ctx, registered.settings_model(**settings))
    criterion = Criterion(id="c", must="must hold", judge=kind, check=check)
    return outcome, None if outcome.passed else failure_severity(criterion, outcome, registered)


def photo(name: str, side: int) -> np.ndarray:
    pixels = getattr(data, name)()
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    image = Image.fromarray(pixels[..., :3])
    short = min(image.size)
    image = image.crop((0, 0, short, short))
    return np.asarray(image.resize((side, side), Image.Resampling.LANCZOS))


def disc(side: int, box: tuple[int, int, int, int]) -> np.ndarray:
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    return np.asarray(mask) > 127


# --------------------------------------------------------------------------------------------------------------
# Object removal: the fill judged against its surroundings
# --------------------------------------------------------------------------------------------------------------

LAWN = 512
LAWN_MASK = (200, 180, 330, 310)


@pytest.fixture(scope="module")
def lawn() -> dict[str, np.ndarray]:
    """Grass with a red-and-white tag on it (the object to remove), the tag's mask, and the clean lawn."""
    clean = photo("grass", LAWN)
    clean = (clean * np.array([0.55, 0.85, 0.45])).astype(np.uint8)  # green grass, not grey
    mask = disc(LAWN, LAWN_MASK)
    tagged = Image.fromarray(clean.copy())
    ImageDraw.Draw(tagged).ellipse((210, 190, 320, 300), fill=(210, 30, 40), outline=(250, 250, 250), width=8)
    return {"clean": clean, "source": np.asarray(tagged), "mask": mask}


def with_fill(base: np.ndarray, mask: np.ndarray, fill: np.ndarray) -> np.ndarray:
    out = base.copy()
    out[mask] = fill[mask] if fill.ndim == 3 else fill
    return out


def test_a_flat_grey_disc_left_where_the_object_was_is_a_severe_failure(lawn: dict[str, np.ndarray]) -> None:
    grey_disc = with_fill(lawn["clean"], lawn["mask"], np.array([128, 128, 128], dtype=np.uint8))
    ctx = context(grey_disc, lawn["source"], lawn["mask"])
    changed, _ = judge("edit", "changed_in_mask", ctx)
    assert changed.passed  # the object is gone...
    fill, severity = judge("edit", "fill_matches_surroundings", ctx)
    assert not fill.passed and severity == "severe"  # ...but what replaced it is a grey blob, not lawn
    assert "flat patch" in fill.detail and "colours found nowhere around it" in fill.detail
    assert fill.facts["fill_colour"] == "#808080"


def test_a_new_object_painted_into_the_mask_is_not_a_removal(lawn: dict[str, np.ndarray]) -> None:
    cat = np.asarray(Image.fromarray(data.chelsea()[40:260, 120:340]).resize((110, 110)))
    painted = lawn["clean"].copy()
    painted[195:305, 210:320] = cat
    ctx = context(painted, lawn["source"], lawn["mask"])
    fill, severity = judge("edit", "fill_matches_surroundings", ctx)
    assert not fill.passed and severity == "severe", fill.detail
    assert "found nowhere around it" in fill.detail


@pytest.mark.parametrize(
    ("name", "expected"),
    [("exact lawn", None), ("lawn patch copied from beside it", None), ("lawn blurred into a smear", "moderate")],
)
def test_a_fill_is_judged_by_whether_it_continues_the_texture_around_it(
    lawn: dict[str, np.ndarray], name: str, expected: str | None
) -> None:
    clean, mask = lawn["clean"], lawn["mask"]
    fills = {
        "exact lawn": clean,
        "lawn patch copied from beside it": np.roll(clean, 150, axis=1),
        "lawn blurred into a smear": np.asarray(Image.fromarray(clean).filter(ImageFilter.GaussianBlur(5))),
    }
    ctx = context(with_fill(clean, mask, fills[name]), lawn["source"], mask)
    fill, severity = judge("edit", "fill_matches_surroundings", ctx)
    assert fill.passed is (expected is None), fill.detail
    assert severity == expected


def test_a_flat_fill_on_a_plain_wall_is_a_good_removal() -> None:
    side = 512
    rng = np.random.default_rng(4)
    wall = np.clip(np.array([222, 210, 188]) + rng.normal(0, 1.2, (side, side, 3)), 0, 255).astype(np.uint8)
    mask = disc(side, (180, 180, 300, 300))
    source = with_fill(wall, mask, np.array([20, 40, 160], dtype=np.uint8))  # a blue sticker on the wall
    flat = with_fill(wall, mask, wall[~mask].mean(axis=0).round().astype(np.uint8))
    fill, _ = judge("edit", "fill_matches_surroundings", context(flat, source, mask))
    assert fill.passed, fill.detail


def test_a_smoothly_inpainted_fill_across_a_busy_photo_passes() -> None:
    """The kind of fill inpainting gives: the photo's own colours, blurred, continuing at the mask's edge."""
    side = 512
    clean = photo("astronaut", side)
    mask = np.zeros((side, side), dtype=bool)
    mask[300:420, 40:250] = True
    source = with_fill(clean, mask, np.array([215, 30, 35], dtype=np.uint8))
    inpainted = with_fill(clean, mask, np.asarray(Image.fromarray(clean).filter(ImageFilter.GaussianBlur(8))))
    fill, _ = judge("edit", "fill_matches_surroundings", context(inpainted, source, mask))
    assert fill.passed, fill.detail


def test_half_an_object_left_behind_fails_changed_in_mask_even_though_the_region_changed_on_average() -> None:
    side = 512
    wall = photo("brick", side)
    wall = (wall * np.array([0.75, 0.4, 0.3])).astype(np.uint8)  # red brick
    mask = np.zeros((side, side), dtype=bool)
    mask[180:330, 160:360] = True
    sticker = np.zeros_like(wall)
    sticker[..., 1] = 200
    sticker[180:330, 260:360] = (250, 140, 30)
    source = with_fill(wall, mask, sticker)
    half = source.copy()
    half[180:330, 160:260] = wall[180:330, 160:260]  # only the left half removed
    changed, severity = judge("edit", "changed_in_mask", context(half, source, mask))
    assert not changed.passed and severity == "moderate", changed.detail
    assert "part of the object is still there" in changed.detail
    clean, _ = judge("edit", "changed_in_mask", context(wall, source, mask))
    assert clean.passed, clean.detail


# --------------------------------------------------------------------------------------------------------------
# Small and thin masks, empty masks, all-black results, result size
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mask_shape", ["30 px disc", "6 px stroke", "12 px square"], ids=lambda name: name.replace(" ", "-")
)
def test_small_and_thin_masks_keep_an_inside_to_measure(mask_shape: str) -> None:
    side = 1024
    clean = photo("gravel", side)
    mask_image = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask_image)
    if mask_shape == "30 px disc":
        draw.ellipse((500, 500, 530, 530), fill=255)
    elif mask_shape == "6 px stroke":
        draw.line((200, 300, 700, 380), fill=255, width=6)
    else:
        draw.rectangle((700, 200, 711, 211), fill=255)
    mask = np.asarray(mask_image) > 127
    source = with_fill(clean, mask, np.array([230, 190, 40], dtype=np.uint8))  # a gold coin, a wire, a speck
    removed = judge("edit", "changed_in_mask", context(clean, source, mask))[0]
    assert removed.passed and removed.measured > 40, removed.detail
    left = judge("edit", "changed_in_mask", context(source, source, mask))
    assert not left[0].passed and left[1] == "severe", left[0].detail
    assert "leaves no" not in left[0].detail and "essentially unchanged" in left[0].detail
    fill = judge("edit", "fill_matches_surroundings", context(clean, source, mask))[0]
    assert fill.passed, fill.detail


def test_a_mask_that_marks_nothing_or_everything_says_so_in_words() -> None:
    side = 256
    image = photo("coffee", side)
    nothing = judge("edit", "changed_in_mask", context(image, image, np.zeros((side, side), dtype=bool)))[0]
    assert not nothing.passed and nothing.detail.startswith("the mask has no white pixels")
    everything = judge("edit", "preserved_outside_mask", context(image, image, np.ones((side, side), dtype=bool)))
    assert not everything[0].passed and "no area outside it" in everything[0].detail
    for outcome in (nothing, everything[0]):
        assert " no the " not in outcome.detail


def test_an_all_black_result_fails_the_edit_checks_that_see_it(lawn: dict[str, np.ndarray]) -> None:
    black = np.zeros_like(lawn["clean"])
    ctx = context(black, lawn["source"], lawn["mask"])
    fill, severity = judge("edit", "fill_matches_surroundings", ctx)
    assert not fill.passed and severity == "severe"
    outside, severity = judge("edit", "preserved_outside_mask", ctx)
    assert not outside.passed and severity == "severe"
    subject, severity = judge("edit", "subject_preserved", ctx)
    assert not subject.passed and severity == "severe"


@pytest.mark.parametrize(
    ("size", "passed", "severity"),
    [
        ((1024, 768), True, None),
        ((960, 720), True, None),
        ((256, 192), False, "severe"),
        ((1024, 1024), False, "severe"),
    ],
)
def test_the_result_must_come_back_at_the_sources_size(
    size: tuple[int, int], passed: bool, severity: str | None
) -> None:
    source = np.asarray(Image.fromarray(photo("astronaut", 1024)).resize((1024, 768)))
    result = np.asarray(Image.fromarray(source).resize(size))
    mask = np.zeros((768, 1024), dtype=bool)
    mask[300:400, 400:500] = True
    outcome, graded = judge("edit", "result_size", context(result, source, mask))
    assert outcome.passed is passed, outcome.detail
    assert graded == severity
    if size == (960, 720):  # a little smaller, same aspect: compared after a resize, as the other checks say
        kept = judge("edit", "preserved_outside_mask", context(result, source, mask))[0]
        assert kept.passed and "resized to the source's size" in kept.detail


# --------------------------------------------------------------------------------------------------------------
# Background replacement: the subject keeps its colours
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cup_scene() -> dict[str, np.ndarray]:
    """The espresso cup (red) on a rocket-launch backdrop, with a mask of the cup and saucer."""
    coffee = data.coffee()  # 400×600; the cup and saucer sit in the middle
    source = np.asarray(Image.fromarray(data.rocket()).resize((600, 400)))
    ellipse = Image.new("L", (600, 400), 0)
    ImageDraw.Draw(ellipse).ellipse((150, 40, 470, 370), fill=255)
    mask = np.asarray(ellipse) > 127
    source = with_fill(source, mask, coffee)
    return {"source": source, "mask": mask}


def test_a_subject_recoloured_with_the_same_shapes_fails_severe(cup_scene: dict[str, np.ndarray]) -> None:
    source, mask = cup_scene["source"], cup_scene["mask"]
    white = with_fill(np.full_like(source, 255), mask, source)
    blue = white.copy()
    blue[mask] = source[mask][:, ::-1]  # red cup turned blue: RGB → BGR keeps every edge and luminance close
    outcome, severity = judge("edit", "subject_preserved", context(blue, source, mask, color="#ffffff"))
    assert not outcome.passed and severity == "severe", outcome.detail
    assert "colours changed" in outcome.detail and outcome.facts["source_colour"] != outcome.facts["result_colour"]
    kept, _ = judge("edit", "subject_preserved", context(white, source, mask, color="#ffffff"))
    assert kept.passed and "colours kept" in kept.detail


def test_a_re_encoded_subject_keeps_its_colours(cup_scene: dict[str, np.ndarray]) -> None:
    source, mask = cup_scene["source"], cup_scene["mask"]
    white = with_fill(np.full_like(source, 255), mask, source)
    buffer = io.BytesIO()
    Image.fromarray(white).save(buffer, "JPEG", quality=85)
    jpeg = np.asarray(Image.open(buffer).convert("RGB"))
    outcome, _ = judge("edit", "subject_preserved", context(jpeg, source, mask, color="#ffffff"))
    assert outcome.passed, outcome.detail


# --------------------------------------------------------------------------------------------------------------
# Product shots: cropped by the frame, busy background, white product on white
# --------------------------------------------------------------------------------------------------------------

SIDE = 1000


def framed_print(width: int) -> Image.Image:
    """A photo print in a dark frame, ``width`` px wide (4:3)."""
    height = width * 3 // 4
    frame = Image.new("RGB", (width, height), (30, 28, 26))
    border = max(8, width // 25)
    frame.paste(Image.fromarray(data.astronaut()).resize((width - 2 * border, height - 2 * border)), (border, border))
    return frame


def on_white(product: Image.Image, left: int, top: int | None = None) -> np.ndarray:
    canvas = Image.new("RGB", (SIDE, SIDE), (255, 255, 255))
    canvas.paste(product, (left, (SIDE - product.height) // 2 if top is None else top))
    return np.asarray(canvas)


@pytest.mark.parametrize(("outside", "expected"), [(0.03, "mild"), (0.12, "moderate"), (0.3, "severe")])
def test_a_product_cut_by_the_frame_fails_graded_by_how_far_it_sits_off_centre(outside: float, expected: str) -> None:
    product = framed_print(860)
    shot = on_white(product, SIDE - round(product.width * (1 - outside)))
    outcome, severity = judge("layout", "subject_cut_off", context(shot))
    assert not outcome.passed and severity == expected, outcome.detail
    assert "right" in outcome.detail and outcome.facts["sides"] == "right edge"


def test_a_product_that_fills_the_frame_but_keeps_a_margin_is_neither_cut_nor_off_white() -> None:
    product = framed_print(960)  # 20 px margins: inside the 30 px border band the whiteness check reads
    shot = on_white(product, 20)
    for check in ("subject_cut_off", "white_background", "busy_background", "fills_frame"):
        outcome, _ = judge("layout", check, context(shot))
        assert outcome.passed, (check, outcome.detail)


def white_mug_on_white() -> np.ndarray:
    """A white mug on white: faint grey outline and side shading, and a soft grey contact shadow under it."""
    canvas = np.full((SIDE, SIDE, 3), 255.0)
    shadow = Image.new("L", (SIDE, SIDE), 0)
    ImageDraw.Draw(shadow).ellipse((170, 860, 780, 930), fill=80)
    canvas *= 1 - np.asarray(shadow.filter(ImageFilter.GaussianBlur(20)), dtype=np.float64)[..., None] / 255 * 0.5
    left, top, right, bottom = 190, 90, 760, 900
    x = np.linspace(-1, 1, right - left)
    canvas[top:bottom, left:right] = (250 - 24 * x**4)[None, :, None]
    mug = Image.fromarray(canvas.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(mug)
    draw.rectangle((left, top, right, bottom), outline=(226, 226, 226), width=2)
    draw.ellipse((left + 4, top - 20, right - 4, top + 24), fill=(244, 244, 244), outline=(222, 222, 222), width=2)
    draw.ellipse((right - 40, 300, right + 140, 640), outline=(236, 236, 236), width=30)
    return np.asarray(mug)


def test_a_white_product_on_white_with_a_soft_contact_shadow_is_green() -> None:
    ctx = context(white_mug_on_white())
    for check in ("white_background", "fills_frame", "subject_cut_off", "busy_background"):
        outcome, _ = judge("layout", check, ctx)
        assert outcome.passed, (check, outcome.detail)


@pytest.mark.parametrize("texture", ["grass", "brick", "gravel"])
def test_a_product_on_a_textured_surface_has_a_severely_busy_and_non_white_background(texture: str) -> None:
    backdrop = Image.fromarray(photo(texture, SIDE))
    product = framed_print(780)
    backdrop.paste(product, ((SIDE - product.width) // 2, (SIDE - product.height) // 2))
    ctx = context(np.asarray(backdrop))
    busy, severity = judge("layout", "busy_background", ctx)
    assert not busy.passed and severity == "severe", busy.detail
    white, severity = judge("layout", "white_background", ctx)
    assert not white.passed and severity == "severe"


def test_props_scattered_around_a_product_on_white_make_a_busy_background() -> None:
    """The border stays white, so only the background around the product shows the clutter."""
    canvas = Image.fromarray(on_white(framed_print(640), 180))
    rng = np.random.default_rng(7)
    for spot in [(60, 60), (820, 80), (70, 820), (840, 830), (450, 70), (450, 860), (70, 450), (860, 450)]:
        prop = Image.fromarray(data.coffee()[rng.integers(0, 200) :][:100, 100:200]).resize((90, 90))
        canvas.paste(prop, spot)
    ctx = context(np.asarray(canvas))
    assert judge("layout", "white_background", ctx)[0].passed
    busy, _ = judge("layout", "busy_background", ctx)
    assert not busy.passed and "around the product" in busy.detail, busy.detail


@pytest.mark.parametrize("colour", [(230, 230, 230), (236, 222, 196)])
def test_a_grey_or_coloured_backdrop_fails_white_background_severely(colour: tuple[int, int, int]) -> None:
    canvas = Image.new("RGB", (SIDE, SIDE), colour)
    product = framed_print(860)
    canvas.paste(product, (70, (SIDE - product.height) // 2))
    outcome, severity = judge("layout", "white_background", context(np.asarray(canvas)))
    assert not outcome.passed and severity == "severe"
    assert outcome.facts["colour"] == "#" + "".join(f"{c:02x}" for c in colour)
    assert judge("layout", "subject_cut_off", context(np.asarray(canvas)))[0].passed
