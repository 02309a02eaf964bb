"""The pixels judge's cheaper paths measure exactly what the plain definitions did: a run of flat pairs found by
doubling windows is the morphological opening the streak measure was calibrated with (OpenCV's anchor shift for an
even run included), the noise read region by region in blocks is the per-region loop's, the blown-up pixel grid is
read from the same jumps, and a near-uniform image is still caught when the near-median share is skipped for images
whose luminance varies too much to hold one. A customer's verdicts and measured values do not move."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sentinel.evaluation.judges import pixel_measures as measures
from sentinel.evaluation.judges import pixels
from sentinel.evaluation.judges.base import ImageSource, JudgeContext, luminance
from sentinel.store.images import decoded_pixels, sha256_of
from tests.judges.test_judge_pixels_unchanged import png


def opening(flat: np.ndarray, run: int) -> np.ndarray:
    """The plain definition: OpenCV's opening by a 1×run line, border 0."""
    kernel = np.ones((1, run), dtype=np.uint8)
    return cv2.morphologyEx(flat, cv2.MORPH_OPEN, kernel, borderValue=0)


@pytest.mark.parametrize("run", [8, 9, 16, 37, 64, 128, 129])
def test_long_runs_are_the_opening_the_streaks_were_calibrated_with(run: int) -> None:
    rng = np.random.default_rng(run)
    for share in (0.5, 0.9, 0.97, 0.995):
        flat = (rng.random((40, 3 * run + 5)) < share).astype(np.uint8)
        flat[0] = 1  # a run from edge to edge
        flat[1, :run] = 1  # one at the start of its row, exactly ``run`` long
        flat[1, run] = 0
        flat[2, -run:] = 1  # one at the end of its row
        flat[2, -run - 1] = 0
        assert np.array_equal(measures._long_runs(flat, run), opening(flat, run))
    short = np.ones((3, run - 1), dtype=np.uint8)
    assert not measures._long_runs(short, run).any()


def plain_streak_share(along: np.ndarray, across: np.ndarray, axis: int) -> float:
    """The streak share by its plain definition: an opening over every line, then every line's streak."""
    lines, length = (along.shape[0], along.shape[1] + 1) if axis == 1 else (along.shape[1], along.shape[0] + 1)
    run = max(8, round(length * measures.STREAK_MIN_RUN))
    flat = (along <= measures.DAMAGE_FLAT).view(np.uint8)
    kernel = np.ones((1, run) if axis == 1 else (run, 1), dtype=np.uint8)
    long_run = cv2.morphologyEx(flat, cv2.MORPH_OPEN, kernel, borderValue=0).astype(bool)
    textured = flat == 0
    if axis == 1:
        differs = across[:, :-1] > measures.STREAK_CONTRAST
    else:
        long_run, textured, differs = long_run.T, textured.T, (across[:-1] > measures.STREAK_CONTRAST).T
    streak = np.zeros_like(long_run)
    streak[1:] |= long_run[1:] & differs & textured[:-1]
    streak[:-1] |= long_run[:-1] & differs & textured[1:]
    # A line of a smeared area: a different colour from the lines on both sides of it.
    streak[1:-1] |= long_run[1:-1] & differs[:-1] & differs[1:]
    return float(np.count_nonzero(streak.sum(axis=1) >= run) / lines)


def streaked(height: int, width: int, seed: int) -> np.ndarray:
    """A noisy picture with rows and columns smeared into flat colour, flat blocks and a flat band."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for _ in range(12):
        row, col = rng.integers(0, height), rng.integers(0, width)
        rgb[row, col : col + rng.integers(1, width)] = rng.integers(0, 256, 3)
        rgb[row : row + rng.integers(1, height), col] = rng.integers(0, 256, 3)
        side = rng.integers(6, 40)
        rgb[row : row + side, col : col + side] = rng.integers(0, 256, 3)
    rgb[: height // 6] = (20, 20, 20)
    return rgb


@pytest.mark.parametrize(("height", "width"), [(64, 64), (97, 130), (200, 71), (256, 256)])
def test_streak_shares_are_the_plain_definitions(height: int, width: int) -> None:
    for seed in range(6):
        rgb = streaked(height, width, seed)
        planes = cv2.split(rgb)
        right, down = measures._changes(planes, 1), measures._changes(planes, 0)
        signed = rgb.astype(np.int16)
        assert np.array_equal(right, np.abs(np.diff(signed, axis=1)).max(axis=2))
        assert np.array_equal(down, np.abs(np.diff(signed, axis=0)).max(axis=2))
        flat_right, flat_down = right <= measures.DAMAGE_FLAT, down <= measures.DAMAGE_FLAT
        assert measures._streak_share(flat_right, down, 1) == plain_streak_share(right, down, 1)
        assert measures._streak_share(flat_down, right, 0) == plain_streak_share(down, right, 0)


def test_a_picture_smeared_into_streaks_still_reads_as_streaks() -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    rgb[::7] = rgb[::7, :1]  # every 7th row smeared into its first pixel's colour
    found = measures.flat_damage(rgb)
    assert found.streak_direction == "rows"
    assert found.streaks == round(plain_streak_share(*_right_down(rgb), 1), 4)
    assert found.streaks > 0.1


def _right_down(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    signed = rgb.astype(np.int16)
    right = np.abs(np.diff(signed, axis=1)).max(axis=2).astype(np.uint8)
    down = np.abs(np.diff(signed, axis=0)).max(axis=2).astype(np.uint8)
    return right, down


def plain_regional_noise(noise: np.ndarray, coarse: np.ndarray) -> tuple[float, float]:
    """The regional noise as it was first written: one region at a time."""
    rows, cols = noise.shape
    down = max(1, min(measures.NOISE_REGIONS, rows // measures.NOISE_REGION_TILES))
    across = max(1, min(measures.NOISE_REGIONS, cols // measures.NOISE_REGION_TILES))
    levels = []
    for ys in np.array_split(np.arange(rows), down):
        for xs in np.array_split(np.arange(cols), across):
            region, flat = noise[np.ix_(ys, xs)].ravel(), coarse[np.ix_(ys, xs)].ravel()
            count = max(1, round(region.size * measures.NOISE_PERCENTILE / 100))
            levels.append(float(np.median(region[np.argsort(flat)[:count]])))
    ranked = np.sort(levels)[::-1]
    patch = float(ranked[max(1, ranked.size // 16) - 1])
    return round(patch, 2), round(float(np.mean(ranked >= measures.NOISE_PATCH_LEVEL)), 4)


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (3, 5), (4, 4), (17, 33), (32, 32), (37, 50), (64, 23)])
def test_regional_noise_read_in_blocks_is_the_per_region_loop(rows: int, cols: int) -> None:
    rng = np.random.default_rng(rows * 100 + cols)
    noise = (rng.random((rows, cols)) * 20).astype(np.float32)
    coarse = (rng.random((rows, cols)) * 5).astype(np.float32)
    coarse[: rows // 2] = 0  # ties among the flattest tiles
    assert measures._regional_noise(noise, coarse) == plain_regional_noise(noise, coarse)


def test_grid_lines_read_the_same_jumps() -> None:
    rng = np.random.default_rng(9)
    small = rng.integers(0, 256, (40, 30)).astype(np.float32)
    gray = np.kron(small, np.ones((7, 9), dtype=np.float32)) + rng.normal(0, 0.5, (280, 270)).astype(np.float32)
    for axis in (0, 1):
        jumps = np.abs(np.diff(gray, axis=axis)).mean(axis=1 - axis)
        after, before = (gray[:, 1:], gray[:, :-1]) if axis == 1 else (gray[1:], gray[:-1])
        assert np.array_equal(cv2.absdiff(after, before).mean(axis=1 - axis), jumps)
    found = measures.pixelation(gray, 100)
    assert found.effective == (30, 40)


def not_blank(rgb: np.ndarray) -> pixels.Outcome:
    data = png_bytes(rgb)
    decoded_pixels.clear()
    ctx = JudgeContext(ImageSource(sha256_of(data), "image/png", lambda: data, 10**8), params={})
    return pixels.not_blank(ctx, pixels.NotBlankSettings())


def png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    return png(Image.fromarray(rgb))


@pytest.mark.parametrize("outliers", [0.0, 0.001, 0.003, 0.0045])
def test_a_near_uniform_image_with_extreme_outliers_is_still_near_uniform(outliers: float) -> None:
    # 99.5%+ of the pixels at one grey, the rest black and white: as varied as a near-uniform image can be.
    rgb = np.full((400, 500, 3), 128, dtype=np.uint8)
    count = round(outliers * rgb.shape[0] * rgb.shape[1])
    flat = rgb.reshape(-1, 3)
    flat[:count:2] = 0
    flat[1:count:2] = 255
    flat[count : count + 4000] = 131  # within the tolerance of the median
    outcome = not_blank(rgb)
    assert not outcome.passed
    gray = luminance(rgb)
    if outliers:
        assert "near-uniform" in outcome.detail
        share = pixels.near_share(gray, float(np.median(gray)), 6)
        assert outcome.measured == round(share, 4)


def test_a_varied_photo_is_not_blank_without_its_median() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    outcome = not_blank(rgb)
    assert outcome.passed
    assert outcome.measured == round(float(luminance(rgb).std()), 2)
