"""The pixels judge's own working memory, outside the decode budget, stays near the luminance it shares between its
checks: a 6 MP photograph's not_blank and noise checks once held 63 and 68 MiB above the luminance's (its three
planes split, float32 copies of the whole frame), all the checks together 93 MiB, and a 40 MP upload 122 MiB, so
eight such uploads at once took a server ~450 MB past its decode budget. Peaks are traced with tracemalloc, which
counts NumPy's and OpenCV's arrays: deterministic, whatever the machine's speed."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from sentinel.evaluation.judges import pixels
from sentinel.evaluation.judges.base import DecodedImage, ImageSource, JudgeContext
from sentinel.store.images import Decoded

MiB = 1 << 20


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like frame: a sky gradient over textured ground, a few flat-coloured objects, sensor grain."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    picture = np.empty((height, width, 3), np.float32)
    picture[:] = np.float32([60, 110, 190]) + np.float32([150, 110, 40]) * rows
    horizon = height // 2
    ground = rng.normal(0, 14, (height - horizon, width, 1)).astype(np.float32)
    picture[horizon:] = np.float32([90, 115, 60]) + ground
    for _ in range(6):
        top, left = int(rng.integers(0, height - height // 8)), int(rng.integers(0, width - width // 8))
        picture[top : top + height // 10, left : left + width // 12] = rng.uniform(40, 220, 3)
    picture += rng.normal(0, 3, (height, width, 1)).astype(np.float32)
    return np.clip(picture, 0, 255).astype(np.uint8)


def context(decoded: Decoded) -> JudgeContext:
    source = ImageSource(f"h2-{decoded.width}x{decoded.height}", "image/png", lambda: b"", 10**9)
    ctx = JudgeContext(image=source, params={"width": decoded.width, "height": decoded.height})
    ctx.memo("image", lambda: DecodedImage(source.sha256, decoded))
    return ctx


def peak_above(run: Callable[[], object]) -> float:
    """MiB ``run`` allocates at its peak above what was held before it."""
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        run()
        return (tracemalloc.get_traced_memory()[1] - held) / MiB
    finally:
        tracemalloc.stop()


def run_checks(ctx: JudgeContext, *names: str) -> None:
    for name in names or tuple(pixels.kind.checks):
        check = pixels.kind.checks[name]
        check.run(ctx, check.settings_model())


@pytest.fixture(scope="module")
def six_megapixels() -> Decoded:
    rgb = photo(2000, 3000)
    return Decoded(rgb, 3000, 2000)


@pytest.fixture(scope="module")
def forty_megapixels() -> Decoded:
    """A 7744×5164 upload as the decode keeps it past the analysis limit: a copy reduced 3×, a 2 MP full-resolution
    centre crop, every 8th full-resolution row and column (luminance, uint8)."""
    width, height = 7744, 5164
    reduced = photo(-(-height // 3), -(-width // 3), seed=1)
    detail = photo(1152, 1728, seed=2)
    luma = reduced[..., 1]
    rows = cv2.resize(luma, (width, -(-height // 8)), interpolation=cv2.INTER_NEAREST)
    columns = cv2.resize(luma, (-(-width // 8), height), interpolation=cv2.INTER_NEAREST)
    return Decoded(reduced, width, height, detail, rows, columns)


def luminance_mib(decoded: Decoded) -> float:
    """The float32 luminance the checks share (of the analysis copy, and of the detail crop when there is one)."""
    pixels_ = decoded.rgb.shape[0] * decoded.rgb.shape[1]
    if decoded.detail is not None:
        pixels_ += decoded.detail.shape[0] * decoded.detail.shape[1]
    return 4 * pixels_ / MiB


def test_not_blank_on_a_6_mp_photo_holds_its_luminance_and_little_more(six_megapixels: Decoded) -> None:
    ctx = context(six_megapixels)
    peak = peak_above(lambda: run_checks(ctx, "not_blank"))
    # The luminance (22.9 MiB) is computed a strip at a time into its own array: 63 MiB before.
    assert peak < luminance_mib(six_megapixels) + 8, f"not_blank peaked {peak:.1f} MiB above the decode"


def test_noise_on_a_6_mp_photo_filters_a_band_of_it_at_a_time(six_megapixels: Decoded) -> None:
    ctx = context(six_megapixels)
    assert ctx.decoded.gray.size  # shared with the other checks, computed by the first that needs it
    peak = peak_above(lambda: run_checks(ctx, "noise"))
    # Three float32 copies of the frame before (the crop, the filter's response, its magnitude): 68 MiB.
    assert peak < 8, f"noise peaked {peak:.1f} MiB above the shared luminance"


def test_every_pixel_check_of_a_6_mp_photo_together(six_megapixels: Decoded) -> None:
    ctx = context(six_megapixels)
    peak = peak_above(lambda: run_checks(ctx))
    assert peak < luminance_mib(six_megapixels) + 16, f"the pixel checks peaked {peak:.1f} MiB above the decode"


def test_every_pixel_check_of_a_40_mp_upload_together(forty_megapixels: Decoded) -> None:
    ctx = context(forty_megapixels)
    peak = peak_above(lambda: run_checks(ctx))
    # Before: the luminance's planes and copies (47 MiB), float32 copies of the sampled full-resolution lines kept
    # for the whole evaluation (40 MiB) and three more copies of them looking for gutters: 122 MiB.
    assert peak < luminance_mib(forty_megapixels) + 16, f"the pixel checks peaked {peak:.1f} MiB above the decode"


def test_the_tiling_check_of_a_40_mp_upload_reads_its_sampled_lines_as_they_were_kept(
    forty_megapixels: Decoded,
) -> None:
    ctx = context(forty_megapixels)
    assert ctx.decoded.gray.size
    peak = peak_above(lambda: run_checks(ctx, "tiling"))
    assert peak < 8, f"tiling peaked {peak:.1f} MiB above the shared luminance"
