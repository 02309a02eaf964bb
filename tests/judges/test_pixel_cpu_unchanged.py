"""The pixels judge's CPU cuts on photographs (issue 22) give exactly the numbers of the definitions they replace: the
Laplacian detail of the sharp check read a band of tile rows at a time, the colour planes and the luminance computed
together a strip at a time, the pixelation's line jumps read once and a band at a time, the streak search's
aligned-block shortcut, the banding's long flat runs found without listing every short one, its spectra's medians
from their partition, and the exposure's histogram counted by OpenCV from the split planes. Each is compared with the
plain whole-frame definition (as the code read before) on photo-like scenes and odd shapes, with the bands and strips
shrunk so that every image is read in many pieces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sentinel.bench.scenes import photo_scene
from sentinel.evaluation.judges import base, pixels
from sentinel.evaluation.judges import pixel_measures as measures
from sentinel.evaluation.judges.base import DecodedImage, ImageSource, JudgeContext
from sentinel.store.images import Decoded
from tests.judges.test_pixel_working_memory import photo

SHAPES = [(64, 64), (97, 130), (200, 71), (257, 333), (513, 260)]


def images() -> list[np.ndarray]:
    rng = np.random.default_rng(22)
    found = [np.asarray(photo_scene(256, seed)) for seed in range(2)]
    for height, width in SHAPES:
        found.append(photo(height, width, seed=height))
        found.append(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return found


def grays() -> list[np.ndarray]:
    return [base.luminance(rgb) for rgb in images()]


def plain_tile_detail(gray: np.ndarray) -> np.ndarray:
    """The Laplacian variance of every whole 32×32 tile, over the whole frame at once (as before)."""
    tile = 32
    rows, cols = (gray.shape[0] - 2) // tile, (gray.shape[1] - 2) // tile
    height, width = rows * tile, cols * tile
    lap = np.multiply(gray[1 : height + 1, 1 : width + 1], 4)
    lap -= gray[:height, 1 : width + 1]
    lap -= gray[2 : height + 2, 1 : width + 1]
    lap -= gray[1 : height + 1, :width]
    lap -= gray[1 : height + 1, 2 : width + 2]
    return lap.reshape(rows, tile, cols, tile).var(axis=(1, 3)).ravel()


@pytest.mark.parametrize("band", [1, 3, pixels.TILE_DETAIL_BAND])
def test_tile_detail_read_a_band_at_a_time_is_the_whole_frame_s(monkeypatch: pytest.MonkeyPatch, band: int) -> None:
    monkeypatch.setattr(pixels, "TILE_DETAIL_BAND", band)
    for gray in grays():
        if min(gray.shape) < 34:
            continue
        found, plain = pixels._tile_detail(gray), plain_tile_detail(gray)
        assert found.dtype == plain.dtype and np.array_equal(found, plain)


@pytest.mark.parametrize("strip", [1, 1000, base.PLANES_STRIP_PIXELS])
def test_planes_and_luminance_together_are_the_split_and_the_luminance(
    monkeypatch: pytest.MonkeyPatch, strip: int
) -> None:
    monkeypatch.setattr(base, "PLANES_STRIP_PIXELS", strip)
    for rgb in images():
        planes, gray = base.planes_and_luminance(rgb)
        split = cv2.split(rgb)
        assert all(np.array_equal(mine, theirs) for mine, theirs in zip(planes, split, strict=True))
        assert np.array_equal(gray, base.luminance_of_planes(*split))
        # As the judges read them, whichever is asked for first.
        decoded = DecodedImage("g3", Decoded(rgb, rgb.shape[1], rgb.shape[0]))
        assert np.array_equal(decoded.gray, gray)
        assert all(np.array_equal(mine, theirs) for mine, theirs in zip(decoded.planes or (), split, strict=True))


def plain_jumps(gray: np.ndarray, axis: int) -> np.ndarray:
    after, before = (gray[:, 1:], gray[:, :-1]) if axis == 1 else (gray[1:], gray[:-1])
    return cv2.absdiff(after, before).mean(axis=1 - axis)


@pytest.mark.parametrize("rows", [1, 7, measures.LINE_JUMP_ROWS])
def test_line_jumps_read_a_band_at_a_time_are_the_whole_frame_s(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    monkeypatch.setattr(measures, "LINE_JUMP_ROWS", rows)
    for gray in [*grays(), np.float32([[3, 9, 4], [1, 0, 7]]), np.float32([[3, 5], [9, 2], [0, 1]])]:
        jumps = measures._LineJumps(gray)
        for axis in (0, 1):
            found, plain = jumps(axis), plain_jumps(gray, axis)
            assert found is not None and found.dtype == plain.dtype and np.array_equal(found, plain)
            assert jumps(axis) is found  # read once
    # A line of one pixel has no neighbour to jump to.
    assert measures._LineJumps(np.float32([[3, 9, 4]]))(0) is None
    assert measures._LineJumps(np.float32([[3], [9]]))(1) is None


def test_an_image_blown_up_from_a_small_one_is_still_found_pixelated() -> None:
    small = np.asarray(photo_scene(256, 3).resize((48, 40)))
    blown = cv2.resize(small, (48 * 7, 40 * 7), interpolation=cv2.INTER_NEAREST)
    found = measures.pixelation(base.luminance(blown), 100)
    assert found.effective == (48, 40) and found.block == 7.0


def longest_run(flat: np.ndarray, axis: int) -> int:
    lines = flat if axis == 1 else flat.T
    longest = 0
    for line in lines:
        edges = np.diff(np.concatenate([[0], line.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        longest = max(longest, int((ends - starts).max(initial=0)))
    return longest


def test_a_run_of_flat_pairs_is_found_where_the_plain_search_finds_it_past_the_aligned_block_shortcut() -> None:
    rng = np.random.default_rng(5)
    for share in (0.5, 0.97, 0.995, 0.9995):
        for run in (15, 16, 31, 33, 64, 100, 128, 255, 300):
            for shape in [(40, 300), (300, 40), (129, 257), (17, 1023), (1023, 17)]:
                flat = np.ascontiguousarray(rng.random(shape) < share)
                for axis in (0, 1):
                    plain = longest_run(flat, axis) >= run
                    assert measures._holds_run(flat, run, axis) == plain
                    # The shortcut only ever says no where there is no run.
                    assert measures._holds_aligned_block(flat, run, axis) or not plain


def plain_long_runs(flat: np.ndarray, least: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.diff(np.concatenate([[False], flat, [False]]).view(np.int8))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    keep = ends - starts >= least
    return starts[keep], ends[keep]


def test_long_flat_runs_are_those_of_every_run_listed() -> None:
    rng = np.random.default_rng(6)
    for share in (0.0, 0.3, 0.7, 0.95, 1.0):
        for size in (1, 2, 5, 6, 7, 40, 4097):
            for least in (1, 2, 3, 5, 8):
                flat = rng.random(size) < share
                flat[-1] = False
                found, plain = measures._long_flat_runs(flat, least), plain_long_runs(flat, least)
                assert np.array_equal(found[0], plain[0]) and np.array_equal(found[1], plain[1])


def test_staircase_rows_are_the_plain_ones() -> None:
    """The staircase read from the long runs only: the same stairs and steps as from every run, on scenes with a
    gradient drawn in steps too."""
    for rgb in images():
        stepped = (rgb // 16 * 16).astype(np.uint8)
        for image in (rgb, stepped):
            pixels_on, steps = measures._staircase_rows(image)
            assert (pixels_on, steps.tolist()) == plain_staircase_rows(image)


def plain_staircase_rows(image: np.ndarray) -> tuple[int, list[int]]:
    height, width, _ = image.shape
    red, green, blue = cv2.split(cv2.absdiff(image[:, 1:], image[:, :-1]))
    flat = np.zeros((height, width), dtype=bool)
    flat[:, :-1] = cv2.max(cv2.max(red, green), blue) <= measures.BAND_FLAT
    starts, ends = plain_long_runs(flat.ravel(), measures.BAND_MIN_RUN - 1)
    length = ends - starts + 1
    if len(starts) < 3:
        return 0, []
    flat_pixels = image.reshape(-1, 3)
    jump = flat_pixels[starts[1:]].astype(np.int32) - flat_pixels[ends[:-1]]
    size = np.abs(jump).max(axis=-1)
    direction = np.sign(jump.sum(axis=-1))
    step = (
        (starts[1:] // width == starts[:-1] // width)
        & (starts[1:] - ends[:-1] <= measures.BAND_MAX_GAP)
        & (size >= measures.BAND_MIN_STEP)
        & (size <= measures.BAND_MAX_STEP)
    )
    step &= measures._passes_straight(flat_pixels, ends[:-1], starts[1:], size)
    stair = step[:-1] & step[1:] & (direction[:-1] == direction[1:])
    return int(length[1:-1][stair].sum()), size[step].tolist()


def test_the_median_of_a_spectrum_band_is_numpy_s() -> None:
    rng = np.random.default_rng(7)
    for count in range(1, 80):
        for scale in (1e-6, 1.0, 1e9):
            values = rng.random(count) * scale
            assert measures._median(values) == float(np.median(values))
            ties = np.round(values / scale * 4)
            assert measures._median(ties) == float(np.median(ties))


def test_exposure_from_the_split_planes_is_the_exposure_of_the_image() -> None:
    for rgb in images():
        gray = base.luminance(rgb)
        bright = np.clip(rgb.astype(np.int16) + 120, 0, 255).astype(np.uint8)  # clipped and bleached areas
        for image, luminance in ((rgb, gray), (bright, base.luminance(bright))):
            assert measures.exposure(luminance, image, tuple(cv2.split(image))) == measures.exposure(luminance, image)


def test_exposure_s_histogram_is_numpy_s_count_of_the_rounded_levels() -> None:
    """The levels' mean and percentiles read from OpenCV's count are those of numpy's bincount."""
    for rgb in images():
        gray = base.luminance(rgb)
        sample = measures.strided(gray, measures.BANDING_SIDE)
        histogram = np.bincount(np.clip(np.rint(sample), 0, 255).astype(np.uint8).ravel(), minlength=256)
        cdf = np.cumsum(histogram) / histogram.sum()
        found = measures.exposure(gray, rgb)
        assert found.highlight == float(np.searchsorted(cdf, 0.999))
        assert found.shadow == float(np.searchsorted(cdf, 0.001))
        assert found.median == float(np.searchsorted(cdf, 0.5))
        if not found.backdrop:
            assert found.mean == round(float((histogram * np.arange(256)).sum() / histogram.sum()), 1)


def sharp(rgb: np.ndarray) -> pixels.Outcome:
    source = ImageSource("g3-sharp", "image/png", lambda: b"", 10**9)
    ctx = JudgeContext(image=source, params={})
    ctx.memo("image", lambda: DecodedImage(source.sha256, Decoded(rgb, rgb.shape[1], rgb.shape[0])))
    return pixels.sharp(ctx, pixels.SharpSettings())


def test_a_dim_picture_is_still_read_as_if_its_brightest_parts_were_white() -> None:
    """The brightest 0.1% is read only for a picture dark on average: a dim one's detail is still scaled up."""
    scene = np.asarray(photo_scene(512, 1))
    dim = (scene.astype(np.float32) * 0.25).astype(np.uint8)
    outcome = sharp(dim)
    assert outcome.passed and "read as if its brightest parts" in outcome.detail
    assert "read as if" not in sharp(scene).detail
