"""The pixels judge's measures read in strips, bands and chunks (to bound their working memory) and its shortcuts
for photographs (no labelling, no streak search where no run of flat pixels is long enough) give exactly the numbers
of the plain whole-frame definitions they were calibrated with: a customer's verdicts and measured values do not
move. The strip sizes are shrunk here so that every image is read in many pieces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sentinel.evaluation.judges import base, pixels
from sentinel.evaluation.judges import pixel_measures as measures
from sentinel.evaluation.judges.base import DecodedImage, ImageSource, JudgeContext
from sentinel.store.images import Decoded
from tests.judges.test_pixel_working_memory import photo

SHAPES = [(64, 64), (97, 130), (200, 71), (257, 333), (513, 260)]


def images() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    found = []
    for height, width in SHAPES:
        found.append(photo(height, width, seed=height))
        found.append(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return found


def plain_luminance(rgb: np.ndarray) -> np.ndarray:
    gray = np.multiply(rgb[..., 0], base.LUMA[0], dtype=np.float32)
    gray += np.multiply(rgb[..., 1], base.LUMA[1], dtype=np.float32)
    gray += np.multiply(rgb[..., 2], base.LUMA[2], dtype=np.float32)
    return gray


@pytest.mark.parametrize("strip", [1, 1000, 1 << 18])
def test_luminance_read_in_strips_is_the_whole_frame_s(monkeypatch: pytest.MonkeyPatch, strip: int) -> None:
    monkeypatch.setattr(base, "LUMINANCE_STRIP_PIXELS", strip)
    for rgb in images():
        assert np.array_equal(base.luminance(rgb), plain_luminance(rgb))
        assert np.array_equal(base.luminance_of_planes(*cv2.split(rgb)), plain_luminance(rgb))


def plain_immerkaer(image: np.ndarray, tile: int) -> np.ndarray:
    response = cv2.absdiff(cv2.sepFilter2D(image, cv2.CV_32F, np.float32([1, -2, 1]), np.float32([1, -2, 1])), 0.0)
    means = cv2.resize(response, (image.shape[1] // tile, image.shape[0] // tile), interpolation=cv2.INTER_AREA)
    return np.float32(np.sqrt(np.pi / 2) / 6) * means


@pytest.mark.parametrize("strip", [1, 5000, 1 << 19])
def test_noise_maps_read_a_band_at_a_time_are_the_whole_frame_s(monkeypatch: pytest.MonkeyPatch, strip: int) -> None:
    monkeypatch.setattr(measures, "NOISE_STRIP_PIXELS", strip)
    t = measures.NOISE_TILE
    for rgb in images():
        gray = base.luminance(rgb)
        rows, cols = gray.shape[0] // t, gray.shape[1] // t
        image = np.ascontiguousarray(gray[: rows * t, : cols * t])
        half = cv2.resize(image, (cols * t // 2, rows * t // 2), interpolation=cv2.INTER_AREA)
        quarter = cv2.resize(half, (cols * t // 4, rows * t // 4), interpolation=cv2.INTER_AREA)
        fine, coarse, coarser, brightness = measures._noise_maps(gray[: rows * t, : cols * t], t)
        assert np.array_equal(fine, plain_immerkaer(image, t))
        assert np.array_equal(coarse, plain_immerkaer(half, t // 2))
        assert np.array_equal(coarser, plain_immerkaer(quarter, t // 4))
        assert np.array_equal(brightness, cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA))


def plain_seam_coverage(lines: np.ndarray, first: int, last: int) -> np.ndarray:
    jumps = np.abs(np.diff(lines[:, first:last].astype(np.float32), axis=1))
    beside = (jumps[:, :-2] + jumps[:, 2:]) / 2
    return (jumps[:, 1:-1] > 2 * beside + 2).mean(axis=0)


def plain_line_levels(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lines = lines.astype(np.float32)
    samples = lines.shape[0]
    level = np.partition(np.ascontiguousarray(lines.T), samples // 2, axis=1)[:, samples // 2]
    flat = (np.abs(lines - level) <= measures.GUTTER_TOLERANCE).mean(axis=0) >= measures.GUTTER_UNIFORM
    return level, flat


def sampled_lines(rgb: np.ndarray) -> list[np.ndarray]:
    """A frame's every 8th row and column as the checks get them: float32 views of the luminance, or (a reduced
    image's) the uint8 lines the decode kept."""
    gray = base.luminance(rgb)
    eight = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    return [gray[::8], gray.T[::8], eight[::8], np.ascontiguousarray(eight[:, ::8]).T]


@pytest.mark.parametrize("chunk", [1, 700, 1 << 18])
def test_lines_read_a_chunk_at_a_time_are_the_whole_lines_read_as_float32(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(measures, "SEAM_CHUNK_SAMPLES", chunk)
    monkeypatch.setattr(measures, "GUTTER_CHUNK_SAMPLES", chunk)
    for rgb in images():
        for lines in sampled_lines(rgb):
            length = lines.shape[1]
            for first, last in ((0, length), (length // 3, length // 2 + 4)):
                if last - first > 3:
                    expected = plain_seam_coverage(lines, first, last)
                    assert np.array_equal(measures._seam_coverage(lines, first, last), expected)
            level, flat = measures._line_levels(lines)
            expected_level, expected_flat = plain_line_levels(lines)
            assert np.array_equal(level, expected_level) and np.array_equal(flat, expected_flat)


def test_seams_and_gutters_of_the_uint8_lines_kept_are_those_of_their_float32_copies() -> None:
    for rgb in images():
        sheet = rgb.copy()
        sheet[:, sheet.shape[1] // 2 - 2 : sheet.shape[1] // 2 + 2] = 255
        sheet[sheet.shape[0] // 3 :, : sheet.shape[1] // 2] //= 2
        _, _, rows, columns = sampled_lines(sheet)
        copies = rows.astype(np.float32), columns.astype(np.float32)
        assert measures.seam_in_lines(rows, columns) == measures.seam_in_lines(*copies)
        assert measures.gutters(rows, columns) == measures.gutters(*copies)


def plain_blocks(flat_right: np.ndarray, flat_down: np.ndarray) -> tuple[float, int]:
    """The flat blocks as measured before: every 2×2 cell labelled, each component tested."""
    flat = flat_right[:-1] & flat_down[:, :-1]
    height, width = flat.shape[0] // 2, flat.shape[1] // 2
    flat = flat[: 2 * height, : 2 * width]
    flat = flat[0::2, 0::2] & flat[1::2, 0::2] & flat[0::2, 1::2] & flat[1::2, 1::2]
    stats = cv2.connectedComponentsWithStats(flat.view(np.uint8), connectivity=4)[2][1:]
    textured = ~flat
    widths, heights, areas = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    kept = (
        (np.minimum(widths, heights) >= measures.BLOCK_MIN_SIDE // 2)
        & (areas >= measures.BLOCK_FILL * widths * heights)
        & (widths < 0.9 * width)
        & (heights < 0.9 * height)
    )
    covered, found = 0, 0
    outer = measures.BLOCK_RING_GAP + measures.BLOCK_RING_WIDTH
    for x, y, w, h, area in stats[kept].tolist():
        top, left = max(0, y - outer), max(0, x - outer)
        window = textured[top : min(height, y + h + outer), left : min(width, x + w + outer)]
        ring = np.ones(window.shape, dtype=bool)
        gap = measures.BLOCK_RING_GAP
        ring[max(0, y - gap - top) : y + h + gap - top, max(0, x - gap - left) : x + w + gap - left] = False
        if ring.any() and window[ring].mean() >= measures.BLOCK_RING_TEXTURED:
            covered += area
            found += 1
    return covered / (height * width), found


def holed_block(cells_wide: int, cells_high: int) -> np.ndarray:
    """Where a frame of textured pixels is flat (towards the right and downwards) around one flat block of
    ``cells_wide`` × ``cells_high`` 2×2 cells holed as much as a block may be (BLOCK_FILL of its box): each row holds
    its share of holes spread evenly, so its runs are as short as a block's get (the holes shift by two cells from
    row to row, so the block stays one area)."""
    cells = np.zeros((cells_high + 20, cells_wide + 20), bool)
    block = cells[10 : 10 + cells_high, 10 : 10 + cells_wide]
    block[:] = True
    holes = int((1 - measures.BLOCK_FILL) * cells_wide + 1e-9)
    fill = measures.BLOCK_FILL
    if (cells_wide - holes) * cells_high < max(fill * cells_wide * cells_high, fill * cells_high * cells_wide):
        holes -= 1  # the share, as the measure multiplies it (across, then down, or turned), falls a hair short
    for row in range(cells_high):
        for hole in range(holes):
            block[row, (hole + 1) * cells_wide // (holes + 1) - 2 * (row % 2)] = False
    return np.repeat(np.repeat(cells, 2, axis=0), 2, axis=1)


def damage_masks(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    planes = cv2.split(rgb)
    right, down = measures._changes(planes, 1), measures._changes(planes, 0)
    return right <= measures.DAMAGE_FLAT, down <= measures.DAMAGE_FLAT


def test_flat_blocks_looked_for_only_past_a_long_enough_run_are_the_labelled_ones() -> None:
    for cells_wide in range(measures.BLOCK_MIN_SIDE // 2, 80):
        for cells_high in (measures.BLOCK_MIN_SIDE // 2, 13, 40):
            for flat in (holed_block(cells_wide, cells_high), holed_block(cells_wide, cells_high).T):
                masks = flat[:, :-1], flat[:-1]
                found = plain_blocks(*masks)
                assert found[1] == 1  # the most holed block still counts
                assert measures._blocks(*masks) == found
    for rgb in images():
        for pasted in range(3):
            broken = rgb.copy()
            rng = np.random.default_rng(pasted)
            for _ in range(pasted * 3):
                top, left = rng.integers(0, rgb.shape[0] - 12), rng.integers(0, rgb.shape[1] - 12)
                side = int(rng.integers(12, 60))
                broken[top : top + side, left : left + side] = rng.integers(0, 256, 3)
            masks = damage_masks(broken)
            assert measures._blocks(*masks) == plain_blocks(*masks)


def test_a_run_of_flat_pairs_is_found_where_the_plain_search_finds_it() -> None:
    rng = np.random.default_rng(3)
    for share in (0.3, 0.8, 0.95, 0.99):
        for run in (6, 8, 13, 64, 128):
            flat = rng.random((40, 300)) < share
            for axis in (0, 1):
                lines = flat if axis == 1 else flat.T
                longest = max(max((len(r) for r in "".join("1" if v else "0" for v in line).split("0")), default=0)
                              for line in lines)  # fmt: skip
                assert measures._holds_run(np.ascontiguousarray(flat), run, axis) == (longest >= run)


def test_a_photograph_s_broken_regions_check_labels_no_flat_areas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Labelling the flat areas was most of the check's time (1.5 ms of CPU on a 1024² photo); a photograph's grain
    leaves no run of flat cells a block needs, and its verdict is told without it."""
    labelled: list[int] = []
    label = cv2.connectedComponentsWithStats

    def counting(*args: object, **kwargs: object) -> object:
        labelled.append(1)
        return label(*args, **kwargs)

    monkeypatch.setattr(cv2, "connectedComponentsWithStats", counting)
    rgb = photo(1024, 1024, seed=5)
    source = ImageSource("h2-photo", "image/png", lambda: b"", 10**9)
    ctx = JudgeContext(image=source, params={})
    ctx.memo("image", lambda: DecodedImage(source.sha256, Decoded(rgb, 1024, 1024)))
    check = pixels.kind.checks["broken_regions"]
    outcome = check.run(ctx, check.settings_model())
    assert outcome.passed and not labelled
    broken = rgb.copy()
    for top, left in ((100, 100), (300, 600), (700, 200), (800, 800)):
        broken[top : top + 150, left : left + 150] = (10, 200, 30)
    ctx = JudgeContext(image=source, params={})
    ctx.memo("image", lambda: DecodedImage(source.sha256, Decoded(broken, 1024, 1024)))
    outcome = check.run(ctx, check.settings_model())
    assert not outcome.passed and labelled


def plain_flat_bands(gray: np.ndarray) -> list[measures.FlatBand]:
    """The edge bands as measured before: every line of a side (up to the deepest band) compared with its colour."""
    bands = []
    for side in measures.SIDES:
        lines = measures._lines_from(gray, side)
        count = lines.shape[0]
        if count < measures.BAND_MIN_LINES:
            continue
        reach = int(count * measures.MAX_BAND_DEPTH) + 1
        colour = float(np.median(lines[:3]))
        deviation = np.abs(lines[: min(count, reach + measures.EDGE_SEARCH)] - colour)
        uniform = (deviation <= measures.BAND_TOLERANCE).mean(axis=1) >= measures.BAND_UNIFORM
        depth = int(np.argmin(uniform)) if not uniform.all() else uniform.size
        if depth == 0 or depth >= reach:
            continue
        inner = deviation[depth : depth + measures.EDGE_SEARCH]
        straight = float((inner > measures.EDGE_CONTRAST).mean(axis=1).max()) if inner.size else 0.0
        soft = measures._soft(inner)
        bands.append(measures.FlatBand(side, round(depth / count, 4), round(colour, 1), round(straight, 3), soft))
    return bands


def test_edge_bands_found_line_by_line_from_the_edge_are_those_of_the_whole_side() -> None:
    for rgb in images():
        for top, left, bottom in ((0, 0, 0), (9, 0, 0), (20, 13, 0), (40, 40, 40)):
            framed = rgb.copy()
            framed[:top], framed[:, :left] = (0, 0, 0), (0, 0, 0)
            framed[framed.shape[0] - bottom :] = (250, 250, 250)
            if bottom:  # a band that fades in, as a cast shadow does
                framed[-bottom - 8 : -bottom] = np.linspace(250, 120, 8, dtype=np.uint8)[:, None, None]
            gray = base.luminance(framed)
            for side in (64, 512):
                thumbnail = measures.box_downscale(gray, side)
                assert measures.flat_bands(thumbnail) == plain_flat_bands(thumbnail)
        flat = np.full_like(rgb, 128)  # uniform to the deepest band looked for
        assert measures.flat_bands(base.luminance(flat)) == plain_flat_bands(base.luminance(flat))
