"""Numeric measures behind the ``pixels`` judge's defect detectors, as pure functions on numpy arrays.

Each measure is calibrated on real photographs (the ``skimage.data`` samples, crops and upscales of them, the
fixtures) against the same photographs with a defect planted at graded strength, before and after JPEG
quality-90 re-encoding. The numbers quoted in the docstrings are from that calibration; the checks in
:mod:`sentinel.evaluation.judges.pixels` turn them into verdicts.

Inputs are an ``rgb`` array (H×W×3 uint8) or a ``gray`` luminance array (H×W float32, 0..255). OpenCV does
the filtering and area averaging: numpy's reductions over small axes cost ten times as much.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

# OpenCV is imported inside the measures that use it: the API process loads this module (the pixels judge's checks
# validate rubrics) but never measures, and importing OpenCV costs it ~35 MB of memory and a slower start.


def box_downscale(gray: np.ndarray, side: int) -> np.ndarray:
    """Average ``gray`` over square blocks so its longest side is at most ``side`` (no resampling artefacts).

    A side shorter than one block (a strip thinner than the step) is averaged whole into one pixel, not dropped.
    """
    import cv2

    step = max(1, -(-max(gray.shape[:2]) // side))
    source = gray.astype(np.float32, copy=False)
    if step == 1:
        return source
    h, w = max(1, gray.shape[0] // step), max(1, gray.shape[1] // step)
    return cv2.resize(source[: h * step, : w * step], (w, h), interpolation=cv2.INTER_AREA)


#: Distance in pixels (of the analysis copy) over which :func:`edge_contrast` reads a picture's changes: wide enough
#: that an edge blurred over a few pixels still shows its full step.
EDGE_DISTANCE = 8
#: Side of the squares averaged before the changes are read, so that grain (a level or two per pixel) does not
#: read as an edge.
EDGE_AVERAGE = 4


def edge_contrast(gray: np.ndarray) -> float:
    """The brightest 0.1% of the changes of ``gray`` over EDGE_DISTANCE px, across or down, averaged over
    EDGE_AVERAGE px squares: how strong the strongest edges of the picture are, however soft."""
    if gray.size == 0:
        return 0.0
    small = box_downscale(gray, max(1, max(gray.shape) // EDGE_AVERAGE))
    d = max(1, EDGE_DISTANCE // EDGE_AVERAGE)
    if min(small.shape) <= d:
        return float(np.ptp(gray))
    across = np.abs(small[:-d, d:] - small[:-d, :-d])
    down = np.abs(small[d:, :-d] - small[:-d, :-d])
    return float(np.percentile(np.maximum(across, down), 99.9))


def colour_edge_contrast(rgb: np.ndarray, side: int = 1024) -> float:
    """The brightest 0.1% of the changes over EDGE_DISTANCE px, across or down, of the luminance and the chroma
    planes (the strongest), read between neighbouring squares of EDGE_DISTANCE px of a copy of ``rgb`` (H×W×3
    uint8) as a picture analysed at ``side`` px would be: a cheap reading of whether a picture has any edge at all,
    in its brightness or its colours (:func:`edge_contrast`, on squares twice as wide)."""
    import cv2

    height, width = rgb.shape[:2]
    scale = min(1.0, side / max(height, width)) / EDGE_DISTANCE
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if min(size) < 2:
        return float(np.ptp(rgb))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], 3).astype(np.float32)
    red, blue = chroma_planes(small)
    changes = []
    for plane in (small @ np.array(_LUMA, dtype=np.float32), red, blue):
        changes.append(np.maximum(np.abs(plane[:-1, 1:] - plane[:-1, :-1]), np.abs(plane[1:, :-1] - plane[:-1, :-1])))
    strongest = np.maximum(np.maximum(changes[0], changes[1]), changes[2]).ravel()
    top = strongest.size - 1 - strongest.size // 1000
    return float(np.partition(strongest, top)[top])


def strided(array: np.ndarray, side: int) -> np.ndarray:
    """Every n-th pixel so the longest side is at most ``side``: keeps exact values (plateaus, steps, noise)."""
    step = max(1, -(-max(array.shape[:2]) // side))
    return array[::step, ::step]


# --------------------------------------------------------------------------------------------------------------
# Colour content (a picture of colours of one brightness)
# --------------------------------------------------------------------------------------------------------------

#: Longest side of the box-averaged copy the chroma spread is read on, and the fewest pixels averaged each way:
#: pixel noise (colour noise of 5 levels a channel reads 1.2 after a 4×4 average) cannot pass for colours, while
#: the shapes of a picture (letters, a ball, a background) keep theirs.
CHROMA_SIDE = 256
CHROMA_BOX = 4
#: Longest side of the exact-valued (strided) copy the share near one colour is read on: averaging would spread a
#: few scattered outliers over whole blocks.
CHROMA_DOMINANT_SIDE = 256
#: ITU-R 601 luminance weights, as the judges' luminance reads them.
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class ChromaMeasure:
    #: Standard deviation (levels of 0-255) of the chroma plane (red or blue minus the luminance) that varies most,
    #: on a copy box-averaged over at least CHROMA_BOX px each way.
    spread: float
    #: Standard deviation of the luminance of that copy: what the brightness carries beside the colours.
    luminance: float


def chroma_planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Red and blue minus the luminance (float32): zero on every grey, whatever its brightness."""
    red, green, blue = (rgb[..., channel].astype(np.float32) for channel in range(3))
    luma = red * _LUMA[0] + green * _LUMA[1] + blue * _LUMA[2]
    return red - luma, blue - luma


def chroma(rgb: np.ndarray) -> ChromaMeasure:
    """How much an image's colour varies apart from its brightness: red text on a green sign of the same
    luminance, a red ball on a green lawn, differ here while their luminance is one flat value. A grey image
    (any brightness, any noise) reads 0. ``rgb``: H×W×3 uint8."""
    import cv2

    height, width = rgb.shape[:2]
    step = max(CHROMA_BOX, -(-max(height, width) // CHROMA_SIDE))
    down, across = max(1, height // step), max(1, width // step)
    small = cv2.resize(rgb[: down * step, : across * step], (across, down), interpolation=cv2.INTER_AREA)
    small = small.reshape(down, across, 3).astype(np.float32)
    red, blue = chroma_planes(small)
    luma = small @ np.array(_LUMA, dtype=np.float32)
    return ChromaMeasure(round(max(float(red.std()), float(blue.std())), 2), round(float(luma.std()), 2))


#: Side of the tiny copy on which :func:`gradient_curvature` reads how a picture's changes bend.
CURVATURE_SIDE = 32


def gradient_curvature(rgb: np.ndarray) -> float:
    """How sharply a picture's changes bend on a CURVATURE_SIDE-px copy: the summed Laplacian over the summed
    gradient, in the luminance or a chroma plane, whichever bends most. A graphic of smooth gradients (a colour
    wheel, a hue ramp) changes steadily across the frame: 0.1-0.45. Any photo, even blurred by 40 px of a 1024-px
    frame, still holds shapes a few pixels across at that size: 0.55 and up (0.7 and up for a blur of 30 px).
    ``rgb``: H×W×3 uint8."""
    import cv2

    small = cv2.resize(rgb, (CURVATURE_SIDE, CURVATURE_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    red, blue = chroma_planes(small)
    most = 0.0
    for plane in (small @ np.array(_LUMA, dtype=np.float32), red, blue):
        inner = plane[1:-1, 1:-1]
        across, down = plane[1:-1, 2:] - plane[1:-1, :-2], plane[2:, 1:-1] - plane[:-2, 1:-1]
        laplacian = 4 * inner - plane[:-2, 1:-1] - plane[2:, 1:-1] - plane[1:-1, :-2] - plane[1:-1, 2:]
        change = float(np.hypot(across, down).sum()) / 2
        if change > 0:
            most = max(most, float(np.abs(laplacian).sum()) / change)
    return round(most, 3)


def near_one_colour(rgb: np.ndarray, tolerance: float) -> float:
    """Share of the pixels (of an exact-valued copy at most CHROMA_DOMINANT_SIDE px) within ``tolerance`` of the
    median chroma in both planes: near one hue and saturation, whatever their brightness."""
    red, blue = chroma_planes(strided(rgb, CHROMA_DOMINANT_SIDE))
    near = (np.abs(red - np.median(red)) <= tolerance) & (np.abs(blue - np.median(blue)) <= tolerance)
    return round(float(np.count_nonzero(near) / near.size), 4)


#: Longest side of the copy a small subject is looked for on: box-averaged by at least 2 each way, so single stray
#: pixels (salt noise, a dotted line of alternating extremes) average back into the ground instead of counting.
SUBJECT_SIDE = 512
#: Levels (the channel that differs most) by which a pixel of that copy stands out from the ground colour: on a clean
#: ground, a faint subject's levels (a sign's letters 6 levels off a clean board are faint but visible to a person,
#: 4 barely); on a grainy
#: one, SUBJECT_NOISE_MULTIPLE times its grain (σ estimated from the median departure from the ground), so grain
#: never stands out. The measure never asks for more than SUBJECT_CONTRAST.
FAINT_SUBJECT_CONTRAST = 5
SUBJECT_NOISE_MULTIPLE = 6.0
SUBJECT_CONTRAST = 40
#: Share of the rows (or columns) the standing-out pixels must cross to be a subject rather than a speck: a red
#: ball 40 px across on a 1024×768 lawn crosses 5.5% of the rows and is a speck; 'OPEN 24/7' in 16-px letters on a
#: 1024² sign crosses 8.4% of the columns.
SUBJECT_MIN_SPAN = 0.065
#: A subject in several separate parts (letters, a mark and its wordmark) counts from this smaller span: a speck is
#: one blob.
SUBJECT_MIN_PARTS, SUBJECT_MIN_PARTS_SPAN = 3, 0.035
#: Fewest pixels (of the averaged copy) a part of a subject has.
SUBJECT_MIN_PART = 4
#: A short word of small letters ('EXIT' in Pillow's default 11-px font on a 1024² sign: 2.3% of the width) merges
#: into one part of the averaged copy and crosses too few columns to count; at full resolution its letters stand
#: apart. LINE_MIN_LETTERS or more shapes of at least LETTER_MIN_HEIGHT px, of like heights (within
#: LETTER_HEIGHT_RATIO) and on one line, are a line of text; a speck is one shape, scattered dots none.
LINE_MIN_LETTERS = 3
LETTER_MIN_HEIGHT = 5
LETTER_HEIGHT_RATIO = 2.0
LETTER_INK_SHARE = 0.5
#: Most parts of the averaged copy a line of letters is looked for in (beyond that the span has told already).
LINE_MAX_PARTS = 12


@dataclass(frozen=True)
class SmallSubject:
    #: Share of the rows or of the columns (the larger) holding pixels that stand out from the ground colour.
    span: float
    #: Separate parts (8-connected) of those pixels.
    parts: int
    #: Share of the image those pixels cover.
    share: float

    #: Letters standing side by side in one line (``_letters_in_a_line``), looked for only where the span alone
    #: does not make a subject: 0 when not looked for or none.
    letters: int = 0
    #: Those letters' median height, full-resolution pixels.
    letter_height: float = 0.0

    @property
    def found(self) -> bool:
        return (
            self.span >= SUBJECT_MIN_SPAN
            or (self.parts >= SUBJECT_MIN_PARTS and self.span >= SUBJECT_MIN_PARTS_SPAN)
            or self.letters >= LINE_MIN_LETTERS
        )


def small_subject(rgb: np.ndarray, letters: bool = False) -> SmallSubject:
    """A small subject on a plain ground: a line of small text on a sign, a small logo on white, a thin line drawing,
    a sign's faint letters on a clean board. Such an image is all but one flat value (its spread and its share near
    the median read as blank) yet it is a picture. Pixels of a box-averaged copy (at least 2×2, at most SUBJECT_SIDE
    px) that differ from the median colour by more than the contrast (FAINT_SUBJECT_CONTRAST on a clean ground, up to
    SUBJECT_CONTRAST on a grainy one) stand out; how many rows or columns they cross says whether they are a subject
    or a speck; parts under SUBJECT_MIN_PART px are scattered dots. Calibration: flat colours, faint grey or colour
    noise (σ 2-5), a dotted row of black and white pixels on grey, 0.4% of salt-and-pepper dots read nothing; a 40-px
    ball on a 1024×768 lawn spans 5.5% in one part; 'OPEN 24/7' in 16-px letters on a 1024² (64-px on a 4096²) sign
    spans 8.0-8.4% in 2-5 parts. A subject too narrow for that is looked at closer for a line of letters, as is
    every subject when ``letters`` is asked for."""
    import cv2

    height, width = rgb.shape[:2]
    factor = max(2, -(-max(height, width) // SUBJECT_SIDE))
    down, across = height // factor, width // factor
    if down < 1 or across < 1:
        return SmallSubject(0.0, 0, 0.0)
    small = cv2.resize(rgb[: down * factor, : across * factor], (across, down), interpolation=cv2.INTER_AREA)
    ground = np.median(strided(small, 256).reshape(-1, 3), axis=0).round().astype(np.uint8)
    change = cv2.absdiff(small, np.full_like(small, ground))
    departure = np.maximum(np.maximum(change[..., 0], change[..., 1]), change[..., 2])
    grain = float(np.median(strided(departure, 256))) / 0.6745
    contrast = min(SUBJECT_CONTRAST, max(FAINT_SUBJECT_CONTRAST, SUBJECT_NOISE_MULTIPLE * grain))
    far = departure > contrast
    if not np.count_nonzero(far):
        return SmallSubject(0.0, 0, 0.0)
    # Parts of a pixel or two are scattered dots (salt noise, dust), which cross many rows without being a subject.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(far.view(np.uint8), connectivity=8)
    kept = np.nonzero(stats[1:, cv2.CC_STAT_AREA] >= SUBJECT_MIN_PART)[0] + 1
    if not kept.size:
        return SmallSubject(0.0, 0, 0.0)
    subject = np.isin(labels, kept) if kept.size < count - 1 else far
    span = max(float(subject.any(axis=1).mean()), float(subject.any(axis=0).mean()))
    share = float(stats[kept, cv2.CC_STAT_AREA].sum()) / far.size
    found = SmallSubject(round(span, 4), int(kept.size), round(share, 5))
    if (found.found and not letters) or kept.size > LINE_MAX_PARTS:
        return found
    left, top = stats[kept, cv2.CC_STAT_LEFT].min(), stats[kept, cv2.CC_STAT_TOP].min()
    right = (stats[kept, cv2.CC_STAT_LEFT] + stats[kept, cv2.CC_STAT_WIDTH]).max()
    bottom = (stats[kept, cv2.CC_STAT_TOP] + stats[kept, cv2.CC_STAT_HEIGHT]).max()
    # The parts' place at full resolution, a little wider (a letter's faint edge averaged below the contrast).
    box = (
        max(0, (top - 1) * factor),
        min(height, (bottom + 1) * factor),
        max(0, (left - 1) * factor),
        min(width, (right + 1) * factor),
    )
    count, tallness = _letters_in_a_line(rgb[box[0] : box[1], box[2] : box[3]], ground, contrast)
    return replace(found, letters=count, letter_height=tallness)


def _letters_in_a_line(crop: np.ndarray, ground: np.ndarray, contrast: float) -> tuple[int, float]:
    """How many letter-like shapes stand in the likeliest line of ``crop`` (full resolution), and their median
    height: separate parts (8-connected) of the pixels more than ``contrast`` and LETTER_INK_SHARE of the ink's
    levels off ``ground``, at least LETTER_MIN_HEIGHT px tall, whose heights are within LETTER_HEIGHT_RATIO of the
    line's and whose middles lie within its letters' band."""
    import cv2

    if not crop.size:
        return 0, 0.0
    change = cv2.absdiff(np.ascontiguousarray(crop), np.full_like(crop, ground))
    departure = np.maximum(np.maximum(change[..., 0], change[..., 1]), change[..., 2])
    # Halfway to the ink: the soft edges of small letters set close together join them below that.
    far = departure > max(contrast, LETTER_INK_SHARE * float(departure.max()))
    _, _, stats, _ = cv2.connectedComponentsWithStats(far.view(np.uint8), connectivity=8)
    tall = stats[1:][stats[1:, cv2.CC_STAT_HEIGHT] >= LETTER_MIN_HEIGHT]
    if len(tall) < LINE_MIN_LETTERS:
        return 0, 0.0
    heights = tall[:, cv2.CC_STAT_HEIGHT].astype(np.float32)
    middles = tall[:, cv2.CC_STAT_TOP] + heights / 2
    best, height = 0, 0.0
    # Each shape in turn as the line's model: a line is the shapes of its height beside it.
    for middle, tallness in zip(middles, heights, strict=True):
        alike = (heights <= LETTER_HEIGHT_RATIO * tallness) & (heights * LETTER_HEIGHT_RATIO >= tallness)
        line = alike & (np.abs(middles - middle) <= tallness / 2)
        if int(np.count_nonzero(line)) > best:
            best, height = int(np.count_nonzero(line)), float(np.median(heights[line]))
    return best, height


# --------------------------------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------------------------------

#: Side of the square tiles the noise estimate samples, at full resolution.
NOISE_TILE = 32
#: Which tiles the image's noise is read from: the flattest fifth (least coarse-scale structure), where texture
#: cannot pass for noise; the level is their median.
NOISE_PERCENTILE = 20
#: Tile brightness (luminance) read for noise when at least a tenth of the tiles have it.
NOISE_MIDTONES = (48, 208)


_SECOND_DIFFERENCE = np.array([1, -2, 1], dtype=np.float32)


#: Pixels of the full-resolution luminance the noise measure filters at a time. Whole tile rows, each with the row
#: of its neighbours the filter reads: the same numbers as filtering the whole frame, whose three float32 copies
#: (the cropped frame, its filter response, that response's magnitude) held 68 MiB above a 6 MP image.
NOISE_STRIP_PIXELS = 1 << 19


def _tile_bands(rows: int, cols: int, tile: int) -> list[tuple[int, int]]:
    """Runs [first, last) of tile rows each holding about NOISE_STRIP_PIXELS pixels (at least one tile row)."""
    band = max(1, NOISE_STRIP_PIXELS // max(1, tile * tile * cols))
    return [(first, min(rows, first + band)) for first in range(0, rows, band)]


def _immerkaer_band(window: np.ndarray, above: int, height: int, tile: int) -> np.ndarray:
    """Immerkær's sigma of the tiles of ``height`` rows of ``window`` from row ``above`` (the rows around them are
    their neighbours, which the kernel reads, or none at the frame's edge): the mean absolute response of the
    kernel [[1,-2,1],[-2,4,-2],[1,-2,1]] (a second difference along each axis), which cancels planes and ramps,
    times sqrt(pi/2)/6."""
    import cv2

    response = cv2.sepFilter2D(window, cv2.CV_32F, _SECOND_DIFFERENCE, _SECOND_DIFFERENCE)[above : above + height]
    response = cv2.absdiff(response, 0.0, dst=response)
    means = cv2.resize(response, (window.shape[1] // tile, height // tile), interpolation=cv2.INTER_AREA)
    return np.float32(np.sqrt(np.pi / 2) / 6) * means


def _noise_maps(image: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per ``tile``-px tile of ``image`` (float32, whole tiles): Immerkær's sigma at full resolution, the same after
    2×2 averaging (on tiles of half the side) and after 4×4 averaging (a quarter of the side), and the mean
    brightness. Read a band of tile rows at a time."""
    import cv2

    rows, cols = image.shape[0] // tile, image.shape[1] // tile
    half_tile, quarter_tile = tile // 2, tile // 4
    fine = np.empty((rows, cols), np.float32)
    coarse = np.empty((rows, cols), np.float32)
    coarser = np.empty((rows, cols), np.float32)
    brightness = np.empty((rows, cols), np.float32)
    for first, last in _tile_bands(rows, cols, tile):
        top, bottom = first * tile, last * tile
        # One row beyond the band each way, where the frame goes on: the kernel's neighbours.
        above, below = int(top > 0), int(bottom < image.shape[0])
        fine[first:last] = _immerkaer_band(image[top - above : bottom + below], above, bottom - top, tile)
        # The 2×2 average of the band and of two half-rows either side (four full rows each), as of the whole
        # frame: its middle (one half-row either side) for the half-size sigma, and its own 2×2 average (one
        # quarter-row either side) for the quarter-size one.
        low, high = top - 4 * above, bottom + 4 * below
        wide = cv2.resize(image[low:high], (cols * half_tile, (high - low) // 2), interpolation=cv2.INTER_AREA)
        half = wide[above : wide.shape[0] - below]
        coarse[first:last] = _immerkaer_band(half, above, (bottom - top) // 2, half_tile)
        quarter = cv2.resize(wide, (cols * quarter_tile, wide.shape[0] // 2), interpolation=cv2.INTER_AREA)
        coarser[first:last] = _immerkaer_band(quarter, above, (bottom - top) // 4, quarter_tile)
        band = image[top:bottom]
        brightness[first:last] = cv2.resize(band, (cols, last - first), interpolation=cv2.INTER_AREA)
    return fine, coarse, coarser, brightness


@dataclass(frozen=True)
class NoiseMeasure:
    #: Estimated standard deviation of pixel-level (white) noise in the flattest tiles, in levels of 255.
    level: float
    #: Immerkær sigma of those tiles before separating texture from noise (for the report).
    raw: float
    #: False when the image is smaller than one tile: nothing was measured (``level`` is then 0).
    measured: bool = True
    #: The level reached in the noisiest sixteenth of the frame, read per region like ``level`` is for the whole:
    #: a part of the picture that broke down into noise while the rest stayed clean.
    patch: float = 0.0
    #: Share of the frame's regions whose own level reaches NOISE_PATCH_LEVEL.
    patch_share: float = 0.0
    #: ``level`` read the same way one octave down (on the 2×2-averaged copy against its own 2×2 average): grain
    #: that spans two pixels (noise softened by demosaicing, a denoiser, JPEG or an upscaler) is correlated from one
    #: pixel to the next, so the full-resolution reading takes it for texture and falls to about 0; at half size
    #: it is pixel-to-pixel noise again.
    grain: float = 0.0


#: Regions across and down in which noise is also read region by region (at most), each at least
#: NOISE_REGION_TILES tiles across and down.
NOISE_REGIONS = 8
NOISE_REGION_TILES = 4
#: A region's level from which it counts as noise in ``patch_share``: past the heaviest grain of a real camera
#: (fine textures at their native size, grass and a lawn, read up to 9.4 in their worst sixteenth).
NOISE_PATCH_LEVEL = 12.0


def _split_runs(size: int, parts: int) -> list[tuple[int, int, int]]:
    """How np.array_split cuts ``size`` items into ``parts``: (start, end, part size) of the run of longer parts
    (one item more) and of the run of the others, each run cut into equal parts; empty runs left out."""
    short, longer = divmod(size, parts)
    runs = [(0, longer * (short + 1), short + 1), (longer * (short + 1), size, short)]
    return [(start, end, part) for start, end, part in runs if end > start and part > 0]


def _regions(tiles: np.ndarray, ys: tuple[int, int, int], xs: tuple[int, int, int]) -> np.ndarray:
    """The equal regions of ``tiles`` that runs ``ys`` and ``xs`` (from _split_runs) cut, one a row, each row its
    region's ravel."""
    (top, bottom, height), (left, right, width) = ys, xs
    block = tiles[top:bottom, left:right].reshape((bottom - top) // height, height, (right - left) // width, width)
    return block.transpose(0, 2, 1, 3).reshape(-1, height * width)


def _regional_noise(noise: np.ndarray, coarse: np.ndarray) -> tuple[float, float]:
    """The level of the noisiest sixteenth of NOISE_REGIONS² regions (each read like the whole frame, on its
    flattest fifth of tiles), and the share of regions past NOISE_PATCH_LEVEL."""
    rows, cols = noise.shape
    # A region of fewer tiles than NOISE_REGION_TILES² has too few flat ones to tell foliage from noise.
    down = max(1, min(NOISE_REGIONS, rows // NOISE_REGION_TILES))
    across = max(1, min(NOISE_REGIONS, cols // NOISE_REGION_TILES))
    levels = []
    # np.array_split's regions come in at most two heights and two widths: each combination is one block of
    # same-shaped regions, read all at once (one region a row, its tiles in the order of a region's ravel).
    for ys in _split_runs(rows, down):
        for xs in _split_runs(cols, across):
            count = max(1, round(ys[2] * xs[2] * NOISE_PERCENTILE / 100))
            flattest = np.argsort(_regions(coarse, ys, xs), axis=1)[:, :count]
            levels.append(np.median(np.take_along_axis(_regions(noise, ys, xs), flattest, axis=1), axis=1))
    ranked = np.sort(np.concatenate(levels).astype(np.float64))[::-1]
    patch = float(ranked[max(1, ranked.size // 16) - 1])
    return round(patch, 2), round(float(np.mean(ranked >= NOISE_PATCH_LEVEL)), 4)


def noise_level(gray: np.ndarray) -> NoiseMeasure:
    """How much white, pixel-to-pixel noise the image's luminance carries, in levels of 255.

    Noise is uncorrelated from one pixel to the next, texture is not: averaging 2×2 pixels halves the noise's
    fine-scale response (an exact factor 2 for white noise) but leaves texture's, which is spread over scales,
    about as it was. So for each 32-px tile ``σ1`` (Immerkær at full resolution) and ``σ2`` (after 2×2
    averaging) give the noise as ``sqrt(4/3 · (σ1² − σ2²))``, and the image's level is its median over the
    flattest fifth of the mid-tone tiles (those with the least structure at the coarse scale). Luminance is what the
    eye reads as grain; colour noise of σ per channel shows there as about 0.67σ. Calibration: 0–2.4 on
    every clean photo, texture (grass, gravel, brick, Hubble's stars) and night scene; added Gaussian noise
    σ=6 reads 2.8–6.2, σ=12 reads 7.2–12.3, σ=25 reads 12.7–25 (colour noise lowest; JPEG q90 included).
    """
    t = NOISE_TILE
    rows, cols = gray.shape[0] // t, gray.shape[1] // t
    if rows == 0 or cols == 0:
        return NoiseMeasure(0.0, 0.0, measured=False)
    image = gray[: rows * t, : cols * t]
    fine, coarse, coarser, brightness_map = _noise_maps(
        image if image.dtype == np.float32 else image.astype(np.float32), t
    )
    noise_map = np.sqrt(np.maximum(0.0, (fine**2 - coarse**2) * 4 / 3))
    noise = noise_map.ravel()
    # Sensor noise grows with brightness (shot noise) and hides in deep shadow, so it is read in mid-tones
    # when the image has enough of them; there, the flattest tiles are those with the least structure at the
    # coarse scale, where noise cannot hide.
    brightness = brightness_map.ravel()
    candidates = np.nonzero((brightness >= NOISE_MIDTONES[0]) & (brightness <= NOISE_MIDTONES[1]))[0]
    if candidates.size < 0.1 * noise.size:
        candidates = np.arange(noise.size)
    count = max(1, round(candidates.size * NOISE_PERCENTILE / 100))
    flattest = candidates[np.argsort(coarse.ravel()[candidates])[:count]]
    level = float(np.median(noise[flattest]))
    patch, patch_share = _regional_noise(noise_map, coarse)
    raw = round(float(np.median(fine.ravel()[flattest])), 2)
    grain_map = np.sqrt(np.maximum(0.0, (coarse**2 - coarser**2) * 4 / 3)).ravel()
    grain = float(np.median(grain_map[candidates[np.argsort(coarser.ravel()[candidates])[:count]]]))
    return NoiseMeasure(round(level, 2), raw, patch=patch, patch_share=patch_share, grain=round(grain, 2))


# --------------------------------------------------------------------------------------------------------------
# JPEG blocking
# --------------------------------------------------------------------------------------------------------------

_K = np.arange(8)
#: Orthonormal 8-point DCT-II, the transform JPEG applies to each 8×8 block.
_DCT = np.sqrt(2 / 8) * np.cos(np.pi * (2 * _K[None, :] + 1) * _K[:, None] / 16)
_DCT[0] /= np.sqrt(2)
#: The JPEG standard's (Annex K) luminance quantisation table, which libjpeg scales by quality.
_LUMA_TABLE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ]
)
#: Low-frequency AC coefficients whose quantisation step is estimated (they are non-zero often enough).
_AC_COEFFICIENTS = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1))
_AC_BASIS = np.stack([np.outer(_DCT[u], _DCT[v]).ravel() for u, v in _AC_COEFFICIENTS], axis=1).astype(np.float32)
#: Blocks the grid must hold across and down for the coefficients to be read.
JPEG_MIN_BLOCKS = 2
#: Distinct coefficient values (0.1 apart) a lattice must be read from.
_MIN_DISTINCT = 12
#: Blocks sampled for the coefficient statistics.
_JPEG_BLOCKS = 2048
#: Candidate quantisation steps, in DCT units (libjpeg's at quality 1 reach 255).
_STEPS = np.arange(2, 256)
#: |coefficient| histogram bins, in DCT units.
_BINS = np.arange(0, 512)
#: Smallest magnitude each candidate step scores: below q/2 every lattice fits, so those are left out.
_FIRST_BIN = np.ceil(_STEPS / 2).astype(int)
#: Per candidate step, the cosine of each bin's phase on that step's lattice (zero below q/2).
_PHASE = np.where(
    _BINS[None, :] >= _FIRST_BIN[:, None], np.cos(2 * np.pi * _BINS[None, :] / _STEPS[:, None]), 0.0
).astype(np.float32)


@dataclass(frozen=True)
class BlockingMeasure:
    #: JPEG quality (libjpeg scale, 1–100) whose quantisation matches the image's 8×8 DCT coefficients;
    #: 100 when no coarse quantisation is found (a lossless image or a high-quality JPEG).
    quality: float
    #: Mean luminance step across 8-px block boundaries over the mean step elsewhere (1.0 = no visible grid).
    edge_ratio: float
    #: Grid offset (x, y) of the blocks found, 0–7 each.
    offset: tuple[int, int]
    #: False when fewer than JPEG_MIN_BLOCKS×JPEG_MIN_BLOCKS blocks lie on the grid: nothing was measured
    #: (``quality`` is then 100).
    measured: bool = True
    #: How many luminance levels the mean step across block boundaries exceeds the mean step elsewhere: the grid's
    #: visible strength, which ``edge_ratio`` alone overstates where every step is tiny (a smooth vignette or sky).
    edge_step: float = 0.0


#: Largest luminance step (levels) one pair of pixels adds to the block-edge profile. A block edge is a small step
#: repeated along every line; a product's straight outline is one large step per line, and uncapped a few outlines
#: that happen to fall on the 8-px grid outweigh the whole image's small steps (a clean PNG read as 1.7× blocky).
BLOCK_STEP_CAP = 8.0


def _grid_profile(gray: np.ndarray, axis: int) -> tuple[int, float, float]:
    """The 8-px phase with the strongest steps along ``axis``, how much stronger they are than the rest, and by how
    many levels."""
    # Every 4th line is plenty to average a step profile over, at a quarter of the cost.
    lines = gray[::4] if axis == 1 else gray[:, ::4]
    # One array for the steps, capped in place: numpy's diff, abs and minimum made three of the sampled lines' size.
    jumps = np.diff(lines, axis=axis)
    steps = np.minimum(np.abs(jumps, out=jumps), BLOCK_STEP_CAP, out=jumps).mean(axis=1 - axis)
    usable = (steps.size // 8) * 8
    if usable < 16:
        return 0, 1.0, 0.0
    by_phase = steps[:usable].reshape(-1, 8).mean(axis=0)
    phase = int(np.argmax(by_phase))
    others = (by_phase.sum() - by_phase[phase]) / 7
    # A step after pixel 7 of a block lies between blocks: block grid offset is (phase + 1) mod 8.
    return (phase + 1) % 8, float((by_phase[phase] + 0.05) / (others + 0.05)), float(by_phase[phase] - others)


def _quantisation_steps(magnitudes: np.ndarray, min_count: int = 24, min_score: float = 0.6) -> list[int]:
    """Per column of ``magnitudes``, the largest step ``q`` whose multiples its values cluster on (1 if none).

    The score of a step is the mean cosine of each value's phase on that step's lattice; values below q/2
    are left out, since near zero every lattice fits. All columns are scored in one matrix product.
    """
    import cv2

    binned = np.minimum(np.rint(magnitudes).astype(np.int64), _BINS.size - 1)
    histograms = np.stack([np.bincount(column, minlength=_BINS.size) for column in binned.T], axis=1)
    histograms[-1] = 0  # magnitudes past the last bin say nothing about the lattice
    at_least = np.cumsum(histograms[::-1], axis=0)[::-1]
    counts = at_least[_FIRST_BIN]
    # cv2.gemm: a BLAS product this small spends more time waking its threads than multiplying.
    sums = cv2.gemm(_PHASE, histograms.astype(np.float32), 1.0, None, 0.0)
    valid = (counts >= min_count) & (sums >= min_score * np.maximum(counts, 1))
    return [int(_STEPS[valid[:, k]].max()) if valid[:, k].any() else 1 for k in range(magnitudes.shape[1])]


def jpeg_table_quality(table: Sequence[int]) -> float:
    """The libjpeg quality (1–100) a JPEG file's luminance quantisation table (64 steps, natural order, as Pillow's
    ``Image.quantization[0]`` gives them) was made at: exact for libjpeg's own tables, the nearest for others.

    libjpeg scales the standard table by ``scale`` (5000/quality below 50, 200 − 2·quality above) and clips each
    step to 1–255; the scale is read from the steps no clip touched."""
    steps = np.asarray(table, dtype=np.float64).reshape(-1)
    if steps.size != _LUMA_TABLE.size:
        raise ValueError(f"a JPEG quantisation table has 64 steps, not {steps.size}")
    standard = _LUMA_TABLE.ravel().astype(np.float64)
    unclipped = (steps > 1) & (steps < 255)
    if not unclipped.any():
        return 100.0 if steps.max() <= 1 else 1.0
    scale = 100 * float(steps[unclipped].sum() / standard[unclipped].sum())
    quality = 5000 / scale if scale >= 100 else (200 - scale) / 2
    # libjpeg's qualities are whole numbers; its rounding of each step leaves the scale a little off.
    return float(round(min(100.0, max(1.0, quality))))


def jpeg_blocking(gray: np.ndarray) -> BlockingMeasure:
    """Estimate the JPEG quality the image was last compressed at, from its 8×8 DCT coefficients.

    A JPEG stores each block's DCT coefficients as multiples of a quantisation step; decoding, re-saving as
    PNG, or re-encoding at a high quality keeps them near those multiples. The step of seven low-frequency
    coefficients is found where their magnitudes cluster on a lattice, converted to libjpeg's quality scale
    through the standard table, and the median taken. Blocks are read on the grid the luminance steps show,
    so a crop that shifted the grid is still read. Calibration: every clean photo reads 100, q90 JPEGs
    88–90, q70 70.8, q50 50, q30 28–30, q20 19, q15 14, q10 9, q5 4.7, also after q90 re-encoding; brick,
    chessboards and flat graphics have no lattice (100).
    """
    import cv2

    offset_x, ratio_x, step_x = _grid_profile(gray, axis=1)
    offset_y, ratio_y, step_y = _grid_profile(gray, axis=0)
    edge_ratio = (ratio_x + ratio_y) / 2
    edge_step = round((step_x + step_y) / 2, 2)
    region = gray[offset_y:, offset_x:]
    h, w = (region.shape[0] // 8) * 8, (region.shape[1] // 8) * 8
    if h < 8 * JPEG_MIN_BLOCKS or w < 8 * JPEG_MIN_BLOCKS:
        return BlockingMeasure(100.0, round(edge_ratio, 2), (offset_x, offset_y), measured=False, edge_step=edge_step)
    grid = region[:h, :w].reshape(h // 8, 8, w // 8, 8)
    # Every k-th block row and column, so that about _JPEG_BLOCKS blocks are read.
    every = max(1, int(np.sqrt(grid.shape[0] * grid.shape[2] / _JPEG_BLOCKS)))
    blocks = grid[::every, :, ::every].transpose(0, 2, 1, 3).reshape(-1, 64)
    # cv2.gemm: a BLAS matmul this small spends more time waking its threads than multiplying.
    coefficients = np.abs(cv2.gemm(np.ascontiguousarray(blocks, dtype=np.float32), _AC_BASIS, 1.0, None, 0.0))
    scales = []
    for index, ((u, v), step) in enumerate(zip(_AC_COEFFICIENTS, _quantisation_steps(coefficients), strict=True)):
        magnitudes = coefficients[:, index]
        # Decoding rounds every pixel, so a real JPEG's coefficients scatter around the lattice; a synthetic
        # pattern (a chessboard) repeats a few exact values that fit a lattice by coincidence.
        if step > 1 and np.unique(np.round(magnitudes[magnitudes >= step / 2], 1)).size >= _MIN_DISTINCT:
            scales.append(100 * step / _LUMA_TABLE[u, v])
    # A lattice on one or two coefficients is a coincidence of flat graphics; JPEG quantises them all.
    if len(scales) < 4:
        return BlockingMeasure(100.0, round(edge_ratio, 2), (offset_x, offset_y), edge_step=edge_step)
    scale = float(np.median(scales))
    quality = 5000 / scale if scale >= 100 else (200 - scale) / 2
    quality = round(min(100.0, max(1.0, quality)), 1)
    return BlockingMeasure(quality, round(edge_ratio, 2), (offset_x, offset_y), edge_step=edge_step)


# --------------------------------------------------------------------------------------------------------------
# Banding and posterisation
# --------------------------------------------------------------------------------------------------------------

#: Longest side of the (strided, exact-valued) copy banding is measured on.
BANDING_SIDE = 512
#: Smallest jump between two bands counted, in levels of the channel that changes most: smaller is invisible.
BAND_MIN_STEP = 4
#: Largest jump counted: beyond it two flat areas are shapes (flat design, a sign), not bands of one gradient.
BAND_MAX_STEP = 24
#: A band is a run of at least this many pixels whose neighbours differ by at most BAND_FLAT levels.
BAND_MIN_RUN = 6
BAND_FLAT = 2
#: A staircase is three bands in a row: an image shorter than that both ways shows none, and too few pixels for
#: its histograms to show a lattice.
BANDING_MIN_SIDE = 3 * BAND_MIN_RUN
#: Pixels a jump may take between two bands (JPEG ringing and chroma smoothing widen the edge).
BAND_MAX_GAP = 8
#: Value spacings a posterised image's histogram is tested for: bit-depth reductions (6 to 2 bits) and
#: "n levels" quantisation (32, 16, 8 and 4 levels spread over 0-255). Other spacings (a picture floored to steps
#: of 12 or 20) are read exactly by :func:`_exact_lattice`: tested as a comb, a few flat greys evenly spaced (layers
#: of fog, a flat design with grain) would read as one.
LATTICE_PERIODS = (4.0, 8.0, 16.0, 32.0, 64.0, 255 / 31, 255 / 15, 255 / 7, 255 / 3)
#: How far a histogram comb's spectral line must stand above its surroundings (clean photos reach 9).
COMB_PROMINENCE = 20.0
#: Histogram bins searched for a comb; its spectrum is taken at this many points.
_COMB_POINTS = 4096
_COMB_FREQUENCIES = np.fft.rfftfreq(_COMB_POINTS)
_COMB_WINDOW = np.hanning(256)
#: A coarse posterisation (2-3 bits) leaves a few evenly spaced peaks that hold most pixels (JPEG ringing
#: spreads the rest between them).
COARSE_MASS = 0.6
COARSE_PEAKS = (3, 8)
#: ...and, unlike a flat graphic (a sign, a logo), shows many colours: combinations of those peaks.
COARSE_COLOURS = 12


@dataclass(frozen=True)
class BandingMeasure:
    #: Share of the image lying on bands of a staircase: a flat run between two jumps of the same direction.
    share: float
    #: Median jump between neighbouring bands, in levels (the channel that changes most).
    step: float
    #: Spacing of the values the channels are quantised to (0 when none: a photo uses every value); 8 after
    #: 5-bit posterisation, 16 after 4-bit, 64 after 2-bit, found also after JPEG re-encoding.
    lattice: float
    #: How clearly the histograms show that spacing (spectral prominence of the comb, median channel).
    prominence: float
    #: False when both sides are under BANDING_MIN_SIDE: nothing was measured.
    measured: bool = True


def _staircase_rows(image: np.ndarray) -> tuple[int, np.ndarray]:
    """Pixels of ``image`` rows (H×W×3 uint8) lying on staircase bands, and the jumps between bands."""
    import cv2

    height, width, _ = image.shape
    if width < 2:  # no neighbours along the row (and OpenCV returns None for the empty difference)
        return 0, np.zeros(0, dtype=np.int32)
    # OpenCV's maximum over the change's planes: numpy's over channel slices costs twice as much, a reduction over
    # the last, 3-long axis twenty times.
    red, green, blue = cv2.split(cv2.absdiff(image[:, 1:], image[:, :-1]))
    biggest = cv2.max(cv2.max(red, green), blue)
    flat = np.zeros((height, width), dtype=bool)  # the last column stays False: runs end at each row's end
    flat[:, :-1] = biggest <= BAND_FLAT
    starts, ends = _long_flat_runs(flat.ravel(), BAND_MIN_RUN - 1)  # flat pairs [start, end): pixels start..end
    length = ends - starts + 1
    if len(starts) < 3:
        return 0, np.zeros(0)
    pixels = image.reshape(-1, 3)
    jump = pixels[starts[1:]].astype(np.int32) - pixels[ends[:-1]]
    size = np.abs(jump).max(axis=-1)
    direction = np.sign(jump.sum(axis=-1))
    step = (
        (starts[1:] // width == starts[:-1] // width)
        & (starts[1:] - ends[:-1] <= BAND_MAX_GAP)
        & (size >= BAND_MIN_STEP)
        & (size <= BAND_MAX_STEP)
    )
    step &= _passes_straight(pixels, ends[:-1], starts[1:], size)
    stair = step[:-1] & step[1:] & (direction[:-1] == direction[1:])
    return int(length[1:-1][stair].sum()), size[step]


def _long_flat_runs(flat: np.ndarray, least: int) -> tuple[np.ndarray, np.ndarray]:
    """Each run of at least ``least`` True values of ``flat`` (1-D bool, ending in False): its first index and the
    index just past it. Only the long runs are found (a photograph's grain makes tens of thousands of short ones,
    whose every start and end numpy's nonzero would list): where ``least`` values in a row are True, the position
    before is not (a start), or after them the next is not (an end)."""
    size = flat.size
    # held[i]: flat[i : i + least] all True, by doubling the window over shifted views.
    held, span = flat, 1
    while 2 * span <= least:
        held, span = held[:-span] & held[span:], 2 * span
    if span < least:
        held = held[: span - least] & held[least - span :]
    if not held.size:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    first = held.copy()
    first[1:] &= ~flat[: held.size - 1]
    past = ~flat[least:] & held[: size - least]
    return np.flatnonzero(first), np.flatnonzero(past) + least


def _passes_straight(pixels: np.ndarray, ends: np.ndarray, starts: np.ndarray, size: np.ndarray) -> np.ndarray:
    """For each jump from the band ending at ``ends`` to the one starting at ``starts``: whether the pixels
    between them stay between the two bands' colours (give or take the jump, for JPEG ringing). A step of a
    gradient goes straight from one band to the next; a pale outline or a strip of white backdrop between two
    shaded products (three bottles side by side, a white mug's rim) goes elsewhere and back, and is no step."""
    before, after = pixels[ends].astype(np.int32), pixels[np.minimum(starts, len(pixels) - 1)].astype(np.int32)
    slack = np.maximum(size, BAND_FLAT + 1)[:, None]
    low, high = np.minimum(before, after) - slack, np.maximum(before, after) + slack
    straight = np.ones(len(ends), dtype=bool)
    for offset in range(1, BAND_MAX_GAP):
        at = ends + offset
        between = at < starts
        if not between.any():
            break
        pixel = pixels[np.minimum(at, len(pixels) - 1)].astype(np.int32)
        straight &= ~(between & ((pixel < low) | (pixel > high)).any(axis=-1))
    return straight


def _comb_probes() -> list[tuple[float, slice, np.ndarray]]:
    """Per candidate period: the spectrum bins of its line and of the band around it (fixed, so built once)."""
    probes = []
    for period in LATTICE_PERIODS:
        f0 = 1 / period
        centre = round(f0 * _COMB_POINTS)
        offset = np.abs(_COMB_FREQUENCIES - f0)
        probes.append(
            (period, slice(max(1, centre - 3), centre + 4), np.nonzero((offset > 0.12 * f0) & (offset < 0.4 * f0))[0])
        )
    return probes


_COMB_PROBES = _comb_probes()


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D float array without NaN, from the partition it reads (its checks and its mean of the
    middle values cost three times the partition on the spectra's few dozen values)."""
    half = values.size // 2
    if values.size % 2:
        return float(np.partition(values, half)[half])
    low, high = np.partition(values, (half - 1, half))[half - 1 : half + 1]
    return float((low + high) / 2)


def _combs(histograms: np.ndarray) -> tuple[list[float], list[float]]:
    """Per row of ``histograms`` (a channel's 256 bins each): the lattice spacing the histogram repeats at, and how
    prominent that repeat is.

    Posterisation leaves values on a lattice; JPEG re-encoding spreads each spike over a few levels but
    keeps the comb, which shows as a sharp line in the spectrum of the detrended histogram. Prominence is
    the line's height over the median of the spectrum around it. The channels' spectra are taken in one
    transform (each row's numbers are those of its own transform).
    """
    counts = np.sqrt(histograms.astype(np.float64))  # a few huge bins (a white sky) must not dominate
    counts[:, 0], counts[:, -1] = counts[:, 1], counts[:, -2]  # clipped pixels pile up at the ends
    periods, prominences = [], []
    detrended = np.empty_like(counts)
    for row, channel in enumerate(counts):
        trend = np.convolve(np.pad(channel, 12, mode="edge"), np.ones(25) / 25, mode="same")[12:-12]
        detrended[row] = channel - trend
    spectra = np.abs(np.fft.rfft(detrended * _COMB_WINDOW, _COMB_POINTS, axis=-1)) ** 2
    for spectrum in spectra:
        found = [
            (float(spectrum[line].max() / max(_median(spectrum[around]), 1e-12)), period)
            for period, line, around in _COMB_PROBES
        ]
        best = max(prominence for prominence, _ in found)
        # A lattice's harmonics are lines too (a 16-level comb also repeats every 8): take the longest period
        # whose line is clearly there.
        strong = [period for prominence, period in found if prominence >= 2 * COMB_PROMINENCE]
        periods.append(max(strong) if strong else max(found)[1])
        prominences.append(best)
    return periods, prominences


#: Share of a channel's pixels a value must hold to count as used (stray antialiased pixels are left out).
EXACT_LATTICE_SHARE = 0.0005
#: Fewest used values a channel needs for the spacing between them to be a lattice rather than a few flat colours.
EXACT_LATTICE_VALUES = 5


def _exact_lattice(histogram: np.ndarray) -> float:
    """The common spacing of the values a channel uses when every one of them sits on it (a picture floored to
    steps of 12, 20 or 40 levels and saved losslessly), or 0. A comb of so few spikes hides its fundamental from
    the spectrum; here it is read directly."""
    used = np.nonzero(histogram >= EXACT_LATTICE_SHARE * max(1.0, float(histogram.sum())))[0]
    if used.size < EXACT_LATTICE_VALUES:
        return 0.0
    spacing = int(np.gcd.reduce(np.diff(used)))
    return float(spacing) if BAND_MIN_STEP <= spacing <= 64 else 0.0


def _coarse_peaks(histogram: np.ndarray) -> float:
    """The spacing of a handful of evenly spaced peaks that hold nearly all pixels (2- or 3-bit colour), or 0."""
    smooth = np.convolve(histogram.astype(np.float64), np.ones(9), mode="same")
    total = max(1.0, float(histogram.sum()))
    local_max = np.lib.stride_tricks.sliding_window_view(np.pad(smooth, 12), 25).max(axis=1)
    peaks = np.nonzero((smooth == local_max) & (smooth > 0))[0]
    window = np.concatenate([[0.0], np.cumsum(histogram, dtype=np.float64)])
    shares = (window[np.minimum(peaks + 7, 256)] - window[np.maximum(peaks - 6, 0)]) / total
    held = sorted(zip(shares.tolist(), peaks.tolist(), strict=True), reverse=True)
    kept = [v for share, v in held if share >= 0.03]
    if not COARSE_PEAKS[0] <= len(kept) <= COARSE_PEAKS[1]:
        return 0.0
    if sum(share for share, v in held if v in kept) < COARSE_MASS:
        return 0.0
    gaps = np.diff(sorted(kept))
    return float(np.median(gaps)) if gaps.max() <= 1.35 * gaps.min() and gaps.min() >= 24 else 0.0


#: A channel whose histogram uses at least this share of the levels across its range (a photo after a mild
#: levels change uses 0.89-1.0, a losslessly posterised one 1/8 or fewer) is read for a comb only after a 3-bin
#: median: the comb a ±3-10% brightness or contrast change leaves is single levels doubled or emptied every
#: 10-33 levels, which the median removes, while posterisation re-encoded as JPEG keeps peaks several levels wide.
FULL_HISTOGRAM = 0.8
#: ...and when every channel is full, the comb's peaks must stand this far (relative to the local mean count,
#: folded over one period) above its valleys: a levels change re-encoded as JPEG leaves a ripple of 0.03-0.15,
#: 5-bit posterisation re-encoded at q75-q90 0.2-0.34 in its strongest channel, 4-bit 0.4 and more.
COMB_DEPTH = 0.18


def _trend(counts: np.ndarray) -> np.ndarray:
    """The 25-bin running mean of a histogram (edges held), the level its comb rises above and falls below."""
    return np.convolve(np.pad(counts, 12, mode="edge"), np.ones(25) / 25, mode="same")[12:-12]


def _median3(histogram: np.ndarray) -> np.ndarray:
    padded = np.pad(histogram.astype(np.float64), 1, mode="edge")
    return np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)


def _used_range(histogram: np.ndarray) -> slice:
    """The levels between a channel's 1st and 99th percentile."""
    cumulative = np.cumsum(histogram, dtype=np.float64)
    total = max(cumulative[-1], 1.0)
    return slice(int(np.searchsorted(cumulative, 0.01 * total)), int(np.searchsorted(cumulative, 0.99 * total)) + 1)


def _full(histogram: np.ndarray) -> bool:
    """Whether a channel uses nearly every level across its range (a photo, also one whose levels were adjusted)
    rather than a few values with empty levels between (posterised and saved losslessly)."""
    counts = histogram.astype(np.float64)
    used = _used_range(counts)
    return bool((counts[used] > 0.1 * _trend(counts)[used]).mean() >= FULL_HISTOGRAM)


def _comb_depth(histogram: np.ndarray, period: float) -> float:
    """How far a comb's peaks stand above its valleys: the 3-bin-median histogram over its running mean, folded
    over one period, from its highest phase to its lowest."""
    counts = _median3(histogram)
    used = _used_range(counts)
    levels = np.arange(256)[used]
    ripple = counts[used] / np.maximum(_trend(counts)[used], 1e-9) - 1
    phases = round(period)
    phase = np.floor((levels / period % 1) * phases).astype(np.intp) % phases
    sums = np.bincount(phase, weights=ripple, minlength=phases)
    held = np.bincount(phase, minlength=phases)
    profile = sums[held > 0] / held[held > 0]
    return float(profile.max() - profile.min()) if profile.size else 0.0


def _value_lattice(image: np.ndarray) -> tuple[float, float]:
    """The posterisation lattice two or more channels agree on (0 when none), and its prominence."""
    import cv2

    histograms = [cv2.calcHist([image], [channel], None, [256], [0, 256]).ravel() for channel in range(3)]
    full = [_full(histogram) for histogram in histograms]
    read = [_median3(histogram) if whole else histogram for histogram, whole in zip(histograms, full, strict=True)]
    periods, prominences = _combs(np.stack(read))
    coarse = [_coarse_peaks(histogram) for histogram in histograms]
    exact = [_exact_lattice(histogram) for histogram in histograms]
    median = float(np.median(prominences))
    on_lattice = sorted(e for e in exact if e)
    if len(on_lattice) >= 2 and on_lattice[0] == on_lattice[1] and _colour_count(image) >= COARSE_COLOURS:
        return on_lattice[0], round(median, 1)
    combed = sorted(p for p, prominence in zip(periods, prominences, strict=True) if prominence >= COMB_PROMINENCE)
    for low, high in itertools.pairwise(combed):
        if high <= 1.08 * low:  # two channels agree on the spacing (16 and 255/15 are one family)
            if all(full) and max(_comb_depth(h, p) for h in histograms for p in (low, high)) < COMB_DEPTH:
                break  # a levels change's ripple, spread by JPEG: every level is there, none stands out
            return round(high, 1), round(median, 1)
    agreeing = sorted(c for c in coarse if c)
    if len(agreeing) >= 2 and agreeing[-1] <= 1.1 * agreeing[0] and _colour_count(image) >= COARSE_COLOURS:
        return float(np.median(agreeing)), round(median, 1)
    return 0.0, round(median, 1)


def _colour_count(image: np.ndarray) -> int:
    """Colours (32 levels a channel) that each cover at least 0.2% of the image."""
    codes = (image[..., 0] >> 3).astype(np.int32) << 10 | (image[..., 1] >> 3).astype(np.int32) << 5
    codes |= image[..., 2] >> 3
    counts = np.bincount(codes.ravel(), minlength=1 << 15)
    return int((counts >= 0.002 * codes.size).sum())


def banding(rgb: np.ndarray) -> BandingMeasure:
    """Visible steps in smooth gradients, and posterisation of the whole image.

    Along every row and column (of an exact-valued copy at most 512 px), flat runs of at least 6 pixels are
    found; two neighbouring runs separated by a jump of 4–24 levels within 8 px are bands, and a run between
    two jumps in the same direction is a stair of a staircase: a gradient drawn in steps. ``share`` is the
    share of pixels on such stairs. ``lattice`` reads posterisation of the whole image from the histograms:
    a 5-bit image uses every 8th value only, and after JPEG re-encoding its histogram is still a comb; a picture
    floored to any step (12, 20, 40 levels) and saved losslessly uses only that step's multiples; print or line
    art on a plain ground has no gradient to posterise and reads no lattice.
    Calibration: clean photos, night and minimalist scenes, shallow depth of field and signs have share
    ≤ 0.013 (microscopy ``cell`` 0.04, a contrast-stretched moon 0.03–0.05), comb prominence ≤ 9 and no
    lattice; a sky drawn in 4/8/16-level steps has share 0.10–0.40 also after JPEG q90; posterised photos
    re-encoded at q90 have prominence 47–49000 (5 bits), 66–16000 (4 bits), 35–1200 (3 bits), and 2-bit
    images a few even peaks.
    """
    import cv2

    if max(rgb.shape[:2]) < BANDING_MIN_SIDE:
        return BandingMeasure(0.0, 0.0, 0.0, 0.0, measured=False)
    step = max(1, -(-max(rgb.shape[:2]) // BANDING_SIDE))
    height, width = -(-rgb.shape[0] // step), -(-rgb.shape[1] // step)
    # Nearest-neighbour at an integer factor picks every n-th pixel, like slicing, without numpy's slow copy.
    image = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_NEAREST) if step > 1 else rgb
    along_rows, row_steps = _staircase_rows(np.ascontiguousarray(image))
    along_cols, col_steps = _staircase_rows(cv2.transpose(image))
    share = (along_rows + along_cols) / (2 * image.shape[0] * image.shape[1])
    steps = np.concatenate([row_steps, col_steps])
    lattice, levels = _value_lattice(image)
    if lattice and _strokes_on_plain_ground(image):
        lattice = 0.0
    return BandingMeasure(round(float(share), 4), float(np.median(steps)) if steps.size else 0.0, lattice, levels)


#: Share of the image that must lie inside areas off the plain ground (at least STROKE_AREA_SIDE px each way) for
#: its histogram to say anything about posterised gradients.
GRADIENT_AREA_SHARE = 0.01
STROKE_AREA_SIDE = 5


def _strokes_on_plain_ground(image: np.ndarray) -> bool:
    """Whether ``image`` is thin strokes on a plain ground: print on a page, line art. Its only values apart from
    the ground are the antialiased edges of the strokes, whose few greys can fall on a comb (12-px serif print
    does) while there is no gradient that could break into bands."""
    import cv2

    ground = plain_ground(image)
    if ground is None:
        return False
    kernel = np.ones((STROKE_AREA_SIDE, STROKE_AREA_SIDE), np.uint8)
    areas = cv2.erode((~ground).view(np.uint8), kernel)
    return np.count_nonzero(areas) < GRADIENT_AREA_SHARE * areas.size


#: A pixel of a soft shadow on a white backdrop: light (darkest channel at least this), grey (channels within
#: SHADOW_GREY_SPREAD levels) and short of the backdrop's white.
SHADOW_LIGHTEST_DARK = 150
SHADOW_GREY_SPREAD = 12
#: A shadow's greys are a banded ramp when they span at least this many lattice steps: two or three flat grey faces
#: of a product that happen to be evenly spaced are not a ramp.
SHADOW_RAMP_STEPS = 3


@dataclass(frozen=True)
class ShadowBanding:
    #: Spacing of the levels the light greys around the subject are drawn in (0: a continuous ramp).
    lattice: float
    #: Share of the frame those greys cover.
    share: float
    #: Luminance span (levels, darkest to lightest 2%) of those greys.
    span: float


def shadow_banding(rgb: np.ndarray, backdrop: np.ndarray) -> ShadowBanding:
    """Whether the soft shadow (the light greys off a white backdrop) is drawn in bands of a few levels.

    A rendered shadow fades to white through every level between; one posterised (or banded by a low bit depth)
    uses every 4th, 8th or 16th level only, which its histogram shows as a comb (kept after JPEG). Measured on the
    light grey pixels only, so a product's own flat faces (a handful of levels, as any flat design has) and the
    backdrop (one level) do not count: those greys must also span SHADOW_RAMP_STEPS steps. ``backdrop``: the
    backdrop mask of ``rgb`` (:func:`white_backdrop`) at the same size.
    """
    brightest = np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    darkest = np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    light_grey = (darkest >= SHADOW_LIGHTEST_DARK) & (brightest - darkest <= SHADOW_GREY_SPREAD) & ~backdrop
    count = int(np.count_nonzero(light_grey))
    if count < 64:
        return ShadowBanding(0.0, 0.0, 0.0)
    greys = np.ascontiguousarray(rgb[light_grey].reshape(-1, 1, 3))
    lattice, _ = _value_lattice(greys)
    green = greys[:, 0, 1]
    span = float(np.percentile(green, 98) - np.percentile(green, 2))
    if lattice and span < SHADOW_RAMP_STEPS * lattice:
        lattice = 0.0
    return ShadowBanding(lattice, round(count / light_grey.size, 4), span)


# --------------------------------------------------------------------------------------------------------------
# Exposure
# --------------------------------------------------------------------------------------------------------------

#: Luminance at or below which a pixel shows no shadow detail, and at or above which no highlight detail.
NO_DETAIL_DARK = 20
NO_DETAIL_BRIGHT = 235
#: Luminance of pixels counted as crushed to black or blown to white.
CRUSHED = 5
BLOWN = 250
#: A pixel with any channel at or above this is clipped: blown white, or a colour bleached flat.
CLIPPED_CHANNEL = 254
#: A clipped pixel with a channel below this is a bleached colour rather than white.
BLEACHED_BELOW = 230


@dataclass(frozen=True)
class ExposureMeasure:
    mean: float
    #: Luminance of the brightest 0.1% (street lights, stars, lit windows keep it high at night).
    highlight: float
    #: Luminance of the darkest 0.1% (a washed-out image has no deep tones anywhere).
    shadow: float
    #: Shares of the frame too dark (≤ 20) or too bright (≥ 235) to show detail.
    dark_share: float
    bright_share: float
    #: Shares crushed to black (≤ 5) and blown to white (≥ 250).
    crushed: float
    blown: float
    #: Share with any channel clipped at 254 or more: blown white plus colours bleached flat by overexposure.
    clipped: float
    #: Share with a channel clipped while another stays below 230 and varies from pixel to pixel: colour burnt out
    #: by overexposure, which neither a white backdrop nor a flat saturated graphic shows.
    bleached: float
    #: Share blown to pure white (every channel at 250 or more), of the subject when there is a backdrop.
    white: float = 0.0
    #: Share of the frame that is a plain white studio backdrop (see :func:`white_backdrop`); ``mean``, ``clipped``,
    #: ``bleached`` and ``white`` are then of the rest of the frame, the subject.
    backdrop: float = 0.0
    #: Luminance of the darkest 2%, the middle and the brightest 2% of the whole frame: the picture's tonal range
    #: (a washed-out picture's darkest tones are a light grey, a murky one's brightest a dark grey).
    low: float = 0.0
    median: float = 0.0
    high: float = 255.0

    @property
    def contrast(self) -> float:
        """The luminance spread between the darkest and the brightest 2% of the frame."""
        return self.high - self.low


#: A pixel whose every channel is at least this is plain white: a studio backdrop's, or a sky's burnt out.
BACKDROP_WHITE = 250
#: A white region is a backdrop when it reaches all four sides of the frame, or three while holding this share
#: of the frame's edge (a subject that spans one whole side, a short product across the bottom).
BACKDROP_THREE_SIDES_EDGE = 0.75
#: Least share of the frame's edge a backdrop holds: it surrounds the subject.
BACKDROP_MIN_EDGE = 0.6


def white_backdrop(colours: np.ndarray, darkest: np.ndarray | None = None) -> np.ndarray | None:
    """The plain white studio backdrop behind a subject, as a mask of ``colours`` (H×W×3 uint8); None when there
    is none. ``darkest``: each pixel's darkest channel, when the caller has it already.

    A backdrop is one connected white region (every channel ≥ 250, so flat by construction) that surrounds the
    subject: it reaches all four sides of the frame and holds most of its edge. A sky burnt out to white
    reaches the top and the upper parts of the sides, not the bottom, and holds under half of the edge; a
    washed-out photo's white is scattered in patches that touch one or two sides.
    """
    import cv2

    if darkest is None:
        # np.minimum over the channel planes: a reduction over the last, 3-long axis costs twenty times as much.
        darkest = np.minimum(np.minimum(colours[..., 0], colours[..., 1]), colours[..., 2])
    white = (darkest >= BACKDROP_WHITE).view(np.uint8)
    if min(white.shape) < 3 or not (white[0].any() and white[-1].any()):
        return None
    count, labels = cv2.connectedComponents(white, connectivity=4)
    if count < 2:
        return None
    edges = (labels[0], labels[-1], labels[:, 0], labels[:, -1])
    ring = np.concatenate(edges)
    held = np.bincount(ring, minlength=count)
    held[0] = 0
    best = int(np.argmax(held))
    share = held[best] / ring.size
    sides = sum(bool((edge == best).any()) for edge in edges)
    if share < BACKDROP_MIN_EDGE or sides < 3 or (sides == 3 and share < BACKDROP_THREE_SIDES_EDGE):
        return None
    return labels == best


#: Levels by which neighbouring pixels of a bleached area must differ in their darkest channel to count as texture.
BLEACHED_TEXTURE_STEP = 2
#: Share of neighbouring pairs inside a bleached area that must differ so for it to be burnt-out texture: photos
#: brightened until they clip read 0.72-0.88, flat or smoothly shaded graphics and paint 0-0.36.
BLEACHED_TEXTURE_SHARE = 0.5


def _textured(darkest: np.ndarray, area: np.ndarray) -> bool:
    """Whether the darkest channel varies from pixel to pixel inside ``area`` (pairs of neighbours both in it)."""
    level = darkest.astype(np.int16)
    pairs = changed = 0
    for axis in (0, 1):
        inside = area[1:] & area[:-1] if axis == 0 else area[:, 1:] & area[:, :-1]
        steps = np.abs(np.diff(level, axis=axis)) > BLEACHED_TEXTURE_STEP
        pairs += int(np.count_nonzero(inside))
        changed += int(np.count_nonzero(steps & inside))
    return pairs > 0 and changed >= BLEACHED_TEXTURE_SHARE * pairs


def exposure(gray: np.ndarray, rgb: np.ndarray, planes: tuple[np.ndarray, ...] | None = None) -> ExposureMeasure:
    """Brightness statistics of an image, from histograms of an at most 512-px strided copy.

    The mean and the clipped and bleached shares are of the subject: a plain white backdrop around it
    (:func:`white_backdrop`) is what a product shot asks for, not highlights burnt out or a washed-out picture.
    ``planes``: ``rgb``'s colour planes, when the caller has them.
    """
    import cv2

    sample = strided(gray, BANDING_SIDE)
    colours = strided(rgb, BANDING_SIDE)
    # OpenCV's maximum and minimum of contiguous copies of the planes: half the time of numpy's over strided ones
    # (copied from the split planes, when there are, rather than every third byte of the image).
    sources = planes if planes is not None else tuple(rgb[..., channel] for channel in range(3))
    red, green, blue = (np.ascontiguousarray(strided(plane, BANDING_SIDE)) for plane in sources)
    brightest, darkest = cv2.max(cv2.max(red, green), blue), cv2.min(cv2.min(red, green), blue)
    backdrop = white_backdrop(colours, darkest)
    if backdrop is not None and backdrop.all():
        backdrop = None
    # The subject is counted through a mask, not copied out: indexing by a mask costs more than the counts.
    subject = np.ones(darkest.shape, bool) if backdrop is None else np.logical_not(backdrop)
    area = max(1, int(np.count_nonzero(subject)))
    clipped = (brightest >= CLIPPED_CHANNEL) & subject
    bleached = clipped & (darkest < BLEACHED_BELOW)
    # Overexposure burns out one channel of a textured, shaded area, so the others still vary from pixel to
    # pixel; a flat saturated colour (a red sign, a logo, a product's paint, two of them side by side) keeps them
    # constant and is not bleached.
    bleached_count = int(np.count_nonzero(bleached))
    bleached_share = bleached_count / area if bleached_count and _textured(darkest, bleached) else 0.0
    rounded = np.rint(sample)
    np.clip(rounded, 0, 255, out=rounded)
    # OpenCV's count of the levels: numpy's bincount widens every one to an index first (four times the time).
    histogram = cv2.calcHist([rounded.astype(np.uint8)], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    total = max(1, int(histogram.sum()))
    cdf = np.cumsum(histogram) / total
    levels = np.arange(256)
    mean = float((histogram * levels).sum() / total)
    if backdrop is not None:
        # A small subject on white averages near white with its backdrop: whether it is washed out is its own mean.
        mean = float(sample[subject].mean())
    return ExposureMeasure(
        mean=round(mean, 1),
        highlight=float(np.searchsorted(cdf, 0.999)),
        shadow=float(np.searchsorted(cdf, 0.001)),
        dark_share=round(float(cdf[NO_DETAIL_DARK]), 4),
        bright_share=round(float(1 - cdf[NO_DETAIL_BRIGHT - 1]), 4),
        crushed=round(float(cdf[CRUSHED]), 4),
        blown=round(float(1 - cdf[BLOWN - 1]), 4),
        clipped=round(np.count_nonzero(clipped) / area, 4),
        white=round(np.count_nonzero((darkest >= BACKDROP_WHITE) & subject) / area, 4),
        bleached=round(bleached_share, 4),
        backdrop=0.0 if backdrop is None else round(float(backdrop.mean()), 4),
        low=float(np.searchsorted(cdf, 0.02)),
        median=float(np.searchsorted(cdf, 0.5)),
        high=float(np.searchsorted(cdf, 0.98)),
    )


# --------------------------------------------------------------------------------------------------------------
# Borders, bars and a cut-off generation
# --------------------------------------------------------------------------------------------------------------

#: Levels a band's pixels may differ from its colour (JPEG noise on a flat area stays within it).
BAND_TOLERANCE = 4.0
#: Share of a line's pixels that must match the band's colour for the line to belong to the band.
BAND_UNIFORM = 0.97
#: Levels by which content must differ from the band where they meet to count as meeting it.
EDGE_CONTRAST = 12.0
#: Lines inside the band's edge searched for the content it meets (JPEG ringing blurs the first few).
EDGE_SEARCH = 6
#: Deepest band looked for, as a share of the side: beyond it the image is blank, which not_blank reports.
MAX_BAND_DEPTH = 0.9
#: Fewest lines (rows for the top and bottom, columns for the sides) a side needs to be searched for a band.
BAND_MIN_LINES = 8

#: Sides in the order a band is reported.
SIDES = ("top", "bottom", "left", "right")


@dataclass(frozen=True)
class FlatBand:
    side: str
    #: Depth of the band as a share of the image's height (top, bottom) or width (left, right).
    depth: float
    #: The band's luminance.
    level: float
    #: Share of the band's inner edge where the content it meets differs from it: near 1 for a straight cut
    #: across the whole width, low for a plain sky or a backdrop that meets a subject only here and there.
    straight: float
    #: Share of that meeting edge where the content fades in from the band's colour over several lines: the
    #: soft shadow an object casts on its backdrop, which a bar's or a frame's hard cut never has.
    soft: float = 0.0


def _lines_from(gray: np.ndarray, side: str) -> np.ndarray:
    if side == "top":
        return gray
    if side == "bottom":
        return gray[::-1]
    if side == "left":
        return gray.T
    return gray.T[::-1]


def flat_bands(gray: np.ndarray) -> list[FlatBand]:
    """Uniform bands of one colour that run along an edge of the image, one per side where there is one.

    A line (row or column) belongs to the band when 97% of its pixels are within 4 levels of the colour of the
    outermost lines; the band ends at the first line that is not. Its ``straight`` share tells a cut (a bar,
    a frame, a generation that stopped) from a plain sky: how much of the inner edge, within 6 lines, meets
    content at least 12 levels away from the band. Use a box-averaged copy (at most 512 px): averaging keeps
    flat areas flat and makes JPEG noise small.
    """
    bands = []
    for side in SIDES:
        lines = _lines_from(gray, side)
        count = lines.shape[0]
        if count < BAND_MIN_LINES:
            continue
        reach = int(count * MAX_BAND_DEPTH) + 1
        colour = float(np.median(lines[:3]))
        depth = _band_depth(lines, colour, min(count, reach + EDGE_SEARCH))
        if depth == 0 or depth >= reach:
            continue
        inner = np.abs(lines[depth : min(count, reach + EDGE_SEARCH, depth + EDGE_SEARCH)] - colour)
        straight = float((inner > EDGE_CONTRAST).mean(axis=1).max()) if inner.size else 0.0
        bands.append(FlatBand(side, round(depth / count, 4), round(colour, 1), round(straight, 3), _soft(inner)))
    return bands


def _band_depth(lines: np.ndarray, colour: float, limit: int) -> int:
    """How many of the first ``limit`` lines, from the first, are uniform in ``colour`` (BAND_UNIFORM of their pixels
    within BAND_TOLERANCE of it). Read in runs of lines growing from a few: most pictures' first line already is
    not, where the whole side's deviation from the colour cost as much as the rest of the check."""
    start, step = 0, 4
    while start < limit:
        stop = min(limit, start + step)
        uniform = (np.abs(lines[start:stop] - colour) <= BAND_TOLERANCE).mean(axis=1) >= BAND_UNIFORM
        if not uniform.all():
            return start + int(np.argmin(uniform))
        start, step = stop, 2 * step
    return limit


def _soft(inner: np.ndarray) -> float:
    """Share of the positions along a band's inner edge that meet content (``inner``: the deviation from the band's
    colour of the lines past it) where that content fades in: its second line still within four times the band's
    tolerance and the next two further away each, its last one past the contrast of an edge. A cut is sharp by its
    second line (the first may be a mix of band and content, averaged down); a cast shadow darkens over many."""
    if inner.shape[0] < EDGE_SEARCH:
        return 0.0
    meets = inner[-1] > EDGE_CONTRAST
    if not meets.any():
        return 0.0
    # Near the band the content is still close to its colour, and it keeps moving away line after line.
    fading = meets & (inner[1] <= 4 * BAND_TOLERANCE) & (inner[2] > inner[1] + 1) & (inner[3] > inner[2] + 1)
    return round(float(np.count_nonzero(fading) / np.count_nonzero(meets)), 3)


def open_corners(gray: np.ndarray, bands: list[FlatBand], level: float) -> int:
    """How many inner corners of a four-sided band (a frame) still show the band's colour a few pixels inside
    the corner, where a framed picture's content begins: a rounded or irregular object on a backdrop leaves its
    corners open, a picture inside a frame fills them."""
    depth = {band.side: band.depth for band in bands}
    height, width = gray.shape
    top, bottom = round(depth["top"] * height), height - 1 - round(depth["bottom"] * height)
    left, right = round(depth["left"] * width), width - 1 - round(depth["right"] * width)
    opened = 0
    for row, down in ((top, 1), (bottom, -1)):
        for col, across in ((left, 1), (right, -1)):
            # Two pixels along the diagonal: past the line averaged from band and content, still at the corner.
            y, x = row + 2 * down, col + 2 * across
            if 0 <= y < height and 0 <= x < width and abs(float(gray[y, x]) - level) <= 2 * BAND_TOLERANCE:
                opened += 1
    return opened


def bands_between(gray: np.ndarray, bars: list[FlatBand]) -> bool:
    """Whether everything between two bars on opposite sides (left and right, or top and bottom) is flat lines
    along them too: the image is drawn in flat bands (a flag, stripes), not a picture framed by bars. ``gray``: the
    copy the bars were found on."""
    depth = {band.side: band.depth for band in bars}
    lines = gray.T if "left" in depth else gray
    count = lines.shape[0]
    near, far = ("left", "right") if "left" in depth else ("top", "bottom")
    first, last = round(depth[near] * count), count - round(depth[far] * count)
    between = lines[first:last]
    if between.shape[0] == 0:
        return False
    deviation = np.abs(between - np.median(between, axis=1, keepdims=True))
    return bool(((deviation <= BAND_TOLERANCE).mean(axis=1) >= BAND_UNIFORM).all())


def covered_share(bands: list[FlatBand]) -> float:
    """Share of the image area the bands cover together."""
    depth = {band.side: band.depth for band in bands}
    rows = min(1.0, depth.get("top", 0.0) + depth.get("bottom", 0.0))
    cols = min(1.0, depth.get("left", 0.0) + depth.get("right", 0.0))
    return 1 - (1 - rows) * (1 - cols)


# --------------------------------------------------------------------------------------------------------------
# Smear: blur seen in the profile of the sharpest edges, relative to the scene's own edges
# --------------------------------------------------------------------------------------------------------------

#: Longest side of the (box-averaged) copy the edges' profile is read on.
SMEAR_SIDE = 256
#: Span (px of that copy) a blurred edge is compared over: an edge sharp at that scale changes as much in 1 px as
#: in SMEAR_SPAN px; an edge smeared over SMEAR_SPAN px or more changes 1/SMEAR_SPAN as much.
SMEAR_SPAN = 8
#: Share of the pixels whose changes count as the picture's sharpest edges.
SMEAR_TOP = 0.005
#: Tile (px of that copy) and the spread of levels above which it counts as busy.
SMEAR_TILE, SMEAR_BUSY_LEVEL = 16, 8.0
#: The four directions an edge profile is read along, (down, across) steps, and how the detail names each.
SMEAR_DIRECTIONS = (((0, 1), "sideways"), ((1, 0), "up and down"), ((1, 1), "diagonally"), ((1, -1), "diagonally"))


@dataclass(frozen=True)
class SmearMeasure:
    #: The lowest, over the four directions, of: the strongest 1-px changes along it over the strongest changes
    #: across SMEAR_SPAN px along it (the top SMEAR_TOP of each). Sharp edges read 0.4-0.9, edges smeared over
    #: SMEAR_SPAN px or more 1/SMEAR_SPAN.
    ratio: float
    #: The direction that ratio is read along ("sideways", "up and down", "diagonally").
    direction: str
    #: How many of the four directions read under ``threshold`` (4: blurred every way, 1: smeared one way).
    smeared_ways: int
    #: Share of the tiles whose levels spread over SMEAR_BUSY_LEVEL: how much of the frame is busy with content.
    busy: float
    #: The highest ratio over the four directions: far above ``ratio`` only when the blur has a direction.
    best: float = 1.0


def smear(gray: np.ndarray, threshold: float, min_busy: float = 0.0) -> SmearMeasure:
    """How sharp the picture's sharpest edges are, as a share of the change they make: a measure of blur that does
    not grow with the amount or contrast of what the scene shows (a smeared busy street keeps a high detail score;
    its edges still fade over many pixels). Read per direction, so motion blur any way shows. A picture less busy
    than ``min_busy`` is not read (ratio 1): a product on white is judged on its detail score."""
    g = box_downscale(gray, SMEAR_SIDE)
    h, w = g.shape
    if min(h, w) <= 2 * SMEAR_SPAN:
        return SmearMeasure(1.0, "", 0, 0.0)
    rows, cols = h // SMEAR_TILE, w // SMEAR_TILE
    spread = g[: rows * SMEAR_TILE, : cols * SMEAR_TILE].reshape(rows, SMEAR_TILE, cols, SMEAR_TILE).std(axis=(1, 3))
    busy = round(float((spread > SMEAR_BUSY_LEVEL).mean()), 3) if spread.size else 0.0
    if busy < min_busy:
        return SmearMeasure(1.0, "", 0, busy)

    def strongest(change: np.ndarray) -> float:
        flat = np.abs(change).ravel()
        n = max(1, int(flat.size * SMEAR_TOP))
        return float(np.partition(flat, flat.size - n)[flat.size - n :].mean())

    def change(dy: int, dx: int, n: int) -> np.ndarray:
        ahead = g[dy * n :, dx * n :] if dx >= 0 else g[dy * n :, : w + dx * n]
        behind = g[: h - dy * n, : w - dx * n] if dx >= 0 else g[: h - dy * n, -dx * n :]
        return ahead - behind

    ratios = []
    for (dy, dx), name in SMEAR_DIRECTIONS:
        span = strongest(change(dy, dx, SMEAR_SPAN))
        ratios.append((strongest(change(dy, dx, 1)) / span if span > 0 else 1.0, name))
    ratio, direction = min(ratios)
    best = max(r for r, _ in ratios)
    return SmearMeasure(round(ratio, 3), direction, sum(r < threshold for r, _ in ratios), busy, round(best, 3))


# --------------------------------------------------------------------------------------------------------------
# Tiling and duplicated halves
# --------------------------------------------------------------------------------------------------------------

#: Longest side of the (box-averaged) copy repetition is measured on.
TILING_SIDE = 256
#: Tile counts per axis looked for (2 = duplicated halves or a 2×2 grid).
TILE_COUNTS = (2, 3, 4)
#: Shifts nearer the origin than this (px of the analysis copy) are neighbours, not repeats.
NEAR_ORIGIN = 4
#: Fewest pixels across and down the analysis copy needs for its repeats to be looked for.
TILING_MIN_SIDE = 16


@dataclass(frozen=True)
class RepetitionMeasure:
    #: Correlation (0–1) of the image's fine detail with itself at the strongest repeat found.
    similarity: float
    #: Tiles across and down (2, 1 = left and right halves; 2, 2 = a 2×2 grid); (0, 0) when none.
    tiles: tuple[int, int]
    #: Strongest self-similarity at any other shift: a regular pattern (brick, tiles, windows) repeats at
    #: its own period too, a tiled image does not.
    pattern: float
    #: False when the analysis copy is under TILING_MIN_SIDE on a side: nothing was measured.
    measured: bool = True


def _detail(gray: np.ndarray) -> np.ndarray:
    """A band of mid-fine detail (3×3 minus 9×9 box blur): a sky gradient cannot read as a repeat, and a copy
    shifted by half a pixel of the analysis copy still correlates."""
    import cv2

    source = gray.astype(np.float32)
    detail = cv2.blur(source, (3, 3), borderType=cv2.BORDER_REFLECT) - cv2.blur(
        source, (9, 9), borderType=cv2.BORDER_REFLECT
    )
    return detail - detail.mean()


#: Longest side of the (box-averaged) copy mirror images are looked for on: a pasted mirror is exact at any scale.
MIRROR_SIDE = 256
#: Fewest share of the side a mirrored band reaches either side of its axis (the off-centre mirror at 60% of the
#: width mirrors 40% of it each way; a symmetric product fills less).
MIRROR_MIN_SHARE = 0.2
#: Rows (or columns) of the analysis copy a strip of the busy map averages over.
MIRROR_BLOCK = 8
#: RMS of the fine detail over a MIRROR_BLOCK strip above which that strip of a column is busy (a textured photo
#: reads 5-30 there, a white backdrop or a smooth sky 0-1).
MIRROR_BUSY_LEVEL = 2.0
#: Least busy share of a mirrored band for its match to count.
MIRROR_MIN_BUSY = 0.5


@dataclass(frozen=True)
class MirrorMeasure:
    #: Correlation (0-1) of the fine detail either side of the axis with its mirror image, over the mirrored band.
    similarity: float
    #: "vertical" (left and right are mirror images: the axis is a column) or "horizontal" (top and bottom).
    axis: str
    #: Where the axis lies, as a share of the width (vertical) or height (horizontal).
    position: float
    #: Share of the mirrored band that is busy with detail: a symmetric object on a plain ground is mostly plain,
    #: a photograph copied onto its own mirror image is busy all over.
    busy: float
    #: The strongest mirror the other way (a mandala or a tiled design mirrors both ways; a pasted mirror one).
    other_way: float = 0.0
    #: The strongest mirror the same way about an axis at least MIRROR_ELSEWHERE of the side from this one (a
    #: chessboard or a regular pattern mirrors about every line between its cells).
    elsewhere: float = 0.0


#: Share of the side a second mirror axis lies from the first to count as another one.
MIRROR_ELSEWHERE = 0.1


def mirrored(gray: np.ndarray) -> MirrorMeasure:
    """The strongest mirror image of one part of the picture in another: left-right about a column, or top-bottom
    about a row, anywhere from MIRROR_MIN_SHARE of the side to the other end.

    One FFT per axis of the fine detail (as :func:`repetition` reads it): the convolution of each row with itself
    is, at lag s, the sum of d[x]·d[s−x], the match of the row with its mirror about s/2; over the overlap it is
    normalised by the energy there (1 for an exact mirror). Each row's (column's) mean detail is taken off first:
    a horizon is the same at every column and matches its mirror anywhere. Only the bands that are mostly busy
    count: a bottle or a logo on white is symmetric by design, a busy photograph is not.
    """
    small = box_downscale(gray, MIRROR_SIDE)
    h, w = small.shape
    if h < TILING_MIN_SIDE or w < TILING_MIN_SIDE:
        return MirrorMeasure(0.0, "", 0.0, 0.0)
    from scipy import fft

    detail = _detail(small)
    best = MirrorMeasure(0.0, "", 0.0, 0.0)
    found: list[MirrorMeasure] = []
    for axis, rows in (("vertical", detail), ("horizontal", np.ascontiguousarray(detail.T))):
        n, side = rows.shape
        strips = n // MIRROR_BLOCK
        reach = int(np.ceil(MIRROR_MIN_SHARE * side))
        lags = np.arange(2 * reach - 1, 2 * side - 2 * reach)
        if strips == 0 or lags.size == 0:
            continue
        lo, hi = np.maximum(0, lags - side + 1), np.minimum(side - 1, lags)
        rms = np.sqrt((rows[: strips * MIRROR_BLOCK] ** 2).reshape(strips, MIRROR_BLOCK, side).mean(axis=1))
        busy_columns = np.concatenate([[0.0], np.cumsum((rms > MIRROR_BUSY_LEVEL).mean(axis=0))])
        busy = (busy_columns[hi + 1] - busy_columns[lo]) / (hi + 1 - lo)
        if not (busy >= MIRROR_MIN_BUSY).any():
            continue
        centred = rows - rows.mean(axis=1, keepdims=True)
        # Single precision is plenty for a match read to two decimals. A circular convolution this long wraps no
        # lag that is read onto another.
        length = fft.next_fast_len(2 * side - 2 * reach, real=True)
        spectrum = fft.rfft(centred, n=length, axis=1, workers=1)
        conv = np.fft.irfft((spectrum * spectrum).sum(axis=0), n=length)
        energy = np.concatenate([[0.0], np.cumsum((centred * centred).sum(axis=0, dtype=np.float64))])
        band = energy[hi + 1] - energy[lo]
        match = np.where(band > 1e-6 * (hi + 1 - lo) * n, conv[lags % length] / np.maximum(band, 1e-9), 0.0)
        counted = np.where(busy >= MIRROR_MIN_BUSY, match, 0.0)
        i = int(np.argmax(counted))
        far = np.abs(lags - lags[i]) > 2 * MIRROR_ELSEWHERE * side
        elsewhere = float(counted[far].max()) if far.any() else 0.0
        found.append(
            MirrorMeasure(
                round(float(counted[i]), 3),
                axis,
                round(float(lags[i] / 2 / side), 3),
                round(float(busy[i]), 3),
                elsewhere=round(elsewhere, 3),
            )
        )
    if not found:
        return best
    found.sort(key=lambda m: m.similarity, reverse=True)
    other = found[1].similarity if len(found) > 1 else 0.0
    return replace(found[0], other_way=other)


def _peak_near(rho: np.ndarray, dy: float, dx: float, radius: int = 1) -> float:
    h, w = rho.shape
    best = -1.0
    for oy in range(-radius, radius + 1):
        for ox in range(-radius, radius + 1):
            best = max(best, float(rho[(round(dy) + oy) % h, (round(dx) + ox) % w]))
    return best


#: Share of the detail's energy that must change along an axis for repeats along it to be looked for.
MIN_VARYING_ENERGY = 1e-3


def _without_constant(rho: np.ndarray, detail: np.ndarray, energy: float, axis: int) -> np.ndarray:
    """The autocorrelation of the part of ``detail`` (whose energy is ``energy``) that changes along ``axis`` (1:
    across, 0: down), from ``rho``, the whole detail's, at the shifts of 0 and ±1 px the other way (three rows of
    it for ``axis`` 1, three columns for 0): the part that is the same on every line along ``axis`` (the mean over
    it) correlates with itself at every shift along it, by its own autocorrelation the other way, which is taken
    out. All zeros when (next to) nothing changes along ``axis``: nothing there can repeat."""
    length = detail.shape[axis]
    constant = detail.mean(axis=axis)  # one value per line across ``axis``
    constant_energy = length * float((constant**2).sum())
    varying = energy - constant_energy
    if varying <= MIN_VARYING_ENERGY * energy:
        return np.zeros_like(rho)
    # The constant part's own circular autocorrelation, along the other axis, the same at every shift along ``axis``.
    own = np.fft.irfft(np.abs(np.fft.rfft(constant)) ** 2, n=constant.size)[[-1, 0, 1]] * length
    own = own[:, None] if axis == 1 else own[None, :]
    return (rho * energy - own) / varying


def repetition(gray: np.ndarray) -> RepetitionMeasure:
    """Whether the image is made of copies of one part of it: tiles or duplicated halves.

    The circular autocorrelation of the fine detail (one FFT of an at most 256-px box-averaged copy) is 1 at
    a shift of W/n when the image is n copies side by side, whatever the copy shows; natural photos stay
    below 0.3 there. Mirror symmetry is not looked for: symmetric designs (a mandala, a logo, a facade shot
    head-on) are what many prompts ask for. A regular
    pattern (brick, a chessboard, a facade of windows) also repeats at W/n but does so at its own, shorter
    period as well, which ``pattern`` reports.
    """
    small = box_downscale(gray, TILING_SIDE)
    h, w = small.shape
    if h < TILING_MIN_SIDE or w < TILING_MIN_SIDE:
        return RepetitionMeasure(0.0, (0, 0), 0.0, measured=False)
    detail = _detail(small)
    energy = float((detail**2).sum())
    if energy < 1e-6 * detail.size:
        return RepetitionMeasure(0.0, (0, 0), 0.0)
    spectrum = np.fft.rfft2(detail)
    rho = np.fft.irfft2(np.abs(spectrum) ** 2, s=detail.shape) / energy
    # A repeat along an axis is of what changes along it: the part of the detail that is the same in every row
    # (the edges of vertical bands, a flag's, a gradient's ends) matches itself at every vertical shift, and
    # copies down the image are looked for in the rest only (and likewise across).
    # Only the shifts the peaks are read at: the rows one pixel either side of no vertical shift (for repeats
    # across), the columns either side of no horizontal shift (for repeats down).
    near = [-1, 0, 1]
    across_rho = _without_constant(rho[near], detail, energy, axis=1)
    down_rho = _without_constant(rho[:, near], detail, energy, axis=0)
    # Along each axis take the finest tiling that repeats about as strongly as the best one: a 4-tile
    # repeat also repeats at half the side.
    counts, strengths = [], []
    for axis_peak in (lambda n: _peak_near(across_rho, 0, w / n), lambda n: _peak_near(down_rho, h / n, 0)):
        values = {n: axis_peak(n) for n in TILE_COUNTS}
        strongest = max(values.values())
        finest = max(n for n, value in values.items() if value >= strongest - 0.05)
        counts.append(finest if strongest >= 0.5 else 1)
        strengths.append(strongest)
    best = max(strengths)
    tiles = (counts[0], counts[1])
    # Pattern: the strongest repeat away from the origin and from every multiple of the tile found, each
    # peak being as wide as the origin's (smooth detail decorrelates slowly).
    width = NEAR_ORIGIN
    while width < min(h, w) // 8 and max(rho[0, width], rho[width, 0]) > 0.5:
        width += 1
    yy = np.minimum(np.arange(h), h - np.arange(h))[:, None]
    xx = np.minimum(np.arange(w), w - np.arange(w))[None, :]
    mask = (yy**2 + xx**2) > width**2
    ty, tx = h / tiles[1], w / tiles[0]
    near_y = np.abs(((yy + ty / 2) % ty) - ty / 2) <= width
    near_x = np.abs(((xx + tx / 2) % tx) - tx / 2) <= width
    mask &= ~(near_y & near_x)
    pattern = float(rho[mask].max()) if mask.any() else 0.0
    return RepetitionMeasure(round(best, 3), tiles, round(pattern, 3))


#: Where a seam between pasted parts is looked for: halves and thirds (as shares of the side).
SEAM_POSITIONS = (1 / 2, 1 / 3, 2 / 3)
#: Lines either side of a candidate compared with it (an eighth of the side): JPEG block edges and a regular
#: pattern's edges recur within it, a seam does not.
SEAM_CONTEXT = 1 / 8
#: A seam is looked for along a side at least SEAM_MIN_LENGTH px long, on an image at least SEAM_MIN_ACROSS px
#: the other way (one sampled line: lines are every 8th).
SEAM_MIN_LENGTH, SEAM_MIN_ACROSS = 32, 8


@dataclass(frozen=True)
class SeamMeasure:
    #: "vertical" (a column) or "horizontal" (a row); "" when none.
    direction: str
    #: Where the seam runs, as a share of the width (vertical) or height (horizontal).
    position: float
    #: Median jump across the seam line, in levels.
    step: float
    #: Share of the line's length where the jump across it stands out from the pixels beside it.
    coverage: float
    #: The same share for the most seam-like other line nearby (a pattern's or a JPEG grid's edges).
    nearby: float
    #: False when the image is too small either way for a seam to be looked for.
    measured: bool = True
    #: The strongest seam the other way (a seam grid has both), or None.
    crossing: SeamMeasure | None = None


def seam(gray: np.ndarray) -> SeamMeasure:
    """:func:`seam_in_lines` on a whole luminance array."""
    return seam_in_lines(gray[::8], gray.T[::8])


#: Samples of a strip around a candidate seam line read at a time (a few megabytes of float32 each way; a 40 MP
#: image's whole strips, with their jumps and neighbours, held 24 MiB).
SEAM_CHUNK_SAMPLES = 1 << 17


def _jump(image: np.ndarray, column: int) -> np.ndarray:
    """|the luminance change| (float32) into ``column`` from the one before it, along every line of ``image``."""
    return np.abs(image[:, column].astype(np.float32) - image[:, column - 1].astype(np.float32))


def _seam_coverage(image: np.ndarray, first: int, last: int) -> np.ndarray:
    """For each jump between columns first+1..last-2 of ``image`` (lines × length, float32 or uint8) and the next,
    the share of lines where it stands out from the jumps either side of it (the mean of the two, twice over, plus
    2 levels). Read a chunk of lines at a time, as float32."""
    samples = image.shape[0]
    counts = np.zeros(max(0, last - first - 3), np.int64)
    step = max(1, SEAM_CHUNK_SAMPLES // max(1, last - first))
    for top in range(0, samples, step):
        jumps = np.diff(image[top : top + step, first:last].astype(np.float32), axis=1)
        np.abs(jumps, out=jumps)  # jumps[:, i]: between columns first+i and first+i+1
        # Twice the mean of the jumps either side, plus 2: the calibrated threshold's own float32 steps, in place.
        beside = jumps[:, :-2] + jumps[:, 2:]
        beside /= 2
        beside *= 2
        beside += 2
        counts += np.count_nonzero(jumps[:, 1:-1] > beside, axis=0)
    return counts / samples


def seam_in_lines(rows: np.ndarray, columns: np.ndarray) -> SeamMeasure:
    """The strongest straight seam at a half or a third of the image: a jump between two neighbouring columns
    (or rows) along most of the height (width) that the lines near it do not show.

    Two pasted parts meet along such a line (a tile edge, a half shifted or brightened); real edges are not
    one pixel sharp along the whole frame, and a pattern's or a JPEG grid's edges recur a few pixels away.
    Read at full resolution on every eighth row (``rows``, H/8 × W) and every eighth column (``columns``, W/8 × H,
    transposed), around the candidate lines only; luminance as float32 or uint8 (read as float32).
    """
    measured = False
    strongest: dict[str, SeamMeasure] = {}
    height, width = columns.shape[1], rows.shape[1]
    for direction, image, across_length in (("vertical", rows, height), ("horizontal", columns, width)):
        length = image.shape[1]
        if length < SEAM_MIN_LENGTH or across_length < SEAM_MIN_ACROSS:
            continue
        measured = True
        best = SeamMeasure(direction, 0.0, 0.0, 0.0, 0.0)
        reach = max(4, round(length * SEAM_CONTEXT))
        for share in SEAM_POSITIONS:
            centre = round(length * share)
            first, last = max(0, centre - reach - 2), min(length, centre + reach + 2)
            coverage = _seam_coverage(image, first, last)
            columns = np.arange(coverage.size) + first + 2  # the column each jump arrives at
            at_line = np.abs(columns - centre) <= 1
            index = int(np.argmax(np.where(at_line, coverage, -1.0)))
            nearby = float(coverage[np.abs(columns - columns[index]) > 2].max(initial=0.0))
            if coverage[index] - nearby > best.coverage - best.nearby:
                best = SeamMeasure(
                    direction,
                    round(int(columns[index]) / length, 3),
                    round(float(np.median(_jump(image, int(columns[index])))), 1),
                    round(float(coverage[index]), 3),
                    round(nearby, 3),
                )
        strongest[direction] = best
    if not measured:
        return SeamMeasure("", 0.0, 0.0, 0.0, 0.0, measured=False)
    ranked = sorted(strongest.values(), key=lambda m: m.coverage - m.nearby, reverse=True)
    best = ranked[0] if ranked[0].coverage - ranked[0].nearby > 0 else SeamMeasure("", 0.0, 0.0, 0.0, 0.0)
    if best.direction and len(ranked) > 1 and ranked[1].coverage - ranked[1].nearby > 0:
        best = replace(best, crossing=ranked[1])
    return best


#: Widest gutter between panels, as a share of the side it crosses (wider flat strips are a backdrop or a band of
#: a design); the narrowest is one pixel.
GUTTER_MAX_WIDTH = 0.06
#: Smallest panel either side of a gutter, as a share of the side: a flat line nearer the edge is a bar or a frame.
GUTTER_MIN_PANEL = 0.12
#: Share of a gutter line's (sampled) pixels within GUTTER_TOLERANCE levels of its colour: a drawn gutter is flat
#: (but for JPEG ringing next to the panels), a photographed wall, pole or window frame is lit and shaded along its
#: length.
GUTTER_UNIFORM, GUTTER_TOLERANCE = 0.98, 6.0
#: Share of the line next to a gutter, on each side, that must differ from its colour by EDGE_CONTRAST: a panel
#: fills its side of the gutter edge to edge (a product on a white backdrop meets it only here and there).
GUTTER_MEETS = 0.8
#: The same share for a gutter that crosses one found the other way (a grid): a dark panel may merge with a black
#: gutter along part of its edge.
GUTTER_CROSSING_MEETS = 0.5
#: Share of the lines beside a gutter that must not be flat: the panels are pictures, not a design's flat bands.
GUTTER_TEXTURED = 0.5
#: Flat runs this close together are one gutter (JPEG ringing breaks a gutter's lines near its edges).
GUTTER_JOIN = 2


@dataclass(frozen=True)
class Gutter:
    #: "vertical" (panels side by side) or "horizontal" (panels stacked).
    direction: str
    #: Centre of the gutter as a share of the width (vertical) or height (horizontal).
    position: float
    #: Its width in pixels of the full image.
    width: int
    #: Its luminance.
    level: float
    #: Share of its length along which the panels on both sides differ from it (the lower of the two sides).
    meets: float


def _flat_runs(flat: np.ndarray) -> list[tuple[int, int]]:
    change = np.diff(np.concatenate(([0], flat.astype(np.int8), [0])))
    runs: list[tuple[int, int]] = []
    for start, end in zip(np.flatnonzero(change == 1).tolist(), np.flatnonzero(change == -1).tolist(), strict=True):
        if runs and start - runs[-1][1] <= GUTTER_JOIN:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


#: Positions along the lines whose middle sample and flatness are read at a time: a copy of every sample at them
#: stays about a megabyte, where a 40 MP image's whole lines were copied three times over (60 MiB).
GUTTER_CHUNK_SAMPLES = 1 << 18


def _line_levels(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each position's middle sample (its median, or the upper of the two middle ones) of ``lines`` (samples ×
    length, float32 or uint8), and whether the position is flat: GUTTER_UNIFORM of its samples within
    GUTTER_TOLERANCE of it. Read a chunk of positions at a time, as float32."""
    samples, length = lines.shape
    level = np.empty(length, np.float32)
    flat = np.empty(length, bool)
    step = max(1, GUTTER_CHUNK_SAMPLES // samples)
    for start in range(0, length, step):
        chunk = slice(start, start + step)
        part = lines[:, chunk].astype(np.float32)
        # A partition of a contiguous copy (in place) costs a fifth of np.median along the strided axis.
        across = np.ascontiguousarray(part.T)
        across.partition(samples // 2, axis=1)
        level[chunk] = across[:, samples // 2]
        np.subtract(part, level[chunk], out=part)
        flat[chunk] = (np.abs(part, out=part) <= GUTTER_TOLERANCE).mean(axis=0) >= GUTTER_UNIFORM
    return level, flat


def _gutters_in(lines: np.ndarray, direction: str) -> list[Gutter]:
    """Candidate gutters across ``lines`` (samples × length, float32 or uint8 luminance): runs of positions along the
    length where every sample is one flat colour, with a textured panel on both sides."""
    samples, length = lines.shape
    if samples < BAND_MIN_LINES or length < SEAM_MIN_LENGTH:
        return []
    level, flat = _line_levels(lines)
    widest = max(2.0, GUTTER_MAX_WIDTH * length)
    beside = max(EDGE_SEARCH, round(0.03 * length))
    margin = max(GUTTER_MIN_PANEL * length, beside + GUTTER_JOIN)
    found = []
    for start, end in _flat_runs(flat):
        if end - start > widest or start < margin or end > length - margin:
            continue
        run = level[start:end][flat[start:end]]
        colour = float(np.median(run))
        if float(np.ptp(run)) > GUTTER_TOLERANCE:
            continue
        meets, textured = [], True
        for near, wide in (
            (slice(start - EDGE_SEARCH, start), slice(start - beside, start)),
            (slice(end, end + EDGE_SEARCH), slice(end, end + beside)),
        ):
            edge = lines[:, near].astype(np.float32)
            meets.append(float((np.abs(edge - colour) > EDGE_CONTRAST).mean(axis=0).max()))
            textured = textured and float((~flat[wide]).mean()) >= GUTTER_TEXTURED
        if textured and min(meets) >= GUTTER_CROSSING_MEETS:
            centre = round((start + end) / 2 / length, 3)
            found.append(Gutter(direction, centre, end - start, round(colour, 1), round(min(meets), 3)))
    return found


def gutters(rows: np.ndarray, columns: np.ndarray) -> list[Gutter]:
    """Straight gutters of one flat colour that cross the whole picture between textured panels: the white (or
    black) lines between the pictures of a contact sheet or a grid of variations. ``rows``: every eighth row at full
    resolution (H/8 × W), ``columns``: every eighth column transposed (W/8 × H), as for :func:`seam_in_lines`.

    A gutter is met by its panels along most of its length; one that crosses such a gutter (a grid) along half of
    it, as a dark picture merges with a black gutter."""
    candidates = _gutters_in(rows, "vertical") + _gutters_in(columns, "horizontal")
    sure = [g for g in candidates if g.meets >= GUTTER_MEETS]
    ways = {g.direction for g in sure}
    return [g for g in candidates if g in sure or (ways and g.direction not in ways)]


# --------------------------------------------------------------------------------------------------------------
# Broken generations: flat blocks, smeared streaks, blown-up pixels
# --------------------------------------------------------------------------------------------------------------

#: Longest side of the (strided, exact-valued) copy flat damage and pixelation are read on.
DAMAGE_SIDE = 1024
#: Levels (the channel that changes most) within which neighbouring pixels count as one flat colour.
DAMAGE_FLAT = 2
#: Smallest side of a flat block counted, in pixels of the analysis copy.
BLOCK_MIN_SIDE = 12
#: Share of its bounding box a flat area must fill to be a block (a rectangle with nothing inside).
BLOCK_FILL = 0.92
#: Share of the ring just outside a block that must be picture (not flat) for the block to be pasted over it.
BLOCK_RING_TEXTURED = 0.35
#: 2×2 cells between a block's edge and the ring read around it (past the edge line itself), and the ring's width.
BLOCK_RING_GAP, BLOCK_RING_WIDTH = 2, 2
#: Shortest run of one flat colour along a row (or column) that counts as a streak, as a share of its length.
STREAK_MIN_RUN = 1 / 8
#: Levels by which a streak differs from the picture beside it.
STREAK_CONTRAST = 8


@dataclass(frozen=True)
class FlatDamage:
    #: Share of the image covered by flat rectangles pasted over the picture (textured all around them).
    blocks: float
    #: How many such rectangles.
    block_count: int
    #: Share of the rows (or columns) that are streaks: long runs of one flat colour laid across a textured picture.
    streaks: float
    #: "rows" or "columns": the direction of the streaks.
    streak_direction: str
    measured: bool = True


def _changes(planes: list[np.ndarray], axis: int) -> np.ndarray:
    """The largest channel change (uint8) between each pixel and its neighbour along ``axis`` (1: to the right,
    0: below), from the image's colour planes: OpenCV reads a plane's shifted views in place, where the interleaved
    image needed two copies and a maximum over strided channels."""
    import cv2

    first, *others = (
        cv2.absdiff(plane[:, :-1], plane[:, 1:]) if axis == 1 else cv2.absdiff(plane[:-1], plane[1:])
        for plane in planes
    )
    for change in others:
        cv2.max(first, change, dst=first)
    return first


def _blocks(flat_right: np.ndarray, flat_down: np.ndarray) -> tuple[float, int]:
    import cv2

    flat = flat_right[:-1] & flat_down[:, :-1]  # (H-1)×(W-1): flat towards the right and downwards
    # 2×2 cells flat throughout: a quarter of the pixels to label (the labelling is most of this measure's time),
    # and a block loses at most a pixel of each side.
    height, width = flat.shape[0] // 2, flat.shape[1] // 2
    flat = flat[: 2 * height, : 2 * width]
    flat = flat[0::2, 0::2] & flat[1::2, 0::2] & flat[0::2, 1::2] & flat[1::2, 1::2]
    cells = flat.view(np.uint8)
    # A block fills BLOCK_FILL of a box at least BLOCK_MIN_SIDE // 2 cells each way, so its fullest row (column) runs
    # _BLOCK_RUN cells without a break: a photograph's flat cells (grain, a little sky) seldom run so far either way,
    # and then no block can be found without the labelling.
    along = _windows(cells, _BLOCK_RUN, cv2.bitwise_and).any()
    if not along or not _windows(cv2.transpose(cells), _BLOCK_RUN, cv2.bitwise_and).any():
        return 0.0, 0
    stats = cv2.connectedComponentsWithStats(cells, connectivity=4)[2][1:]
    textured = ~flat
    widths, heights, areas = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    # A band from edge to edge is a bar, a backdrop or a cut-off generation (borders and truncated say so).
    kept = (
        (np.minimum(widths, heights) >= BLOCK_MIN_SIDE // 2)
        & (areas >= BLOCK_FILL * widths * heights)
        & (widths < 0.9 * width)
        & (heights < 0.9 * height)
    )
    covered, found = 0, 0
    for x, y, w, h, area in stats[kept].tolist():
        outer = BLOCK_RING_GAP + BLOCK_RING_WIDTH
        top, left = max(0, y - outer), max(0, x - outer)
        bottom, right = min(height, y + h + outer), min(width, x + w + outer)
        window = textured[top:bottom, left:right]
        ring = np.ones(window.shape, dtype=bool)
        ring[
            max(0, y - BLOCK_RING_GAP - top) : y + h + BLOCK_RING_GAP - top,
            max(0, x - BLOCK_RING_GAP - left) : x + w + BLOCK_RING_GAP - left,
        ] = False
        if not ring.any() or window[ring].mean() < BLOCK_RING_TEXTURED:
            continue
        covered += area
        found += 1
    return covered / (height * width), found


def _least_run(side: int, fill: float) -> int:
    """The longest run of cells without a break that the fullest row of any area filling ``fill`` of a box at least
    ``side`` cells each way is sure to hold: that row holds at least ``fill`` of the box's width w, so at most
    k = floor((1 - fill)·w) breaks cut its w − k cells into k + 1 runs, the longest at least (w − k) / (k + 1).
    Widths up to DAMAGE_SIDE cells: the copy read has no more."""
    runs = []
    for width in range(side, DAMAGE_SIDE + 1):
        breaks = int((1 - fill) * width + 1e-9)
        runs.append(-(-(width - breaks) // (breaks + 1)))
    return min(runs)


#: The run of flat cells along a row and along a column without which no flat block can be found.
_BLOCK_RUN = _least_run(BLOCK_MIN_SIDE // 2, BLOCK_FILL)


def _windows(flags: np.ndarray, size: int, join: Callable[..., np.ndarray]) -> np.ndarray:
    """``join`` (OpenCV's bitwise and, or) of every ``size`` neighbouring positions along axis 1 of a 0/1 uint8
    array: entry i joins positions i to i + size - 1, so a row of n gives n - size + 1 entries. The window is
    doubled in log2(size) passes over shifted views, then two overlapping halves are joined."""
    span, joined = 1, flags
    while 2 * span <= size:
        joined, span = join(joined[:, :-span], joined[:, span:]), 2 * span
    if span < size:
        joined = join(joined[:, : span - size], joined[:, size - span :])
    return joined


def _long_runs(flat: np.ndarray, run: int) -> np.ndarray:
    """The positions along axis 1 (uint8 0/1) on a run of at least ``run`` ones, as the morphological opening by a
    1×run line (OpenCV's, border 0) marks them: for an even ``run`` its anchor puts the kept run one position
    later, [start + 1, end + 1] clipped to the row, which the measure was calibrated with."""
    import cv2

    length = flat.shape[1]
    if length < run:
        return np.zeros_like(flat)
    starts = _windows(flat, run, cv2.bitwise_and)  # windows of ``run`` ones, by their first position
    # Each position is kept when a window starting at most ``run - 1`` before it (one more, for an even run) holds.
    before = run - 1 + (run + 1) % 2
    padded = np.zeros((flat.shape[0], length + run - 1), dtype=np.uint8)
    padded[:, before : before + starts.shape[1]] = starts
    return _windows(padded, run, cv2.bitwise_or)


def _holds_run(flat: np.ndarray, run: int, axis: int) -> bool:
    """Whether any line along ``axis`` (1: rows, 0: columns) of ``flat`` holds ``run`` True positions in a row. The
    run is doubled over shifted views as in :func:`_windows`, stopping as soon as none is left."""
    import cv2

    def join(joined: np.ndarray, start: int, end: int) -> np.ndarray:
        if axis == 1:
            return cv2.bitwise_and(joined[:, start : joined.shape[1] - end], joined[:, end : joined.shape[1] - start])
        return cv2.bitwise_and(joined[start : joined.shape[0] - end], joined[end : joined.shape[0] - start])

    if flat.shape[axis] < run:
        return False
    if not _holds_aligned_block(flat, run, axis):
        return False
    span, joined = 1, flat.view(np.uint8)
    while 2 * span <= run:
        joined, span = join(joined, 0, span), 2 * span
        if not cv2.countNonZero(joined):
            return False
    if span < run:
        joined = join(joined, 0, run - span)
    return bool(cv2.countNonZero(joined))


#: Longest aligned block :func:`_holds_aligned_block` looks for (8 bytes of 8 flags each).
ALIGNED_BLOCK_MOST = 64


def _holds_aligned_block(flat: np.ndarray, run: int, axis: int) -> bool:
    """A necessary condition for :func:`_holds_run`, told in about one pass over ``flat`` (bool): whether any line
    along ``axis`` is True throughout a block of ``block`` positions starting at a multiple of ``block``, the largest
    power of two (at most ALIGNED_BLOCK_MOST) with 2·block − 1 ≤ ``run``. Any ``run`` positions in a row hold such
    a block, so a line without one holds no run; a photograph's grain breaks every block, where the doubling search
    passed over the whole array up to seven times. True (nothing told) when ``run`` allows no block of 8."""
    block = 1
    while 2 * (2 * block) - 1 <= run and 2 * block <= ALIGNED_BLOCK_MOST:
        block *= 2
    if block < 8:
        return True
    if axis == 1:
        whole = flat.shape[1] // block * block
        if whole == 0:
            return False
        # Eight flags are one uint64, 0x0101010101010101 when all are True; then so are the eight block-wide
        # comparisons of a block of 64 (a block of 8, 16 or 32 reads one, two or four of them).
        ones = np.uint64(0x0101010101010101)
        words = np.ascontiguousarray(flat[:, :whole]).view(np.uint64) == ones
        kind = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[block // 8]
        return bool((words.view(kind) == kind(ones & np.uint64(np.iinfo(kind).max))).any())
    # Down the columns: each aligned group of ``block`` rows folded into one by halves.
    whole = flat.shape[0] // block * block
    if whole == 0:
        return False
    folded = flat[:whole].reshape(whole // block, block, flat.shape[1])
    while folded.shape[1] > 1:
        half = folded.shape[1] // 2
        folded = folded[:, :half] & folded[:, half:]
    return bool(folded.any())


def _streak_share(
    flat: np.ndarray,
    across: np.ndarray,
    axis: int,
    plain: np.ndarray | None = None,
    image: np.ndarray | None = None,
) -> float:
    """Share of the lines along ``axis`` (1: rows, 0: columns) holding a streak; ``flat`` says where neighbouring
    pixels along the lines are one colour, ``across`` is the largest channel change from one line to the next.
    ``plain``: where both pixels of a flat pair are the image's plain ground colour (a page's paper): such a run is
    the ground showing between lines of content, not the picture smeared, so it holds no streak. ``image``: the
    pixels ``flat`` and ``across`` were read from, for telling a soft straight edge from a smeared area (without
    it, every line that differs from both neighbours counts)."""
    import cv2

    lines, length = (flat.shape[0], flat.shape[1] + 1) if axis == 1 else (flat.shape[1], flat.shape[0] + 1)
    run = max(8, round(length * STREAK_MIN_RUN))
    textured = ~flat
    if plain is not None:
        flat = flat & ~plain
    # A streak is a run of ``run`` flat pairs: a photograph (grain breaks every run) has none, told in a few passes.
    if not _holds_run(flat, run, axis):
        return 0.0
    # Where a flat pair meets a neighbouring line that is picture (not flat) and a different colour, over the
    # positions that have a neighbour both along and across; or differs from the lines on both sides of it, flat
    # or not: each line of a smeared area is smeared into its own colour, where the straight edge between two flat
    # areas (a frame, a label) is the colour of one of them. A plain sky, a backdrop or bars meet their own colour.
    meets = np.zeros_like(flat)
    between = np.zeros_like(flat)
    if axis == 1:
        differs = across[:, :-1] > STREAK_CONTRAST
        meets[1:] |= differs & textured[:-1]
        meets[:-1] |= differs & textured[1:]
        between[1:-1] = differs[:-1] & differs[1:]
    else:
        differs = across[:-1] > STREAK_CONTRAST
        meets[:, 1:] |= differs & textured[:, :-1]
        meets[:, :-1] |= differs & textured[:, 1:]
        between[:, 1:-1] = differs[:, :-1] & differs[:, 1:]
    # A streak is a run of at least ``run`` flat pairs laid over the picture: only a line with ``run`` positions
    # that meet it on a flat pair (or just past one: see _long_runs) can hold one, and few lines of a picture do.
    reach = flat.copy()
    if run % 2 == 0:
        if axis == 1:
            reach[:, 1:] |= flat[:, :-1]
        else:
            reach[1:] |= flat[:-1]
    possible = cv2.reduce((reach & (meets | between)).view(np.uint8), axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    candidates = np.nonzero(possible >= run)[0]
    if not candidates.size:
        return 0.0
    runs = flat[candidates] if axis == 1 else np.ascontiguousarray(flat[:, candidates].T)
    long_runs = _long_runs(runs.view(np.uint8), run).view(bool)
    # Only lines that hold a flat run that long are read further (a photograph has few).
    kept = np.count_nonzero(long_runs, axis=1) >= run
    candidates, long_runs = candidates[kept], long_runs[kept]
    if not candidates.size:
        return 0.0
    meeting, besides = (
        (meets[candidates], between[candidates]) if axis == 1 else (meets[:, candidates].T, between[:, candidates].T)
    )
    streaks = np.count_nonzero(long_runs & meeting, axis=1) >= run
    # The lines that are streaks only by differing from both neighbours are read for a soft edge (a few at most).
    unsure = np.nonzero(~streaks & (np.count_nonzero(long_runs & (meeting | besides), axis=1) >= run))[0]
    if unsure.size:
        if image is None:
            edge = np.zeros_like(besides[unsure])
        elif axis == 1:
            edge = _soft_edge(image[:, :-1], flat, across[:, :-1], candidates[unsure])
        else:
            edge = _soft_edge(image[:-1].transpose(1, 0, 2), flat.T, across[:-1].T, candidates[unsure])
        held = long_runs[unsure] & (meeting[unsure] | (besides[unsure] & ~edge))
        streaks[unsure] = np.count_nonzero(held, axis=1) >= run
    return float(np.count_nonzero(streaks) / lines)


#: Lines each side of a soft straight edge within which the flat areas it joins are found.
SOFT_EDGE_REACH = 4


def _soft_edge(lines: np.ndarray, flat: np.ndarray, across: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Where each ``chosen`` line of ``lines`` (lines × positions × 3; ``flat`` and ``across`` read along and between
    the same lines) is part of a soft straight edge between two flat areas rather than a smeared line: it lies
    between its neighbours' colours (a blurred outline), or a flat area carries on within SOFT_EDGE_REACH lines on
    both sides of it (an icon's antialiased side, its resampling ringing included). Each line of an area smeared
    line by line holds its own flat colour too, but out of order, and meets textured picture, not flat areas."""
    last = len(lines) - 1
    before, after = np.maximum(chosen - 1, 0), np.minimum(chosen + 1, last)
    level = [lines[index].sum(axis=-1, dtype=np.int32) for index in (before, chosen, after)]
    edge = (level[1] - level[0]) * (level[2] - level[1]) > 0
    pairs = min(len(flat), len(across)) - 1  # line i carries on into line i + 1 for i < pairs

    def carries(first: np.ndarray) -> np.ndarray:
        at = np.clip(first, 0, pairs - 1)
        held = flat[at] & flat[at + 1] & (across[at] <= DAMAGE_FLAT)
        return held & ((first >= 0) & (first < pairs))[:, None]

    near_before = np.zeros((chosen.size, flat.shape[1]), dtype=bool)
    near_after = np.zeros_like(near_before)
    for reach in range(1, SOFT_EDGE_REACH + 1):
        near_before |= carries(chosen - reach - 1)
        near_after |= carries(chosen + reach)
    return edge | (near_before & near_after)


#: Share of the image one colour (within PLAIN_GROUND_TOLERANCE levels of its median) must cover to be its plain
#: ground: the paper of a page, a menu or a letter, the flat backdrop of a UI mock-up or an infographic.
PLAIN_GROUND_SHARE = 0.5
PLAIN_GROUND_TOLERANCE = 6


def plain_ground(image: np.ndarray) -> np.ndarray | None:
    """Where ``image`` (H×W×3 uint8) is its plain ground colour, when one colour covers at least PLAIN_GROUND_SHARE
    of it (then it is the median colour); None when no colour does (a photograph)."""
    import cv2

    def near_ground(pixels: np.ndarray, ground: np.ndarray) -> np.ndarray:
        change = cv2.absdiff(pixels, np.full_like(pixels, ground))
        return np.maximum(np.maximum(change[..., 0], change[..., 1]), change[..., 2]) <= PLAIN_GROUND_TOLERANCE

    sample = np.ascontiguousarray(strided(image, 256))
    ground = np.median(sample.reshape(-1, 3), axis=0).round().astype(np.uint8)
    # A sample first: a photograph (most images) is told in a sixteenth of the time.
    if np.count_nonzero(near_ground(sample, ground)) < 0.9 * PLAIN_GROUND_SHARE * sample.shape[0] * sample.shape[1]:
        return None
    near = near_ground(image, ground)
    return near if np.count_nonzero(near) >= PLAIN_GROUND_SHARE * near.size else None


def flat_damage(rgb: np.ndarray, planes: tuple[np.ndarray, ...] | None = None) -> FlatDamage:
    """Flat colour where a generation broke down: rectangles of one colour pasted over a textured picture (a
    corrupted tile of the latent), and streaks, rows or columns smeared into one flat colour across it.

    On an exact-valued copy at most 1024 px, a pixel is flat when it matches its neighbours within 2 levels. A
    block is an area of flat 2×2 cells at least 12 px each way that fills 92% of its bounding box, does not run
    from edge to edge, and is surrounded (4 to 8 px out) by at least 35% picture that is not flat: a sign, a window
    or a flat graphic sits among flat shapes or has text inside. A streak is a row (column) holding a run of one
    colour an eighth of the width long that meets the textured picture next to it with a jump of more than 8
    levels, or differs so from the rows on both sides (an area smeared row by row, each into its own colour); a
    plain sky, a backdrop or bars meet other flat rows of their own colour, and a run of the plain ground that
    covers half the image (a page's paper between lines of print) is no streak. Calibration: the fixtures' clean
    photos, product shots, signs and flat graphics and the skimage samples read at most 5.2% in blocks (at most 2
    blocks past 3%) and 0.2% streak rows (1.5% with the smeared-area rule, a product shot); 15-40% of 16- to
    128-px tiles replaced (random, black, grey, the tile's mean colour) read 8-33% in 16 or more blocks, also
    after JPEG quality 90; every 5th to 9th row band smeared reads 14-20% of the rows, a third of the frame smeared
    row by row 24-83% (lossless only: JPEG's ringing breaks a streak's flat run of 1-3 lines). ``planes``:
    ``rgb``'s colour planes, when the caller has them.
    """
    image = strided(rgb, DAMAGE_SIDE)
    height, width = image.shape[:2]
    if min(height, width) < 2 * BLOCK_MIN_SIDE:
        return FlatDamage(0.0, 0, 0.0, "", measured=False)
    import cv2

    # ``planes`` (rgb's, split already for the luminance) serve when the image is read at full size.
    planes = planes if planes is not None and image.shape == rgb.shape else tuple(cv2.split(image))
    right, down = _changes(planes, 1), _changes(planes, 0)
    flat_right, flat_down = right <= DAMAGE_FLAT, down <= DAMAGE_FLAT
    blocks, count = _blocks(flat_right, flat_down)
    rows, columns = _streak_share(flat_right, down, 1, image=image), _streak_share(flat_down, right, 0, image=image)
    # The plain ground is looked for only where streaks were found (most pictures have none).
    if max(rows, columns) > 0 and (ground := plain_ground(image)) is not None:
        rows = _streak_share(flat_right, down, 1, ground[:, 1:] & ground[:, :-1], image)
        columns = _streak_share(flat_down, right, 0, ground[1:] & ground[:-1], image)
    if not max(rows, columns):
        # A band of lines copied from one line over textured picture is too short along the lines' neighbours to
        # hold a flat run there (50 columns copied from one through a face): it is looked for where no flat streaks
        # were found; a longer one reads as those flat runs, in the other direction.
        rows = _copied_share(flat_down[:, :-1], right[:-1], 1)
        columns = _copied_share(flat_right[:-1], down[:, :-1], 0)
    direction = "rows" if rows >= columns else "columns"
    return FlatDamage(round(blocks, 4), count, round(max(rows, columns), 4), direction)


#: A line is a copy of its neighbour where the two match (within DAMAGE_FLAT levels) over a run of at least
#: STREAK_MIN_RUN of its length, and that run holds picture: a change of more than COPY_TEXTURE levels from one pixel
#: to the next along it at COPY_TEXTURED_SHARE of the line's length or more.
COPY_TEXTURE = 4
COPY_TEXTURED_SHARE = 0.2
#: Fewest neighbouring lines copied one from another that make a smear: one repeated line is invisible, and a
#: heavily compressed JPEG repeats lines within its 8-line blocks.
COPY_MIN_LINES = 10


def _copied_share(same: np.ndarray, along: np.ndarray, axis: int) -> float:
    """Share of the lines that are copies of their neighbour over textured picture, in bands of at least
    COPY_MIN_LINES: a generation that smeared one row (column) over the rows (columns) after it. ``same`` says where
    a line matches the next (lines run along ``axis``: 1, rows; 0, columns); ``along``, the change from each pixel to
    the next along the line. A sharp photo's neighbouring lines differ wherever it holds detail; a blurred one's
    match only where it is smooth, and a flat design's where it is flat: neither has detail where its lines match."""
    import cv2

    length = same.shape[axis] + 1
    least = COPY_TEXTURED_SHARE * length
    copied = same & (along > COPY_TEXTURE)
    counts = cv2.reduce(copied.view(np.uint8), axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    candidates = np.nonzero(counts >= least)[0]
    if candidates.size < COPY_MIN_LINES - 1:
        return 0.0
    if axis == 1:
        chosen, holding = same[candidates], copied[candidates]
    else:
        chosen, holding = np.ascontiguousarray(same[:, candidates].T), copied[:, candidates].T
    run = max(8, round(length * STREAK_MIN_RUN))
    matching = _long_runs(chosen.view(np.uint8), run).view(bool)
    held = np.count_nonzero(matching & holding, axis=1) >= least
    lines = same.shape[1 - axis]
    marks = np.zeros(lines + 2, dtype=np.int8)
    marks[candidates[held] + 1] = 1
    edges = np.diff(marks)
    bands = np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0]
    # A band of n matching pairs is n + 1 lines: the one smeared and its n copies.
    return float((bands[bands >= COPY_MIN_LINES - 1] + 1).sum() / (lines + 1))


#: Fewest blocks across and down a grid of blown-up pixels must show to be told from a pattern.
PIXEL_GRID_MIN = 6
#: Share of the lines between grid lines that must be quiet: a grid of blocks at least 3 px wide.
PIXEL_QUIET = 0.6
#: A line is quiet when its mean jump is under this share of the mean jump of the busiest 5% of lines.
PIXEL_QUIET_LEVEL = 0.15
#: A line is still when its mean jump is under this many levels: a lossless nearest-neighbour blow-up repeats its
#: pixels exactly, so the lines inside its blocks do not change at all, however faint the steps between blocks (a
#: smoothly shaded product on white, whose few silhouette edges would put every shading step under the quiet level).
PIXEL_STILL = 0.02
#: A blown-up picture changes at this share of its grid's lines or more, along one axis at least (from its first
#: changing line to its last): a photo at nearly all of them, a flat sign blown up from 256 px at a third. A drawn
#: picture at full resolution whose few changing lines happen to sit near a grid (a board's antialiased rounded
#: corners step every 3-4 px; a short word's letter edges) changes at under an eighth of the grid's lines.
PIXEL_GRID_FILL = 0.2
#: Fewest distinct grey levels a blown-up picture shows (a photo's thousand pixels have many; a flag has a few).
PIXEL_MIN_LEVELS = 24


@dataclass(frozen=True)
class Pixelation:
    #: The picture's own resolution (across × down) when it is a smaller one blown up into visible square pixels;
    #: (0, 0) when it is not.
    effective: tuple[int, int]
    #: Side in pixels of those blown-up pixels (the larger of the two directions).
    block: float
    measured: bool = True


def _still_grid(jumps: _LineJumps) -> tuple[float, float]:
    """The blown-up pixels' sides (across, down) read from the lines that change at all, or 0s. Square pixels are
    the same size both ways: once one direction shows the grid, the other's changing lines (a smoothly shaded
    product changes down the frame only every few blocks, or at the stepped outline of its shoulders) need only sit
    on that grid, but there must be PIXEL_GRID_MIN of them. A picture that does not change down the frame apart
    from a straight outline and a shadow (a box shaded from side to side in a noise-free render) shows no square
    blocks however evenly its 8-bit gradient steps across: one level every 46 px is a ramp, not a blow-up."""
    across, down = _grid_lines(jumps(1), still=True), _grid_lines(jumps(0), still=True)
    if across and down:
        return across, down
    for axis, period in ((0, across), (1, down)):
        starts = _changing_starts(jumps(axis), PIXEL_STILL)
        if period and starts.size >= PIXEL_GRID_MIN and _on_grid(starts, period):
            return period, period
    return 0.0, 0.0


def _changing_starts(jumps: np.ndarray | None, level: float) -> np.ndarray:
    """The first of each run of neighbouring lines whose mean jump ``jumps`` (see :class:`_LineJumps`) exceeds
    ``level``."""
    if jumps is None:
        return np.zeros(0, dtype=np.intp)
    active = np.nonzero(jumps > level)[0]
    return active[np.concatenate([[True], np.diff(active) > 1])] if active.size else active


#: Rows of the picture whose line jumps :class:`_LineJumps` reads at a time.
LINE_JUMP_ROWS = 64


class _LineJumps:
    """The mean jump between neighbouring lines of ``gray`` along each axis (1: between columns, 0: between rows),
    each read once: the grid is looked for along an axis up to three times (quiet, still, on the other's grid)."""

    def __init__(self, gray: np.ndarray) -> None:
        self.gray = gray
        self.read: dict[int, np.ndarray | None] = {}

    def __call__(self, axis: int) -> np.ndarray | None:
        if axis not in self.read:
            self.read[axis] = self._jumps(axis)
        return self.read[axis]

    def _jumps(self, axis: int) -> np.ndarray | None:
        """``cv2.absdiff(after, before).mean(axis=1 - axis)`` of the shifted views (|b - a| in one OpenCV pass: the
        same float32 values as numpy's diff and abs, in a third of the time), LINE_JUMP_ROWS rows at a time: the
        same numbers, without a frame-sized array of jumps going out to memory and back."""
        import cv2

        gray = self.gray
        if gray.shape[axis] < 2:
            return None
        height, width = gray.shape
        if axis == 0:
            # Each row's mean is its own: a band of rows at a time.
            jumps = np.empty(height - 1, np.float32)
            for top in range(0, height - 1, LINE_JUMP_ROWS):
                end = min(height - 1, top + LINE_JUMP_ROWS)
                jumps[top:end] = cv2.absdiff(gray[top + 1 : end + 1], gray[top:end]).mean(axis=1)
            return jumps
        # The mean down the columns: numpy adds the rows one after another into the running total, then divides by
        # their count; a band at a time, with the total so far as the band's first row, adds them in the same order.
        band = np.empty((min(height, LINE_JUMP_ROWS) + 1, width - 1), np.float32)
        total: np.ndarray | None = None
        for top in range(0, height, LINE_JUMP_ROWS):
            end = min(height, top + LINE_JUMP_ROWS)
            first = 0 if total is None else 1
            part = band[: end - top + first]
            if total is not None:
                part[0] = total
            cv2.absdiff(gray[top:end, 1:], gray[top:end, :-1], dst=part[first:])
            total = part.sum(axis=0)
        assert total is not None
        return np.true_divide(total, height, out=total, casting="unsafe")


def _on_grid(starts: np.ndarray, period: float) -> bool:
    """Whether the changing lines ``starts`` lie (nine in ten, within a pixel) on a grid of ``period`` from the
    first: fewer than PIXEL_GRID_MIN of them cannot deny it."""
    if starts.size < PIXEL_GRID_MIN:
        return True
    steps = (starts - starts[0]) / period
    return bool((np.abs(steps - np.round(steps)) * period <= 1.0).mean() >= 0.9)


def _grid_lines(jumps: np.ndarray | None, still: bool = False) -> float:
    """The spacing of the lines along which a picture changes while it stays flat between them (its blown-up
    pixels' side along the axis ``jumps``, its lines' mean jumps, were read along), or 0 when the changes are not on
    such a grid; None for ``jumps``: too few lines to have any. ``still``: a line is active when it changes at all
    (see PIXEL_STILL) rather than by a share of the busiest lines' change."""
    if jumps is None:
        return 0.0
    if jumps.size < 2 * PIXEL_GRID_MIN:
        return 0.0
    busiest = np.sort(jumps)[-max(1, jumps.size // 20) :].mean()
    if busiest <= 0:
        return 0.0
    active = np.nonzero(jumps > (PIXEL_STILL if still else PIXEL_QUIET_LEVEL * busiest))[0]
    if active.size < PIXEL_GRID_MIN:
        return 0.0
    span = active[-1] - active[0] + 1
    # Neighbouring active lines are one soft edge (a resampled or compressed copy spreads it over two).
    starts = active[np.concatenate([[True], np.diff(active) > 1])]
    if starts.size < PIXEL_GRID_MIN or 1 - active.size / span < PIXEL_QUIET:
        return 0.0
    gaps = np.diff(starts)
    period = float(np.median(gaps))
    if period > 0:
        # A blow-up by a fractional factor alternates between whole periods (5 and 6 px for ×5.12): the grid's own
        # period is the slope of the lines' positions over their block numbers.
        blocks = np.concatenate([[0], np.cumsum(np.round(gaps / period))])
        if blocks[-1] > 0:
            period = float(np.polyfit(blocks, starts, 1)[0])
    # A grid: most gaps one period (a blow-up by a fractional factor alternates between its two neighbours) or a
    # few periods where neighbouring blown-up pixels had the same value.
    on_grid = np.abs(gaps - np.round(gaps / period) * period) <= 1.5
    return period if period >= 3 and on_grid.mean() >= 0.9 else 0.0


def pixelation(gray: np.ndarray, colours: int) -> Pixelation:
    """Whether the image is a much smaller picture blown up with nearest-neighbour sampling: square blocks of one
    value on a regular grid, across and down. ``gray`` is a box-averaged copy at most 1024 px; ``colours`` the
    count of distinct grey levels among the blocks' centres, so that a chessboard, a flag or pixel art of a few
    colours is not read as a blown-up photo.

    The mean jump between neighbouring columns (rows) is large on the grid lines and nearly 0 between them (under
    15% of the busiest lines'); the spacing of the grid is the side of the blown-up pixels. A smooth blow-up
    (bilinear, bicubic) has no grid and reads as blur in ``sharpness``. Calibration: no clean photo, product
    shot, sign, texture or pattern of the fixtures reads a grid both ways (the two-colour horse silhouette blown up
    does, and has 2 levels), and a grid read from few changing lines must be filled (PIXEL_GRID_FILL); 16 to 341 px
    pictures blown up to 1024 by whole or fractional factors read their size
    within 3 px, also after JPEG quality 90.
    """
    if colours < PIXEL_MIN_LEVELS:
        return Pixelation((0, 0), 0.0)
    # A grid is needed both ways: the second is looked for only when the first is there.
    jumps = _LineJumps(gray)
    across = _grid_lines(jumps(1))
    down = _grid_lines(jumps(0)) if across else 0.0
    if not across or not down:
        across, down = _still_grid(jumps)
    if not across or not down:
        return Pixelation((0, 0), 0.0)
    if max(_grid_fill(jumps(1), across), _grid_fill(jumps(0), down)) < PIXEL_GRID_FILL:
        return Pixelation((0, 0), 0.0)
    height, width = gray.shape
    return Pixelation((round(width / across), round(height / down)), round(max(across, down), 1))


def _grid_fill(jumps: np.ndarray | None, period: float) -> float:
    """Share of a grid of ``period``'s lines, from the first line that changes to the last, at which the picture
    changes: at all (see PIXEL_STILL), or, on a copy whose every line moves a little (grain, a resample), clearly
    (PIXEL_QUIET_LEVEL of the busiest lines), whichever fills the grid more."""
    if jumps is None or not jumps.size:
        return 0.0
    busiest = float(np.sort(jumps)[-max(1, jumps.size // 20) :].mean())
    fills = [0.0]
    for level in (PIXEL_STILL, PIXEL_QUIET_LEVEL * busiest):
        starts = _changing_starts(jumps, level)
        if starts.size >= 2:
            fills.append(float(starts.size / ((starts[-1] - starts[0]) / period + 1)))
    return max(fills)


# --------------------------------------------------------------------------------------------------------------
# Colour cast (a picture tinted as a whole)
# --------------------------------------------------------------------------------------------------------------

#: Longest side of the exact-valued (strided) copy the cast is read on: 20 thousand pixels, enough for the
#: medians and shares below, at a fraction of a millisecond's conversion to Lab.
CAST_SIDE = 160
#: Lightness (L*, 0-100) under which a pixel's hue is too uncertain to count (near black every tint is noise).
CAST_DARKEST = 25.0
#: Any channel at or above this: clipped, so its colour is the clipping's, not the light's.
CAST_CLIPPED = 251
#: Share of the readable pixels, the brightest, whose median colour is the picture's white: the surfaces a photo
#: shows brightest (paper, shirts, walls, clouds, highlights) are near neutral under neutral light.
CAST_WHITE_SHARE = 0.05
#: Distance (in a*b* units) from the line through neutral and the white's colour within which a pixel shares its
#: tint: at least CAST_NEAR_MIN, or this share of the tint's strength (a strong tint spreads its greys more).
CAST_NEAR_MIN = 6.0
CAST_NEAR_SHARE = 0.4
#: Shares of the white's tint, from the darkest grey's to the strongest, that a surface sharing it may read.
CAST_GREY_REACH = (0.5, 1.25)
#: How far (a*b* units) past neutral, on the side opposite the tint, a pixel must lie to count as a colour the
#: tint did not reach (the teal ground behind an orange flower, a blue sky beside a yellow lamp).
CAST_OPPOSITE_DEPTH = 8.0
#: Skin tones in CIELAB, every complexion from pale to dark: lightness, a* and b* (all above 0: skin is never green
#: nor blue), hue angle in degrees.
SKIN_LIGHTNESS = (35.0, 85.0)
SKIN_A = (5.0, 30.0)
SKIN_B = (6.0, 35.0)
SKIN_HUE = (20.0, 70.0)


@dataclass(frozen=True)
class ColourCast:
    """The tint of a picture's whites and the greys that share it, in CIELAB (D65): a* (green − / magenta +) and b*
    (blue − / yellow +) of 0 are neutral."""

    #: Median a* and b* of the brightest CAST_WHITE_SHARE of the readable pixels (not near black, not clipped).
    a: float
    b: float
    #: Share of the readable pixels sharing that tint (near the line from neutral through it, at CAST_GREY_REACH
    #: of its strength): the near-neutral surfaces it covers.
    share: float
    #: Lightness span (L*, 10th to 90th percentile) of those pixels: whites alone, or whites and greys down to dark.
    lightness_span: float
    #: Share of the readable pixels lying CAST_OPPOSITE_DEPTH or more past neutral on the side away from the tint.
    opposite: float
    #: Share of the readable pixels that are skin-toned once the tint is taken off, and the median a* and b* they
    #: read as delivered (0 when there are none).
    skin_share: float = 0.0
    skin_a: float = 0.0
    skin_b: float = 0.0
    #: Readable pixels (not near black, not clipped) in the copy the cast is read on.
    readable: int = 0
    #: Share of the readable pixels that are neutral grey (see CAST_NEUTRAL_MIN): surfaces no tint reached.
    neutral: float = 0.0

    @property
    def chroma(self) -> float:
        """Strength of the tint: distance of the white from neutral in the a*b* plane."""
        return float(np.hypot(self.a, self.b))

    @property
    def hue(self) -> float:
        """Hue angle of the tint in degrees (0 magenta-red, 90 yellow, 180 green, 270 blue)."""
        return float(np.degrees(np.arctan2(self.b, self.a)) % 360)


#: Chroma (a*b* units) within which a pixel is neutral grey: at most CAST_NEUTRAL_MIN, or this share of the tint's
#: strength. A tint over the whole picture leaves 0-0.4% of it that neutral (a 12-50% yellow blend or white balance
#: of a room, a garage, a portrait); a cream sign over a grey street front 47%.
CAST_NEUTRAL_MIN = 3.0
CAST_NEUTRAL_SHARE = 0.25
#: Fewest readable pixels the cast is read from: fewer (a black or blown-out frame) tell no light's colour.
CAST_MIN_READABLE = 400
#: Sky: blue or cyan (CIELAB hue SKY_HUES, b* at most SKY_MAX_B), not dark (L* SKY_DARKEST or more), in regions
#: that reach the top of the frame and are as saturated as a clear sky (SKY_MIN_CHROMA). A clear sky is often a
#: picture's palest part and reads as a blue "white"; the light is then read on the other surfaces as well, which a
#: real blue cast tints too (see the colour-cast check). Left out only when it covers SKY_MIN_SHARE of the readable
#: pixels and enough others remain.
SKY_HUES = (200.0, 300.0)
SKY_MAX_B = -8.0
SKY_DARKEST = 45.0
SKY_MIN_SHARE = 0.05
#: Least median chroma of a sky region: a clear sky is a saturated blue (33-37 on photos and illustrations), where a
#: white wall or backdrop under a blue cast of 15-30% reads 13-19.
SKY_MIN_CHROMA = 25.0


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else 0.0


def _cast_sample(rgb: np.ndarray, averaged: bool) -> np.ndarray:
    """The copy the cast is read on: every n-th pixel, or (``averaged``) the mean of each n×n block, which grain
    cannot bias (the brightest of grainy pixels are the ones the grain lifted, their colour the grain's)."""
    import cv2

    step = max(1, -(-max(rgb.shape[:2]) // CAST_SIDE))
    if not averaged or step == 1:
        return np.ascontiguousarray(strided(rgb, CAST_SIDE))
    down, across = max(1, rgb.shape[0] // step), max(1, rgb.shape[1] // step)
    small = cv2.resize(rgb[: down * step, : across * step], (across, down), interpolation=cv2.INTER_AREA)
    return small.reshape(down, across, 3)


def colour_cast(rgb: np.ndarray, least: float = 0.0, averaged: bool = False) -> ColourCast:
    """The colour of the light a picture seems lit by, read on its whites (see :func:`_colour_cast`)."""
    found = _colour_cast(rgb, least, averaged, leave_out_sky=False)
    assert found is not None  # None only when the sky is left out
    return found


def colour_cast_apart_from_sky(rgb: np.ndarray, least: float = 0.0, averaged: bool = False) -> ColourCast | None:
    """:func:`colour_cast` read on the surfaces that are not sky (see SKY_HUES); None when the picture shows too
    little sky, or too little else."""
    return _colour_cast(rgb, least, averaged, leave_out_sky=True)


def colour_cast_apart_from_backdrop(rgb: np.ndarray, least: float = 0.0) -> ColourCast | None:
    """:func:`colour_cast` read on the surfaces in front of the backdrop (see :func:`_backdrop`): the subject of a
    picture whose asked-for coloured backdrop reads as a tint. None when the backdrop fills the frame (too little
    else is left to read a light on)."""
    return _colour_cast(rgb, least, False, leave_out_sky=False, leave_out_backdrop=True)


def _colour_cast(
    rgb: np.ndarray, least: float, averaged: bool, leave_out_sky: bool, leave_out_backdrop: bool = False
) -> ColourCast | None:
    """The colour of the light a picture seems lit by, read on its whites (see :class:`ColourCast`). A tint under
    ``least`` is returned alone (the shares and the skin are not read): it fails nothing, and most pictures have it.
    ``averaged``: read on block means rather than single pixels (for a grainy picture; it costs a millisecond more).

    Calibration (a strided 160-px copy): clean photos read a chroma of 1-5 on their whites (the astronaut, a
    garage, a temple, a portrait), a warm cat or coffee photo 8-10; the clean fixtures that read more are flat
    designs (a logo's or a sign's ground: no lightness span), landscapes whose palest parts are sky (a tenth of
    the frame over under 12 levels of lightness, half of it coloured the other way) or one coloured material (a
    lawn, bricks, an orange flower, a fundus photo: 25-60). The same photos tinted green, magenta, blue or yellow
    (a 10% blend toward the colour, or white-balance gains of 30%) read 9-21 in the tint's direction, the whites
    and greys sharing it covering 20-70% of the frame over 20-60 levels of lightness.
    """
    import cv2

    sample = _cast_sample(rgb, averaged)
    lab = cv2.cvtColor(sample.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2LAB)
    brightest = cv2.max(cv2.max(sample[..., 0], sample[..., 1]), sample[..., 2])
    readable = (lab[..., 0] >= CAST_DARKEST) & (brightest < CAST_CLIPPED)
    count = int(np.count_nonzero(readable))
    if count < CAST_MIN_READABLE:
        return ColourCast(0.0, 0.0, 0.0, 0.0, 0.0, readable=count)
    # The share coloured the other way stays a share of the whole frame: the sky left out is not on the far side.
    whole = count
    if leave_out_sky:
        sky = _sky(lab) & readable
        sky_count = int(np.count_nonzero(sky))
        if sky_count < SKY_MIN_SHARE * count or count - sky_count < CAST_MIN_READABLE:
            return None
        readable &= ~sky
        count -= sky_count
    if leave_out_backdrop:
        backdrop = _backdrop(lab) & readable
        rest = count - int(np.count_nonzero(backdrop))
        if rest < max(CAST_MIN_READABLE, BACKDROP_LEAVES * count):
            return None
        readable &= ~backdrop
        count = rest
    lightness, a, b = lab[..., 0][readable], lab[..., 1][readable], lab[..., 2][readable]
    whitest = int((1 - CAST_WHITE_SHARE) * (count - 1))
    white = lightness >= np.partition(lightness, whitest)[whitest]
    tint_a, tint_b = _median(a[white]), _median(b[white])
    strength = float(np.hypot(tint_a, tint_b))
    if strength < least:
        return ColourCast(round(tint_a, 1), round(tint_b, 1), 0.0, 0.0, 0.0, readable=count)
    # Greys share the white's tint, weaker the darker they are under a wrong white balance (the tint scales with
    # the light): a pixel shares it when it lies near the line from neutral through the white's colour, at
    # CAST_GREY_REACH of its strength or more.
    radius = max(CAST_NEAR_MIN, CAST_NEAR_SHARE * strength)
    along = (a * tint_a + b * tint_b) / strength if strength > 0 else np.zeros_like(a)
    across = np.abs(a * tint_b - b * tint_a) / strength if strength > 0 else np.hypot(a, b)
    near = (across <= radius) & (along >= CAST_GREY_REACH[0] * strength) & (along <= CAST_GREY_REACH[1] * strength)
    if strength <= radius:
        near |= a * a + b * b <= radius**2
    near_lightness = lightness[near]
    span = float(np.subtract(*np.percentile(near_lightness, [90, 10]))) if near_lightness.size >= 10 else 0.0
    opposite = float(np.count_nonzero(along <= -CAST_OPPOSITE_DEPTH)) / whole if strength > 0 else 0.0
    skin_share, skin_a, skin_b = _skin_under(lightness, a, b, tint_a, tint_b)
    grey = max(CAST_NEUTRAL_MIN, CAST_NEUTRAL_SHARE * strength)
    neutral = float(np.count_nonzero(a * a + b * b <= grey * grey)) / count
    return ColourCast(
        round(tint_a, 1),
        round(tint_b, 1),
        round(float(np.count_nonzero(near)) / count, 4),
        round(span, 1),
        round(opposite, 4),
        skin_share=skin_share,
        skin_a=skin_a,
        skin_b=skin_b,
        readable=count,
        neutral=round(neutral, 4),
    )


def sky_layers(rgb: np.ndarray) -> float:
    """For a picture with a sky (see SKY_HUES) over SKY_MIN_SHARE of its readable pixels (see :func:`_colour_cast`):
    how much of their colour the rows tell, the share of the variance of a* and of b* (the smaller) that the rows'
    means explain. A sky over a sea changes colour from row to row (1 for bands of colour, 0.87-1 for rippled
    water); a scene of things side by side under a blue light (a room, a street, a face) changes as much across its
    rows (0.2-0.5). 0 for a picture without such a sky."""
    import cv2

    sample = _cast_sample(rgb, False)
    lab = cv2.cvtColor(sample.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2LAB)
    brightest = cv2.max(cv2.max(sample[..., 0], sample[..., 1]), sample[..., 2])
    readable = (lab[..., 0] >= CAST_DARKEST) & (brightest < CAST_CLIPPED)
    counts = readable.sum(axis=1)
    count = int(counts.sum())
    if count < CAST_MIN_READABLE or np.count_nonzero(_sky(lab) & readable) < SKY_MIN_SHARE * count:
        return 0.0
    explained = 1.0
    rows = np.maximum(counts, 1).astype(np.float64)
    for channel in (1, 2):
        values = np.where(readable, lab[..., channel], 0).astype(np.float64)
        sums, squares = values.sum(axis=1), (values * values).sum(axis=1)
        total = float(squares.sum()) / count - (float(sums.sum()) / count) ** 2
        if total <= 1e-6:
            continue
        within = float((squares - sums * sums / rows).sum()) / count
        explained = min(explained, 1 - within / total)
    return round(explained, 3)


def _sky(lab: np.ndarray) -> np.ndarray:
    """Pixels of sky-blue regions (see SKY_HUES) that reach the top row of ``lab`` (H × W × 3, float32 CIELAB)."""
    import cv2

    a, b = lab[..., 1], lab[..., 2]
    hue = np.degrees(np.arctan2(b, a)) % 360
    blue = (lab[..., 0] >= SKY_DARKEST) & (b <= SKY_MAX_B) & (hue >= SKY_HUES[0]) & (hue <= SKY_HUES[1])
    if not blue[0].any():
        return np.zeros_like(blue)
    _, labels = cv2.connectedComponents(blue.astype(np.uint8), connectivity=4)
    chroma = np.hypot(a, b)
    skies = [label for label in np.unique(labels[0][blue[0]]) if np.median(chroma[labels == label]) >= SKY_MIN_CHROMA]
    return np.isin(labels, skies)


#: A backdrop is the colour of the frame's border (a*b* median of the outermost pixels), spread inward over pixels
#: of nearly its colour: within BACKDROP_NEAR_MIN a*b* units, or BACKDROP_NEAR_SHARE of its chroma. A white sole
#: under a 30-50% blue light reads 15-25 units from a blue backdrop, a neutral subject before a pale blue one 15-20.
BACKDROP_NEAR_MIN = 8.0
BACKDROP_NEAR_SHARE = 0.3
#: Least share of the readable pixels left in front of the backdrop for the light to be read on them.
BACKDROP_LEAVES = 0.05


def _backdrop(lab: np.ndarray) -> np.ndarray:
    """Pixels of ``lab`` (H × W × 3, float32 CIELAB) of the backdrop's colour (see BACKDROP_NEAR_MIN) connected to
    the frame's border: what a subject stands in front of."""
    import cv2

    a, b = lab[..., 1], lab[..., 2]
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]), np.concatenate([b[0], b[-1], b[:, 0], b[:, -1]])
    ground_a, ground_b = _median(border[0]), _median(border[1])
    radius = max(BACKDROP_NEAR_MIN, BACKDROP_NEAR_SHARE * float(np.hypot(ground_a, ground_b)))
    near = (a - ground_a) ** 2 + (b - ground_b) ** 2 <= radius**2
    _, labels = cv2.connectedComponents(near.astype(np.uint8), connectivity=4)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touching = np.unique(edge[np.concatenate([near[0], near[-1], near[:, 0], near[:, -1]])])
    return np.isin(labels, touching) & near


def _skin_under(
    lightness: np.ndarray, a: np.ndarray, b: np.ndarray, tint_a: float, tint_b: float
) -> tuple[float, float, float]:
    """Share of the pixels that are skin-toned once the tint (tint_a, tint_b) is taken off, and the median a* and
    b* those pixels read as delivered: a face under a strong green tint is skin-toned underneath and green as
    seen."""
    untinted_a, untinted_b = a - tint_a, b - tint_b
    hue = np.degrees(np.arctan2(untinted_b, untinted_a))
    skin = (
        (lightness >= SKIN_LIGHTNESS[0])
        & (lightness <= SKIN_LIGHTNESS[1])
        & (untinted_a >= SKIN_A[0])
        & (untinted_a <= SKIN_A[1])
        & (untinted_b >= SKIN_B[0])
        & (untinted_b <= SKIN_B[1])
        & (hue >= SKIN_HUE[0])
        & (hue <= SKIN_HUE[1])
    )
    found = int(np.count_nonzero(skin))
    if not found:
        return 0.0, 0.0, 0.0
    return round(found / a.size, 4), round(_median(a[skin]), 1), round(_median(b[skin]), 1)
