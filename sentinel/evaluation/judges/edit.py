"""The ``edit`` judge: compares an edited image with its source under a mask.

What had to stay must stay (SSIM, and the subject's colours in Lab; outside the mask also no area changed locally:
a block, a new, moved or recoloured object, a blurred patch), what had to change must change (mean change, and no
ring of the old background left around a kept subject), and a removal must leave a fill that belongs to its
surroundings (detail, seam and colours against a ring around the mask), on a result delivered at the source's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
from PIL import Image, ImageColor, ImageFilter
from pydantic import Field

from sentinel.evaluation.judges.base import (
    LUMA,
    Bands,
    CheckSettings,
    JudgeContext,
    JudgeKind,
    Outcome,
    pct,
    region_name,
)
from sentinel.evaluation.numbers import number
from sentinel.store.mask_region import read_coverage

kind = JudgeKind("edit", "Masked edits: what had to change changed, what had to stay stayed.")

#: The whole frame is compared at this longest side at most; beyond it the cost grows and the verdict does not (SSIM's
#: authors downsample to about 256 px on the short side; the labelled edit cases, scaled to 1024, get the same
#: verdicts at 512 as at 768).
ANALYSIS_SIDE = 512
#: The crop around the mask is looked at with this longest side at most (finer than the whole frame for small masks,
#: so a 30 px object on a 2048 px photo still has pixels of its own; a thin mask may raise it to THIN_VIEW_SIDE).
MASK_VIEW_SIDE = 256
#: Pixels this close to the mask edge (share of the image's longest side) are left out of both regions: edits blend
#: across the boundary.
EDGE_MARGIN_FRACTION = 0.015
#: The edge margin shrinks until the inside keeps at least this share of the mask, so small and thin masks still
#: have an inside to measure (a 30 px disc at 1024 px keeps a 3 px margin, an 8 px stroke keeps none).
MIN_INSIDE_SHARE = 0.25
#: A thin mask is looked at finely enough for its stroke to span this many pixels (up to THIN_VIEW_SIDE).
MIN_STROKE_PIXELS = 4
#: The longest side the view around a thin mask may grow to.
THIN_VIEW_SIDE = 384
#: Coverage (0-255) of an analysis pixel by the mask: above MASK_MAJORITY it belongs to the mask; at or above
#: MASK_SOLID it lies wholly inside; above MASK_TOUCH the mask reaches it (so it is not "outside").
MASK_MAJORITY, MASK_SOLID, MASK_TOUCH = 127, 250, 6
#: The surroundings a fill is judged against: a ring half as wide as the mask's equivalent side, within these bounds
#: in analysis pixels.
RING_WIDTH_BOUNDS = (3, 40)
#: Added to both sides of the texture ratio (median luminance step, levels), the detail ratio (mean step) and the
#: seam ratio (ΔE), so flat on flat compares as equal rather than 0/0, and sensor noise on a plain wall is not detail.
TEXTURE_FLOOR, DETAIL_FLOOR, SEAM_FLOOR = 1.0, 2.0, 3.0
#: Colour bins (CIELAB units) for "colours found around the mask"; a neighbouring bin still counts as found, so a
#: colour within about one to two bins of the surroundings' is not new.
COLOUR_BIN = 8.0
#: Bins per Lab axis.
COLOUR_BINS = int(np.ceil(256 / COLOUR_BIN)) + 1
#: A colour bin counts as present around the mask when it holds this share of the ring's pixels (and at least 2).
COLOUR_BIN_MIN_SHARE = 0.002
#: A pixel whose mean change per channel is below this many levels was left as it was (JPEG re-encoding moves
#: pixels by 1-3 levels).
CHANGED_LEVELS = 6
#: Fewer repainted pixels than this (count, and share of the inside) leave no fill to judge. The share is as low as
#: RemovalSettings.min_repainted's default: a car removed under a mask of all but the frame's border is 5% of it,
#: and its fill is judged like any other.
MIN_FILL_PIXELS, MIN_FILL_SHARE = 16, 0.02
#: A repainted area is changed pixels that survive an opening by a square this many analysis pixels wide: JPEG
#: re-encoding, fine noise and a provider's shift by a pixel or two change scattered pixels and thin lines along
#: edges (none survive at 5, on grass at q60 or shifted by 2 px), an object removed leaves a solid area.
REPAINTED_OPENING = 5


def _resize(
    rgb: np.ndarray, size: tuple[int, int], resample: Image.Resampling = Image.Resampling.BILINEAR
) -> np.ndarray:
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    # reducing_gap: an integer part of the scale (1024 → 512) is a box average first, several times faster.
    return np.asarray(Image.fromarray(rgb).resize(size, resample, reducing_gap=1.0))


def _grow(region: np.ndarray, radius: int) -> np.ndarray:
    """Dilation by a square of ``radius`` (separable, so its cost does not depend on the radius)."""
    from scipy import ndimage

    return ndimage.maximum_filter(region, 2 * radius + 1) if radius > 0 else region


def _shrink(region: np.ndarray, radius: int) -> np.ndarray:
    from scipy import ndimage

    return ndimage.minimum_filter(region, 2 * radius + 1) if radius > 0 else region


#: Lab is looked up per colour in a table of this many levels per channel (the channel's top bits): at most about
#: one ΔE from the exact value, and a gather instead of a cube root per pixel.
LAB_TABLE_LEVELS = 64


@cache
def _lab_table() -> np.ndarray:
    """CIELAB (D65) of the centre of every RGB cell, (LAB_TABLE_LEVELS**3, 3) float32."""
    step = 256 // LAB_TABLE_LEVELS
    centre = np.arange(LAB_TABLE_LEVELS) * step + (step - 1) / 2
    srgb = centre / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    r, g, b = np.meshgrid(linear, linear, linear, indexing="ij")
    rgb = np.stack([r, g, b], axis=-1).reshape(-1, 3)
    # sRGB to XYZ, each row divided by the D65 white point, so white maps to (1, 1, 1).
    to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = rgb @ (to_xyz / np.array([[0.95047], [1.0], [1.08883]])).T
    f = np.where(xyz > 0.008856, np.cbrt(xyz), xyz * 7.787 + 16 / 116)
    table = np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=-1)
    return table.astype(np.float32)


def lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of uint8 sRGB pixels (any leading shape), float32, to about one ΔE."""
    shift = 8 - int(np.log2(LAB_TABLE_LEVELS))
    cells = rgb >> shift
    index = (cells[..., 0].astype(np.int32) * LAB_TABLE_LEVELS + cells[..., 1]) * LAB_TABLE_LEVELS + cells[..., 2]
    return np.take(_lab_table(), index, axis=0)  # take: several times faster than fancy indexing here


def _smoothed(rgb: np.ndarray) -> np.ndarray:
    """A 3×3 box average: one pixel of noise or JPEG ringing is not a colour."""
    return np.asarray(Image.fromarray(rgb).filter(ImageFilter.BoxBlur(1)))


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{min(255, int(c + 0.5)):02x}" for c in rgb)


def _colour_bins(colours: np.ndarray) -> np.ndarray:
    """Index of each Lab colour's COLOUR_BIN-wide cell (L 0-100, a and b -128-127)."""
    cells = np.floor((colours - np.array([0.0, -128.0, -128.0], dtype=np.float32)) / COLOUR_BIN).astype(np.int32)
    cells = np.clip(cells, 0, COLOUR_BINS - 1)
    return (cells[:, 0] * COLOUR_BINS + cells[:, 1]) * COLOUR_BINS + cells[:, 2]


@dataclass
class View:
    """Source, result and mask coverage cropped to one box and brought to one scale, with the regions checks compare.

    ``coverage`` is how much of each analysis pixel the mask covers (0-255), so a mask smaller than an analysis pixel
    still counts as touching it.
    """

    source: np.ndarray
    result: np.ndarray
    coverage: np.ndarray
    #: Analysis pixels per source pixel.
    scale: float
    #: The blend margin at this scale, before it adapts to the mask.
    full_margin: int

    @cached_property
    def covered(self) -> np.ndarray:
        return self.coverage > MASK_MAJORITY

    @cached_property
    def touched(self) -> np.ndarray:
        return self.coverage > MASK_TOUCH

    @cached_property
    def _inside_and_margin(self) -> tuple[np.ndarray, int]:
        solid = self.coverage >= MASK_SOLID
        if not solid.any():  # a stroke thinner than an analysis pixel: its majority-covered pixels are all there is
            solid = self.covered
        wanted = MIN_INSIDE_SHARE * int(np.count_nonzero(self.covered))
        margin = self.full_margin
        inside = _shrink(solid, margin)
        while margin > 0 and np.count_nonzero(inside) < wanted:
            margin //= 2
            inside = _shrink(solid, margin)
        return inside, margin

    @property
    def inside(self) -> np.ndarray:
        """The mask less its blend margin, which halves until the inside keeps MIN_INSIDE_SHARE of the mask."""
        return self._inside_and_margin[0]

    @property
    def margin(self) -> int:
        return self._inside_and_margin[1]

    @cached_property
    def outside(self) -> np.ndarray:
        return ~_grow(self.touched, self.full_margin)

    @cached_property
    def subject_band(self) -> np.ndarray:
        """The band just outside the mask, as wide as the blend margin and starting right at the mask's edge (the
        pixels it covers less than half): where a cut-out's halo lies. Starting a pixel or two further out lost a
        thin ring's inner half, so an 8 px ring of grass around a car read as a fifth of the band and passed; a
        soft or anti-aliased edge is changed by the new background mixed into it, so it does not count as kept."""
        return _grow(self.covered, self.full_margin) & ~self.covered

    @cached_property
    def ring_width(self) -> int:
        low, high = RING_WIDTH_BOUNDS
        return int(np.clip(0.5 * np.sqrt(np.count_nonzero(self.covered)), low, high))

    @cached_property
    def near(self) -> np.ndarray:
        """The mask and its (adapted) blend margin."""
        return _grow(self.touched, self.margin)

    @cached_property
    def ring(self) -> np.ndarray:
        """The surroundings of the mask, past its blend margin."""
        return _grow(self.touched, self.margin + self.ring_width) & ~self.near

    @cached_property
    def change(self) -> np.ndarray:
        """Absolute change per pixel, summed over the three channels (exact, uint16)."""
        change = np.maximum(self.source, self.result) - np.minimum(self.source, self.result)
        return change.sum(axis=2, dtype=np.uint16)

    @cached_property
    def changed(self) -> np.ndarray:
        """Pixels whose mean change per channel reaches CHANGED_LEVELS (re-encoding noise stays below)."""
        return self.change >= 3 * CHANGED_LEVELS

    @cached_property
    def _lab(self) -> tuple[np.ndarray, np.ndarray]:
        """Lab of source and result, flattened to (N, 3). A view at half size or less was box-averaged already; a
        finer one is smoothed so one noisy pixel is not a colour. Every pixel (a table look-up) is cheaper than
        picking pixels first."""
        source, result = self.source, self.result
        if self.scale > 0.5:
            source, result = _smoothed(source), _smoothed(result)
        return lab(source.reshape(-1, 3)), lab(result.reshape(-1, 3))

    @property
    def source_lab(self) -> np.ndarray:
        return self._lab[0]

    @property
    def result_lab(self) -> np.ndarray:
        return self._lab[1]

    @cached_property
    def surrounding_colours(self) -> np.ndarray:
        """For every colour bin, whether the ring around the mask (in the source) holds it or a neighbouring bin."""
        from scipy import ndimage

        around = np.take(self.source_lab, np.flatnonzero(self.ring), axis=0)
        counts = np.bincount(_colour_bins(around), minlength=COLOUR_BINS**3)
        present = counts >= max(2, COLOUR_BIN_MIN_SHARE * len(around))
        return ndimage.maximum_filter(present.reshape((COLOUR_BINS,) * 3), size=3).ravel()

    def foreign(self, region: np.ndarray) -> np.ndarray:
        """Whether each result pixel of ``region`` (in flat order) has a colour found nowhere around the mask."""
        colours = np.take(self.result_lab, np.flatnonzero(region), axis=0)
        return ~np.take(self.surrounding_colours, _colour_bins(colours))

    @cached_property
    def ssim_map(self) -> np.ndarray:
        return self._ssim_map(smoothed=False)

    @cached_property
    def steady_ssim_map(self) -> np.ndarray:
        """SSIM of the :attr:`steady` copies: a shift by a pixel that decorrelates fine grain, or re-encoding, is not
        a changed picture; a softened or redrawn one still is."""
        return self._ssim_map(smoothed=True)

    @cached_property
    def steady(self) -> tuple[np.ndarray, np.ndarray]:
        """Source and result 3×3 box-averaged (twice on a view finer than half the source's size, so the blur spans
        about two source pixels either way): what outside the mask is compared on, a provider's one-pixel shift of
        fine grain or its re-encoding noise averaged away (a grainy lawn shifted diagonally by a pixel: SSIM 0.86
        unsmoothed, 0.97 smoothed), a softened picture, a block or a new object not."""
        source, result = _smoothed(self.source), _smoothed(self.result)
        if self.scale > 0.5:
            source, result = _smoothed(source), _smoothed(result)
        return source, result

    def _ssim_map(self, smoothed: bool) -> np.ndarray:
        from skimage.metrics import structural_similarity

        src, res = (rgb.astype(np.float32) @ LUMA for rgb in (self.steady if smoothed else (self.source, self.result)))
        if smoothed:
            res = _aligned(src, res, self.outside)
        if min(src.shape) < 7:  # SSIM's window needs 7 px; a smaller crop is padded by repeating its edge
            pad = [(0, max(0, 7 - n)) for n in src.shape]
            src, res = np.pad(src, pad, mode="edge"), np.pad(res, pad, mode="edge")
        _, ssim = structural_similarity(src, res, data_range=255.0, full=True)
        return ssim[: self.source.shape[0], : self.source.shape[1]]

    def mean_ssim(self, region: np.ndarray, steady: bool = False) -> float:
        return float((self.steady_ssim_map if steady else self.ssim_map)[region].mean())

    def mean_change(self, region: np.ndarray) -> float:
        """Mean absolute change per channel, 0-255 (exact, in integers)."""
        return float(self.change[region].sum(dtype=np.int64)) / (3 * max(1, int(np.count_nonzero(region))))


#: A provider may return the whole picture moved by a pixel or two (invisible, and no edit the customer asked
#: for); what lies outside the mask is compared after undoing the whole-pixel shift, up to this many analysis pixels
#: either way, that best lines the result up with the source. A fine lawn shifted by one pixel of a 512 px frame and
#: saved at JPEG q75 kept an SSIM of 0.82 even smoothed; lined up again it is the source's.
MAX_ALIGN_SHIFT = 2
#: The shift is estimated on every this-many-th row and column outside the mask (a few thousand pixels suffice).
ALIGN_SAMPLE = 3


def _aligned(source: np.ndarray, result: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``result`` (2-D) moved by the whole-pixel offset, within MAX_ALIGN_SHIFT, that minimises its mean absolute
    difference from ``source`` over ``region`` (estimated on every ALIGN_SAMPLE-th row and column: each sample is a
    whole pixel, so a one-pixel shift still shows); its edge repeated into the rows and columns the move uncovers.
    Unchanged when no offset beats none."""
    pad = MAX_ALIGN_SHIFT
    height, width = result.shape
    if min(height, width) <= 4 * pad:
        return result
    rows, cols = slice(pad, height - pad, ALIGN_SAMPLE), slice(pad, width - pad, ALIGN_SAMPLE)
    weight = region[rows, cols].astype(np.float32)
    if not weight.any():
        return result
    target = source[rows, cols]

    def difference(dy: int, dx: int) -> float:
        # result[y - dy, x - dx] at the sampled (y, x): what the result moved by (dy, dx) shows there.
        moved = result[pad - dy : height - pad - dy : ALIGN_SAMPLE, pad - dx : width - pad - dx : ALIGN_SAMPLE]
        return float(np.vdot(np.abs(moved - target), weight))

    best, best_offset = difference(0, 0), (0, 0)
    for dy in range(-pad, pad + 1):
        for dx in range(-pad, pad + 1):
            if (dy, dx) != (0, 0) and (score := difference(dy, dx)) < best:
                best, best_offset = score, (dy, dx)
    if best_offset == (0, 0):
        return result
    dy, dx = best_offset
    return np.pad(result, pad, mode="edge")[pad - dy : pad - dy + height, pad - dx : pad - dx + width]


class EditFrames:
    """Source, result and mask brought to the source's size: the whole frame, and a finer view around the mask."""

    def __init__(self, ctx: JudgeContext) -> None:
        # Analysis copies: past the analysis limit both are reduced, and the result is brought to the source's.
        source_image, result_image = ctx.require("source").decode(), ctx.decoded
        source, result = source_image.rgb, result_image.rgb
        self.source_full = source
        self.height, self.width = source.shape[:2]
        self.result_size = (result_image.width, result_image.height)
        self.resized_result = self.result_size != (source_image.width, source_image.height)
        self.result_full = _resize(result, (self.width, self.height))
        # How much each pixel lies in the region the mask marks, by the rule every reader of a mask follows (see
        # sentinel.store.mask_region: by its alpha when it has transparency, else its brightness), once at full size
        # and upright as the source is: crops and scales read from it. (Its pixels composited on white made a
        # transparent hole white and an opaque white pixel marked: not the region the providers were sent.)
        self.mask_full = read_coverage(ctx.require("mask").load_bytes())
        if self.mask_full.shape != (self.height, self.width):
            self.mask_full = _resize(self.mask_full, (self.width, self.height), Image.Resampling.NEAREST)
        self.margin_full = max(1.0, max(self.height, self.width) * EDGE_MARGIN_FRACTION)
        self.whole = self._view((0, 0, self.width, self.height), min(1.0, ANALYSIS_SIDE / max(self.height, self.width)))

    def _view(self, box: tuple[int, int, int, int], scale: float) -> View:
        left, top, right, bottom = box
        size = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
        pixels = (self.source_full, self.result_full, self.mask_full)
        whole: View | None = getattr(self, "whole", None)
        if whole is not None and scale <= whole.scale:
            # No finer than the whole-frame view: crop that one, fewer pixels to resample than the full size.
            pixels = (whole.source, whole.result, whole.coverage)
            left, top, right, bottom = (round(v * whole.scale) for v in box)

        def crop(image: np.ndarray, resample: Image.Resampling) -> np.ndarray:
            return _resize(image[top:bottom, left:right], size, resample)

        return View(
            source=crop(pixels[0], Image.Resampling.BILINEAR),
            result=crop(pixels[1], Image.Resampling.BILINEAR),
            coverage=crop(pixels[2], Image.Resampling.BOX),
            scale=size[0] / max(1, box[2] - box[0]),
            full_margin=max(1, round(self.margin_full * scale)),
        )

    @cached_property
    def mask_box(self) -> tuple[int, int, int, int] | None:
        """Bounding box of the mask in source pixels (None when the mask marks nothing)."""
        touched = self.whole.touched
        rows, cols = np.flatnonzero(touched.any(axis=1)), np.flatnonzero(touched.any(axis=0))
        if rows.size == 0:
            return None
        step = 1 / self.whole.scale
        return (
            max(0, int((cols[0] - 1) * step)),
            max(0, int((rows[0] - 1) * step)),
            min(self.width, int(np.ceil((cols[-1] + 2) * step))),
            min(self.height, int(np.ceil((rows[-1] + 2) * step))),
        )

    @cached_property
    def around_mask(self) -> View:
        """The mask and its surroundings, as finely as MASK_VIEW_SIDE allows (finer still for a thin stroke)."""
        box, scale = self._around_mask_box()
        if box is None:
            return self.whole
        if scale <= self.whole.scale and box == (0, 0, self.width, self.height):
            return self.whole
        return self._view(box, scale)

    @cached_property
    def resized_away(self) -> np.ndarray | None:
        """Where, in :attr:`around_mask`, the result differs from the source only as a resize shows it: the source
        brought to a smaller result's size and back (as the result was) is within re-encoding noise of the result
        there. None when the result is not smaller than the source. A perfect removal returned at 90% showed every
        background line the mask kept, softened by the resize, as repainted and as the removed object's outline
        (a 29% "ghost" of an object that was gone)."""
        box, _ = self._around_mask_box()
        if box is None or not self.resized_result or self.result_size[0] >= self.width:
            return None
        view = self.around_mask
        if view is self.whole:
            box = (0, 0, self.width, self.height)
        left, top, right, bottom = box
        # Only the view's box, a few pixels wider so the resize sees what lies beyond its edges.
        pad = 4
        outer = (max(0, left - pad), max(0, top - pad), min(self.width, right + pad), min(self.height, bottom + pad))
        crop = self.source_full[outer[1] : outer[3], outer[0] : outer[2]]
        width, height = outer[2] - outer[0], outer[3] - outer[1]
        smaller = (
            max(1, round(width * self.result_size[0] / self.width)),
            max(1, round(height * self.result_size[1] / self.height)),
        )
        seen = _resize(_resize(crop, smaller), (width, height))
        seen = seen[top - outer[1] : bottom - outer[1], left - outer[0] : right - outer[0]]
        seen = _resize(seen, (view.result.shape[1], view.result.shape[0]))
        change = np.abs(seen.astype(np.int16) - view.result.astype(np.int16)).sum(axis=2)
        return change < 3 * CHANGED_LEVELS

    def _around_mask_box(self) -> tuple[tuple[int, int, int, int] | None, float]:
        box = self.mask_box
        if box is None:
            return None, self.whole.scale
        left, top, right, bottom = box
        pad = round(0.5 * max(right - left, bottom - top) + 3 * self.margin_full) + 8
        box = (max(0, left - pad), max(0, top - pad), min(self.width, right + pad), min(self.height, bottom + pad))
        longest = max(box[2] - box[0], box[3] - box[1])
        scale = MASK_VIEW_SIDE / longest
        stroke = self._stroke_width()
        if stroke * scale < MIN_STROKE_PIXELS:
            scale = max(scale, min(THIN_VIEW_SIDE / longest, MIN_STROKE_PIXELS / max(stroke, 1e-6)))
        return box, min(1.0, scale)

    def _stroke_width(self) -> float:
        """The mask's typical width in source pixels: twice its area over its outline (a stroke's width; a disc's
        radius), measured on the whole-frame view."""
        covered = self.whole.covered
        interior = covered.copy()
        interior[1:] &= covered[:-1]
        interior[:-1] &= covered[1:]
        interior[:, 1:] &= covered[:, :-1]
        interior[:, :-1] &= covered[:, 1:]
        outline = int(np.count_nonzero(covered & ~interior))
        return 2 * int(np.count_nonzero(covered)) / max(1, outline) / self.whole.scale

    @cached_property
    def inner(self) -> View:
        """Where inside-the-mask measures are taken: the finer of the whole frame and the view around the mask."""
        return self.around_mask if self.around_mask.scale > self.whole.scale * 1.2 else self.whole

    def empty_mask(self) -> str | None:
        """Why the mask leaves nothing to compare, if it does."""
        if self.mask_box is None:
            return "the mask has no white pixels, so it marks no region; white must mark the region to edit"
        if not self.whole.outside.any():
            return "the mask is white (nearly) everywhere, so no area outside it is left to compare"
        return None

    @staticmethod
    def nothing_inside(view: View) -> str | None:
        """Why nothing inside the mask can be measured on ``view``, if so: the mask covers no more than half of any
        of its pixels (a hairline mask on a long, thin image brought to ANALYSIS_SIDE)."""
        if view.inside.any():
            return None
        height, width = view.inside.shape
        return (
            f"the mask is too thin to measure inside: it covers no whole pixel of the {width}×{height} px copy the "
            "images are compared at"
        )

    def note(self) -> str:
        return " (result was resized to the source's size to compare)" if self.resized_result else ""

    def source_at_result_size(self) -> np.ndarray | None:
        """The whole-frame view of the source as a result smaller than it shows it (brought to the result's size and
        back, as the result was): None when the result is not smaller than the source."""
        view_size = (self.whole.source.shape[1], self.whole.source.shape[0])
        if not self.resized_result or self.result_size[0] >= self.width:
            return None
        smaller = _resize(self.source_full, self.result_size)
        return _resize(_resize(smaller, (self.width, self.height)), view_size)


def _frames(ctx: JudgeContext) -> EditFrames:
    return ctx.memo("edit-frames", lambda: EditFrames(ctx))


def _no_region(reason: str) -> Outcome:
    return Outcome(False, None, None, reason, severity="severe")


class SimilaritySettings(CheckSettings):
    min_ssim: float = Field(0.90, ge=-1, le=1, description="mean structural similarity required")


class ChangeSettings(CheckSettings):
    min_change: float = Field(10.0, ge=0, le=255, description="mean absolute change per channel, 0-255")


def _preserved(ctx: JudgeContext, s: SimilaritySettings, inside: bool, what: str, lost: str) -> Outcome:
    """A region that must look as it did: mean SSIM against the source."""
    frames = _frames(ctx)
    if reason := frames.empty_mask():
        return _no_region(reason)
    view = frames.inner if inside else frames.whole
    if inside and (reason := frames.nothing_inside(view)):
        return Outcome(True, None, s.min_ssim, reason + frames.note())
    ssim = view.mean_ssim(view.inside, steady=False) if inside else view.mean_ssim(view.outside, steady=True)
    ok = ssim >= s.min_ssim
    state = "is preserved" if ok else lost
    detail = f"{what} {state}: SSIM {number(round(ssim, 4))} (needs ≥ {number(s.min_ssim)}){frames.note()}"
    return Outcome(ok, round(ssim, 4), s.min_ssim, detail)


def _changed(ctx: JudgeContext, s: ChangeSettings, inside: bool, what: str, unchanged: str) -> Outcome:
    """A region that must differ from the source: mean absolute change per channel."""
    frames = _frames(ctx)
    if reason := frames.empty_mask():
        return _no_region(reason)
    view = frames.inner if inside else frames.whole
    if inside and (reason := frames.nothing_inside(view)):
        return Outcome(True, None, s.min_change, reason + frames.note())
    change = view.mean_change(view.inside if inside else view.outside)
    ok = change >= s.min_change
    # The detail prints the measured value as the criteria table does: rounded once, formatted by one function.
    shown = number(round(change, 2))
    if ok:
        detail = f"{what} changed (mean change {shown} levels){frames.note()}"
    else:
        detail = f"{what} {unchanged}: mean change {shown} levels (needs ≥ {number(s.min_change)}){frames.note()}"
    return Outcome(ok, round(change, 2), s.min_change, detail)


#: Local damage outside the mask: a result pixel (both images 3×3 box-averaged, the result less the median shift
#: of each channel outside the mask, a provider's slight global colour or brightness change) whose channel lies
#: more than this many levels outside the range the source takes in its 3×3 neighbourhood has changed: re-encoding
#: (JPEG q85 moves few pixels past 5 levels) and a shift by a pixel stay within it, a new object does not.
DAMAGE_LEVELS = 24
#: Detail outside the mask (mean luminance step over a DETAIL_WINDOW square) lost where the result keeps less than
#: this share of the source's, on a source with at least DETAIL_MIN_STEP levels of texture there: a blurred region.
DETAIL_KEPT, DETAIL_MIN_STEP, DETAIL_WINDOW = 0.45, 6.0, 9


#: The share of the image outside the mask that may change locally (PreservedSettings.max_damaged's default).
MAX_DAMAGED = 0.001


#: The mean colour difference outside the mask allowed by default (PreservedSettings.max_delta_e's default).
MAX_OUTSIDE_DELTA_E = 6.0


class PreservedSettings(SimilaritySettings):
    max_damaged: float = Field(
        MAX_DAMAGED,
        ge=0,
        le=1,
        description="share of the image outside the mask changed locally (a new object, a block, a blur, a "
        "recolouring), at most",
    )
    max_delta_e: float = Field(
        MAX_OUTSIDE_DELTA_E,
        gt=0,
        description="shift of the mean colour (CIE76 ΔE) outside the mask, at most: a whole picture recoloured, "
        "which SSIM (on luminance structure) and the local damage (less the median shift) do not see",
    )


#: Severity of a recoloured picture outside the mask by the shift of its mean colour (ΔE): re-encoding and a
#: provider's one-pixel shift move it by 2 at most, a visible warm or cool cast by 8 or more.
OUTSIDE_COLOUR_BANDS = Bands(8, 16, higher_is_better=False, measure="mean colour shift (ΔE) outside the mask")


def outside_colour_change(damage: Damage) -> tuple[float, str, str]:
    """The shift of the mean colour outside the mask (CIE76 ΔE between the Lab of the two mean colours, on the
    3×3-averaged copies outside_damage compares): a cast moves every pixel one way, while re-encoding, a shift by a
    pixel and a small local change (local damage's) average out or weigh little; both mean colours."""
    if damage.means is None:
        return 0.0, "", ""
    was, now = damage.means
    means = np.clip(np.stack([was, now]) + 0.5, 0, 255).astype(np.uint8)
    offset = np.diff(lab(means), axis=0)[0]
    return float(np.sqrt(np.dot(offset, offset))), _hex(was), _hex(now)


#: Severity of a changed picture outside the mask by its mean SSIM there.
OUTSIDE_SSIM_BANDS = Bands(0.8, 0.65, measure="SSIM outside the mask")
#: Severity of local damage outside the mask by its share of the image: a speck is mild, a small patch or word
#: moderate, a visible object (a 100 px square on a 1024 px photo) severe.
DAMAGE_BANDS = Bands(0.0025, 0.01, higher_is_better=False, measure="share of the image changed outside the mask")


@dataclass(frozen=True)
class Damage:
    #: Share of the image outside the mask (and its blend margin) that changed locally.
    share: float
    #: The largest changed area's bounding box, in analysis pixels, and what changed most there.
    box: tuple[int, int, int, int] | None
    what: str
    #: The mean colour outside the mask (3×3-averaged, every other row and column) of the source and the result.
    means: tuple[np.ndarray, np.ndarray] | None = None


def _around(pixels: np.ndarray, pick: np.ufunc, beyond: int | None = None) -> np.ndarray:
    """``pick`` (np.minimum or np.maximum) of every pixel's 3×3 neighbourhood on the first two axes, the frame's
    edge repeated beyond it (or ``beyond`` there); shifted views, several times faster than scipy's filters on small
    integers."""
    pad = [(1, 1), (1, 1)] + [(0, 0)] * (pixels.ndim - 2)
    padded = np.pad(pixels, pad, mode="edge") if beyond is None else np.pad(pixels, pad, constant_values=beyond)
    rows = pick(pick(padded[:-2], padded[1:-1]), padded[2:])
    return pick(pick(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def outside_damage(view: View, detail_source: np.ndarray | None = None) -> Damage:
    """Where the result differs from the source outside the mask in a way re-encoding, a one-pixel shift or a slight
    global colour shift does not explain: colours outside the source's local range (a block, a new or moved object,
    a recolouring) or detail lost (a blurred region) against ``detail_source`` (default the view's source; for a
    smaller result, the source at the result's size: detail the smaller size cannot hold is result_size's)."""
    from scipy import ndimage

    outside = view.outside
    source, result = view.steady
    # The provider's global shift per channel: the median change outside (every other row and column estimate it).
    grid = (slice(None, None, 2), slice(None, None, 2))
    picked = outside[grid]
    was, now = source[grid][picked], result[grid][picked]
    sample = now.astype(np.int16) - was
    shift = np.median(sample, axis=0).astype(np.int16) if len(sample) else np.zeros(3, dtype=np.int16)
    # The mean colours (of every fourth pixel sampled: a mean colour to well under a ΔE, at a quarter of the cost).
    means = (was[::4].mean(axis=0, dtype=np.float32), now[::4].mean(axis=0, dtype=np.float32)) if len(sample) else None
    shifted = result.astype(np.int16) - shift
    low, high = _around(source, np.minimum).astype(np.int16), _around(source, np.maximum).astype(np.int16)
    recoloured = np.maximum(shifted - high, low - shifted).max(axis=2) > DAMAGE_LEVELS

    def detail(rgb: np.ndarray) -> np.ndarray:
        grey = rgb.astype(np.float32) @ LUMA
        steps = np.zeros_like(grey)
        steps[:-1] += np.abs(np.diff(grey, axis=0))
        steps[:, :-1] += np.abs(np.diff(grey, axis=1))
        return ndimage.uniform_filter(steps, DETAIL_WINDOW)

    had = detail(view.source if detail_source is None else detail_source)
    blurred = (had >= DETAIL_MIN_STEP) & (detail(view.result) < DETAIL_KEPT * had)
    # An opening by a 3×3 square: a stray pixel, a one-pixel line of JPEG ringing or of what a provider's shift
    # brought in at the frame's edge is not damage.
    damaged = _around(_around((recoloured | blurred) & outside, np.minimum, beyond=0), np.maximum)
    count = int(np.count_nonzero(damaged))
    if count == 0:
        return Damage(0.0, None, "", means)
    labels, _ = ndimage.label(damaged)
    largest = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    rows, cols = np.nonzero(labels == largest)
    box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    where = labels == largest
    what = "blurred" if np.count_nonzero(blurred & where) > np.count_nonzero(recoloured & where) else "changed"
    return Damage(count / damaged.size, box, what, means)


@kind.check(
    "preserved_outside_mask",
    PreservedSettings,
    needs=("source", "mask"),
    bands=OUTSIDE_SSIM_BANDS,
    fix="Leave everything outside the masked region exactly as it was: same framing, colours, sharpness and details"
    "{% if facts.damage_at %}; the last result changed the {{ facts.damage_at }} of the picture{% endif %}.",
)
def preserved_outside_mask(ctx: JudgeContext, s: SimilaritySettings) -> Outcome:
    """Outside the mask the image looks as it did: its mean SSIM (the whole picture softened or re-drawn), and no
    area of it changed locally (a block, a new, moved or recoloured object, a blurred region: the mean SSIM of a
    large frame hardly moves for those). Severity of local damage by its share of the image (DAMAGE_BANDS)."""
    structure = _preserved(ctx, s, inside=False, what="outside the mask the image", lost="was altered")
    frames = _frames(ctx)
    if frames.empty_mask():
        return structure
    view = frames.whole
    damage = outside_damage(view, frames.source_at_result_size())
    allowed = s.max_damaged if isinstance(s, PreservedSettings) else MAX_DAMAGED
    if damage.share <= allowed or damage.box is None:
        return _recoloured(structure, damage, s, frames.note())
    height, width = view.outside.shape
    where = region_name(damage.box, width, height)
    left, top, right, bottom = (round(v / view.scale) for v in damage.box)
    local = (
        f"an area outside the mask was {damage.what}: {pct(damage.share)} of the image differs from the source "
        f"(allowed {pct(allowed)}), the largest {right - left}×{bottom - top} px in the {where}"
    )
    facts = {"damage_at": where}
    severity = DAMAGE_BANDS.grade(damage.share)
    if structure.passed:
        detail = f"{local}{frames.note()}"
        return Outcome(False, round(damage.share, 4), allowed, detail, severity=severity, facts=facts)
    order = ("mild", "moderate", "severe")
    structure_severity = OUTSIDE_SSIM_BANDS.grade(float(structure.measured or 0.0))
    worst = max(structure_severity, severity, key=order.index)
    detail = f"{structure.detail}; {local}"
    return Outcome(False, structure.measured, structure.threshold, detail, severity=worst, facts=facts)


def _recoloured(structure: Outcome, damage: Damage, s: SimilaritySettings, note: str) -> Outcome:
    """``structure`` unless the picture outside the mask was recoloured as a whole (its mean colour moved by more
    than max_delta_e), which SSIM on luminance and the local damage (less the median shift per channel) miss."""
    max_delta_e = s.max_delta_e if isinstance(s, PreservedSettings) else MAX_OUTSIDE_DELTA_E
    delta_e, was, now = outside_colour_change(damage)
    if delta_e <= max_delta_e:
        return structure
    colour = (
        f"outside the mask the picture was recoloured: its mean colour moved by ΔE {number(round(delta_e, 2))} "
        f"(allowed {number(max_delta_e)}); it averages {now}, was {was}"
    )
    facts = {"damage_at": "colours"}
    colour_severity = OUTSIDE_COLOUR_BANDS.grade(delta_e)
    if structure.passed:
        return Outcome(False, round(delta_e, 2), max_delta_e, colour + note, severity=colour_severity, facts=facts)
    order = ("mild", "moderate", "severe")
    worst = max(OUTSIDE_SSIM_BANDS.grade(float(structure.measured or 0.0)), colour_severity, key=order.index)
    detail = f"{structure.detail}; {colour}"
    return Outcome(False, structure.measured, structure.threshold, detail, severity=worst, facts=facts)


class RemovalSettings(ChangeSettings):
    max_left_behind: float = Field(
        0.25,
        ge=0,
        le=1,
        description="share of the masked region left unchanged in colours found nowhere around the mask, at most",
    )
    min_repainted: float = Field(
        0.02,
        ge=0,
        le=1,
        description="when the mean change is below min_change (a mask painted loosely around a small object), the "
        "share of the masked region repainted as one solid area (the object's place), at least",
    )


def repainted_area(view: View) -> np.ndarray:
    """The mask's inside repainted as solid areas: changed pixels left after an opening by a REPAINTED_OPENING
    square (re-encoding noise and a shifted edge's thin lines are not an object removed)."""
    from scipy import ndimage

    changed = view.changed & view.inside
    return ndimage.binary_opening(changed, structure=np.ones((REPAINTED_OPENING, REPAINTED_OPENING), dtype=bool))


def left_behind_share(view: View) -> float:
    """The share of the mask's inside left as it was in colours found nowhere around the mask: what is left of the
    object (a generous mask's unchanged background has its surroundings' colours)."""
    left = view.inside & ~view.changed
    if not view.ring.any() or not left.any():
        return 0.0
    return float(np.count_nonzero(view.foreign(left))) / max(1, int(np.count_nonzero(view.inside)))


#: Severity of a partial removal by the share of the mask left behind: at least moderate, at least severe.
LEFT_BEHIND_BANDS = Bands(0.35, 0.6, higher_is_better=False, measure="share of the masked region left behind")


@kind.check(
    "changed_in_mask",
    RemovalSettings,
    needs=("source", "mask"),
    bands=Bands(8.5, 7, measure="mean change inside the mask, levels"),
    fix="Remove the object inside the masked region completely and fill the area with the background around it.",
)
def changed_in_mask(ctx: JudgeContext, s: RemovalSettings) -> Outcome:
    """The object is gone: the masked region changed on average (or, under a mask painted loosely around the
    object, a solid area of it was repainted as much as a whole mask must change), and no part of it was left as it
    was in colours its surroundings do not have (a generous mask's unchanged background is fine; half a sticker is
    not)."""
    outcome = _changed(
        ctx, s, inside=True, what="the masked region", unchanged="is essentially unchanged (the object is still there)"
    )
    frames = _frames(ctx)
    if outcome.measured is None:  # a mask too thin to measure inside: nothing more to ask
        return outcome
    left_behind = left_behind_share(frames.around_mask)
    if not outcome.passed:
        # A mask painted broadly around a small object (half the frame for a car) keeps mostly background, which a
        # good removal leaves as it was: the mean change over the mask is diluted, not the object still there. The
        # object's place is then a solid repainted area that changed as much as a whole mask must, with nothing
        # of the object's colours left around it; nothing repainted, a re-encoded copy or a faded object still fails.
        view = frames.inner
        repainted = repainted_area(view)
        share = float(np.count_nonzero(repainted)) / max(1, int(np.count_nonzero(view.inside)))
        repaint_change = view.mean_change(repainted)
        if share < s.min_repainted or repaint_change < s.min_change or left_behind > s.max_left_behind:
            detail = (
                f"{outcome.detail}; {pct(share)} of it was repainted as a solid area (needs ≥ "
                f"{pct(s.min_repainted)} changed by ≥ {number(s.min_change)} levels, with no more than "
                f"{pct(s.max_left_behind)} of the mask left as it was in colours found nowhere around it)"
            )
            return Outcome(False, outcome.measured, outcome.threshold, detail)
        return Outcome(
            True,
            round(share, 4),
            s.min_repainted,
            f"the masked region changed where the object stood: {pct(share)} of it was repainted as a solid area "
            f"(mean change there {number(round(repaint_change, 2))} levels; the mask is drawn loosely, its mean "
            f"change is {number(float(outcome.measured))} levels){frames.note()}",
        )
    if left_behind <= s.max_left_behind:
        return outcome
    detail = (
        f"part of the object is still there: {pct(left_behind)} of the masked region was left as it was, in colours "
        f"found nowhere around it (allowed {pct(s.max_left_behind)})"
    )
    return Outcome(
        False, round(left_behind, 4), s.max_left_behind, detail, severity=LEFT_BEHIND_BANDS.grade(left_behind)
    )


class FillSettings(CheckSettings):
    min_texture_ratio: float = Field(
        0.25,
        gt=0,
        le=1,
        description="the fill's typical texture (median luminance step) as a share of its surroundings', at least",
    )
    max_detail_ratio: float = Field(
        3.0, ge=1, description="the fill's detail (mean luminance step) as a multiple of its surroundings', at most"
    )
    max_seam_ratio: float = Field(
        2.0,
        ge=1,
        description="colour step across the mask's edge as a multiple of the step the surroundings take over the "
        "same distance, at most",
    )
    max_new_colours: float = Field(
        0.35, gt=0, le=1, description="share of the fill in colours found nowhere around the mask, at most"
    )
    min_structure_ratio: float = Field(
        0.125,
        gt=0,
        le=1,
        description="the fill's lines and edges (upper-quartile luminance step) as a share of its surroundings', "
        "at least",
    )
    max_new_object: float = Field(
        0.15,
        gt=0,
        le=1,
        description="the largest solid region of colours found nowhere around the mask, as a share of the "
        "repainted mask, at most",
    )
    max_uncommon_colours: float = Field(
        0.15,
        gt=0,
        le=1,
        description="share of the fill in colours it holds over UNCOMMON_RATIO times as often as its surroundings "
        "do, at most: a new object painted in colours the scene has elsewhere",
    )
    max_edge_new_colours: float = Field(
        0.25,
        gt=0,
        le=1,
        description="share of the mask's outer band (its blend margin) in colours found nowhere around it, at most",
    )
    max_edge_seam: float = Field(
        3.0,
        ge=1,
        description="the colour step of any layer of the mask's outer band, along one side, from the blend of the "
        "fill and its surroundings, as a multiple of the surroundings' own step between layers, at most",
    )
    max_ghost: float = Field(
        0.12,
        gt=0,
        le=1,
        description="share of the removed object's outlines still showing in the fill, at most",
    )
    max_crossing_band: float = Field(
        1.5,
        gt=0,
        description="how far the fill's most outstanding row or column (a bar drawn across it) stands from the rows "
        "beside it, as a multiple of the larger of CROSSING_BAND_DELTA_E and CROSSING_BAND_SPREAD times its ordinary "
        "rows' spread, at most",
    )
    max_flat_share: float = Field(
        0.12,
        gt=0,
        le=1,
        description="share of the fill that is locally flat (under a quarter of the surroundings' typical local "
        "texture), beyond the share of the surroundings that is as flat, at most: a flat patch inside a fill "
        "textured at its edges",
    )


@dataclass(frozen=True)
class FillMeasures:
    texture_ratio: float
    detail_ratio: float
    seam_ratio: float
    new_colours: float
    fill_colour: str
    surround_colour: str
    #: The fill's upper-quartile luminance step against its surroundings' (their lines: mortar, branches, edges).
    structure_ratio: float = 1.0
    #: The largest solid region of foreign colour in the repainted mask, as a share of the repainted mask.
    new_object: float = 0.0
    #: Share of the fill in colours it holds far more often than its surroundings (a new object in their colours).
    uncommon_colours: float = 0.0
    #: Share of the mask's outer band (left out of the fill as its blend margin) in foreign colours: a seam.
    edge_new_colours: float = 0.0
    #: How much of the removed object's outlines the fill still shows (0 none, 1 all).
    ghost: float = 0.0
    #: A line along the mask's edge against the surroundings' own lines parallel to it (1: as the surroundings).
    edge_seam: float = 1.0
    #: A bar drawn across the fill: its strength against the fill's ordinary rows, and what it is (for the detail).
    crossing_band: float = 0.0
    crossing_band_what: str = ""
    #: Share of the fill locally flat beyond the share of its surroundings that is as flat.
    flat_share: float = 0.0


#: The four directions a seam is crossed in (row step, column step): rightwards, leftwards, downwards, upwards.
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def _pairs_difference(
    a: np.ndarray,
    b: np.ndarray,
    from_region: np.ndarray,
    to_region: np.ndarray,
    step: int,
    directions: tuple[tuple[int, int], ...] = DIRECTIONS,
) -> float:
    """Mean colour distance between pixels of ``from_region`` (in ``a``, flattened to (N, 3)) and the pixels ``step``
    away in ``directions`` (default left, right, above and below) that lie in ``to_region`` (in ``b``); NaN when there
    are none."""
    height, width = from_region.shape
    rows, cols = np.divmod(np.flatnonzero(from_region), width)
    to_flat = to_region.ravel()
    total, count = 0.0, 0
    for dy, dx in directions:
        y, x = rows + dy * step, cols + dx * step
        keep = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        start, end = (rows * width + cols)[keep], (y * width + x)[keep]
        end_inside = np.take(to_flat, end)
        if not end_inside.any():
            continue
        offset = np.take(a, start[end_inside], axis=0) - np.take(b, end[end_inside], axis=0)
        total += float(np.sqrt(np.einsum("ij,ij->i", offset, offset)).sum())
        count += int(np.count_nonzero(end_inside))
    return total / count if count else float("nan")


def _seam_ratio(view: View, fill: np.ndarray) -> float:
    """The colour step from just inside the fill to just outside the blend margin, against the step the
    surroundings themselves take (busy surroundings change a lot in a few pixels, a wall does not), side by side:
    the pairs crossing the mask's edge in one direction are held to what the source does on that side, the larger
    of its step over the same distance further out and its step across the part of the gap it shows outside the
    mask (a horizon just above a mask is the surroundings' own step there, and does not excuse a step elsewhere)."""
    band = max(2, view.ring_width // 4)
    inner_band = fill & ~_shrink(view.inside, band)
    outer_band = _grow(view.touched, view.margin + band) & ~view.near
    beyond = view.ring & ~outer_band
    step = 2 * view.margin + band + 1
    height, width = fill.shape
    rows, cols = np.divmod(np.flatnonzero(inner_band), width)
    outer_flat, outside_flat = outer_band.ravel(), ~view.touched.ravel()
    seam_total, natural_total, pairs = 0.0, 0.0, 0
    for dy, dx in DIRECTIONS:
        y, x = rows + dy * step, cols + dx * step
        keep = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        ys, xs, end = rows[keep], cols[keep], (y * width + x)[keep]
        reaches = np.take(outer_flat, end)
        ys, xs, end = ys[reaches], xs[reaches], end[reaches]
        if not len(end):
            continue
        # The first pixel outside the mask on the way from the fill to its far pixel (the far pixel at the latest).
        first, unset = end.copy(), np.ones(len(end), dtype=bool)
        for k in range(1, step):
            at = (ys + dy * k) * width + xs + dx * k
            found = unset & np.take(outside_flat, at)
            first[found] = at[found]
            unset &= ~found
        far = np.take(view.source_lab, end, axis=0)
        seam = np.take(view.result_lab, ys * width + xs, axis=0) - far
        gap = np.take(view.source_lab, first, axis=0) - far
        across = float(np.sqrt(np.einsum("ij,ij->i", gap, gap)).mean())
        outward = _pairs_difference(view.source_lab, view.source_lab, outer_band, beyond, step, ((dy, dx),))
        natural = max(across, 0.0 if np.isnan(outward) else outward)
        seam_total += float(np.sqrt(np.einsum("ij,ij->i", seam, seam)).sum())
        natural_total += natural * len(end)
        pairs += len(end)
    if not pairs:
        return 1.0
    return (seam_total / pairs + SEAM_FLOOR) / (natural_total / pairs + SEAM_FLOOR)


def fill_measures(view: View, fill: np.ndarray) -> FillMeasures:
    """How the ``fill`` (in the result) compares with the ring around the mask (in the source: what the object
    stood in, which an all-black or repainted result cannot move)."""
    ring = _texture_reference(view, fill)

    def steps(rgb: np.ndarray, region: np.ndarray) -> np.ndarray:
        """Luminance steps to the right plus downwards, where both neighbours stay inside ``region``."""
        gray = rgb.astype(np.float32) @ LUMA
        both = region[:-1, :-1] & region[1:, :-1] & region[:-1, 1:]
        if not both.any():  # a stroke one pixel wide: its steps necessarily reach outside
            both = region[:-1, :-1]
        found = (np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1])[both]
        return found if found.size else np.zeros(1, dtype=np.float32)

    fill_steps, ring_steps = steps(view.result, fill), steps(view.source, ring)
    # Flatness compares typical texture (medians: a few strong edges around the mask do not make its surroundings a
    # texture a smooth fill fails to continue); busyness compares means (an added object shows as outlines).
    texture_ratio = (float(np.median(fill_steps)) + TEXTURE_FLOOR) / (float(np.median(ring_steps)) + TEXTURE_FLOOR)
    # The median alone sits on the flat faces of a surface whose texture is its lines (a brick wall's mortar: a
    # median step under 2 levels), so even a perfectly flat patch kept a third of "its texture": the upper quartile
    # holds those lines, and a fill without any of them is a flat patch too.
    structure_ratio = (float(np.percentile(fill_steps, 75)) + TEXTURE_FLOOR) / (
        float(np.percentile(ring_steps, 75)) + TEXTURE_FLOOR
    )
    detail_ratio = (float(fill_steps.mean()) + DETAIL_FLOOR) / (float(ring_steps.mean()) + DETAIL_FLOOR)

    seam_ratio = _seam_ratio(view, fill)
    band = _crossing_band(view)

    fill_at, ring_at = np.flatnonzero(fill), np.flatnonzero(ring)
    return FillMeasures(
        texture_ratio=texture_ratio,
        detail_ratio=detail_ratio,
        seam_ratio=seam_ratio,
        new_colours=float(view.foreign(fill).mean()),
        uncommon_colours=_uncommon_colours(view, fill),
        fill_colour=_hex(np.take(view.result.reshape(-1, 3), fill_at, axis=0).mean(axis=0)),
        surround_colour=_hex(np.take(view.source.reshape(-1, 3), ring_at, axis=0).mean(axis=0)),
        structure_ratio=structure_ratio,
        new_object=_new_object(view),
        edge_new_colours=_edge_new_colours(view),
        edge_seam=_edge_seam(view),
        ghost=_ghost(view, fill),
        crossing_band=band[0],
        crossing_band_what=band[1],
        flat_share=_flat_share(view, fill),
    )


#: A bar across the fill stands at least this far (ΔE) from the rows beside it before it counts: a fill of foliage
#: or grass averaged along a row varies by a few ΔE from row to row; a dark or light bar by 20 to 70.
CROSSING_BAND_DELTA_E = 10.0
#: ... and this many times the fill's ordinary rows' deviation (their 80th percentile): a fill whose brick courses
#: do not line up with the wall's deviates on every mortar line, not on one bar.
CROSSING_BAND_SPREAD = 3.0
#: Rows this close to either end of the fill are not looked at for a band.
CROSSING_BAND_EDGE_ROWS = 3
#: A row (or column) of the fill is averaged when it holds at least this many analysis pixels.
CROSSING_BAND_MIN_ROW = 20
#: A band counts when at least this share of its row is in colours found nowhere around the mask.
CROSSING_BAND_FOREIGN = 0.5
#: A bar in the scene's own colours (near black over dark foliage, whose row means move only a few ΔE) is told by
#: its flatness: a row of the fill whose mean L* step along it is under CROSSING_BAND_FLAT of the fill's ordinary
#: rows' (their median, at least CROSSING_BAND_TEXTURED: a textured fill), while the surroundings' same row beside
#: the mask keeps at least CROSSING_BAND_RING_KEPT of their ordinary texture (a mortar line or a smooth horizon
#: is flat there too), and whose colour moves at least CROSSING_BAND_FLAT_DELTA_E from its neighbours'. Dark gaps,
#: shadows and branches the scene has keep the texture beside and under them.
CROSSING_BAND_FLAT = 0.25
CROSSING_BAND_TEXTURED = 0.5
CROSSING_BAND_RING_KEPT = 0.5
CROSSING_BAND_FLAT_DELTA_E = 4.0
#: Rows within this share of the fill's rows from either end are not looked at for a flat band.
CROSSING_BAND_FLAT_EDGE_SHARE = 0.1


def _running_median(values: np.ndarray, half: int) -> np.ndarray:
    """The median of each row of ``values`` (N, C) over the rows within ``half`` of it (fewer at the ends)."""
    count, channels = values.shape
    padded = np.full((count + 2 * half, channels), np.nan, dtype=values.dtype)
    padded[half : half + count] = values
    # Sorted, each window's padding (NaN) goes last and its real rows are known by position, so the middle is picked
    # directly: the same numbers as np.nanmedian, whose masked-array path for short windows cost ~3 ms a fill.
    ordered = np.sort(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0), axis=-1)
    at = np.arange(count)
    real = np.minimum(count, at + half + 1) - np.maximum(0, at - half)
    rows, columns = at[:, None], np.arange(channels)[None, :]
    return (ordered[rows, columns, ((real - 1) // 2)[:, None]] + ordered[rows, columns, (real // 2)[:, None]]) / 2


def _span(flags: np.ndarray) -> slice:
    """From the first to the last true entry of ``flags`` (empty when none is)."""
    at = np.flatnonzero(flags)
    return slice(int(at[0]), int(at[-1]) + 1) if len(at) else slice(0, 0)


def _row_sums(region: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``lab`` (rows, columns, 3) over the pixels of ``region`` (rows, columns)."""
    return np.einsum("yx,yxc->yc", region.astype(np.float32), lab)


def _flat_rows(view: View, flip: bool, rows: slice, valid: np.ndarray) -> np.ndarray | None:
    """Of the fill's ``valid`` rows among ``rows`` (columns when ``flip``), how flat each is along its length: its
    mean L* step between neighbours inside the mask over the fill's ordinary rows' (their median), or infinity where
    the surroundings' same row is as flat (see CROSSING_BAND_RING_KEPT); None for a fill that is not textured."""
    inside, ring = view.inside, view.ring
    height, width = inside.shape
    result = view.result_lab.reshape(height, width, 3)[..., 0]
    source = view.source_lab.reshape(height, width, 3)[..., 0]
    if flip:
        inside, ring, result, source = inside.T, ring.T, result.T, source.T
    inside, ring, result, source = inside[rows], ring[rows], result[rows], source[rows]

    def texture(lightness: np.ndarray, region: np.ndarray) -> np.ndarray:
        both = region[:, 1:] & region[:, :-1]
        steps = np.where(both, np.abs(np.diff(lightness, axis=1)), 0.0).sum(axis=1)
        return (steps / np.maximum(both.sum(axis=1), 1))[valid]

    fill_rows = texture(result, inside)
    ordinary = float(np.median(fill_rows))
    if ordinary < CROSSING_BAND_TEXTURED:
        return None
    ring_rows = texture(source, ring)
    ring_ordinary = float(np.median(ring_rows))
    flat = fill_rows / ordinary
    flat[ring_rows < CROSSING_BAND_RING_KEPT * ring_ordinary] = np.inf
    # A flat stretch by the mask's edge is an object's remnant or a seam, which the edge measures grade.
    edge = max(CROSSING_BAND_EDGE_ROWS, round(CROSSING_BAND_FLAT_EDGE_SHARE * flat.size))
    flat[:edge] = flat[-edge:] = np.inf
    return flat


def _crossing_band(view: View) -> tuple[float, str]:
    """A bar drawn across the fill (a dark or light band a few pixels tall or wide): each row (and column) of the
    mask's inside, averaged in Lab, against the running median of its neighbours, both as it is and less the
    surroundings' same row beside the mask (so a horizon or a brick course the surroundings have too is no bar).
    A bar stands out in both; the measure is the strongest row's deviation over the larger of CROSSING_BAND_DELTA_E
    and CROSSING_BAND_SPREAD times the ordinary rows', with what it is (dark or light, across or down)."""
    height, width = view.inside.shape
    worst, what = 0.0, ""
    for direction in ("across", "down"):
        # Read as rows either way: "down" looks at the columns, the views transposed.
        flip = direction == "down"
        inside, ring = (view.inside.T, view.ring.T) if flip else (view.inside, view.ring)
        result, source = (
            colours.reshape(height, width, 3).transpose(1, 0, 2) if flip else colours.reshape(height, width, 3)
            for colours in (view.result_lab, view.source_lab)
        )
        # Only the rows the fill spans can be averaged, over the fill's and the surroundings' own columns: the
        # rest of the view (about twice as large) adds nothing but zeros to the sums.
        rows, fill_cols, ring_cols = _span(inside.any(axis=1)), _span(inside.any(axis=0)), _span(ring.any(axis=0))
        count_in, count_ring = inside[rows].sum(axis=1), ring[rows].sum(axis=1)
        # Rows long enough to average (a thin stroke's few pixels a row are one star or one leaf).
        valid = (count_in >= max(CROSSING_BAND_MIN_ROW, 0.5 * count_in.max())) & (count_ring >= 4)
        if np.count_nonzero(valid) < 12:
            continue
        fill_rows = _row_sums(inside[rows, fill_cols], result[rows, fill_cols])[valid] / count_in[valid, None]
        ring_rows = _row_sums(ring[rows, ring_cols], source[rows, ring_cols])[valid] / count_ring[valid, None]
        half = max(6, len(fill_rows) // 4)
        continued = fill_rows - ring_rows
        medians = _running_median(np.hstack([fill_rows, continued]), half)  # one pass for both: columns apart
        own, against_ring = fill_rows - medians[:, :3], continued - medians[:, 3:]
        deviation = np.minimum(np.linalg.norm(own, axis=1), np.linalg.norm(against_ring, axis=1))
        ordinary = float(np.percentile(deviation, 80))
        # The rows by the mask's edge are the edge seam's to judge (their running median is one-sided).
        deviation[:CROSSING_BAND_EDGE_ROWS] = deviation[-CROSSING_BAND_EDGE_ROWS:] = 0.0
        strongest = int(np.argmax(deviation))
        score = float(deviation[strongest]) / max(CROSSING_BAND_DELTA_E, CROSSING_BAND_SPREAD * ordinary)
        flat = _flat_rows(view, flip, rows, valid)
        if flat is not None:
            flat[deviation < CROSSING_BAND_FLAT_DELTA_E] = np.inf
            flattest = int(np.argmin(flat))
            if flat[flattest] < CROSSING_BAND_FLAT:
                # As far past the limit as the row is flat past CROSSING_BAND_FLAT (a flat colour reads 4×).
                flat_score = min(4.0, CROSSING_BAND_FLAT / max(float(flat[flattest]), CROSSING_BAND_FLAT / 4))
                if flat_score > max(score, 1.0):
                    strongest, score = flattest, flat_score
                    if flat_score > worst:
                        shade = "dark" if own[strongest, 0] < 0 else "light"
                        where = pct(strongest / max(1, len(fill_rows) - 1))
                        orientation = "horizontal" if direction == "across" else "vertical"
                        side = "down from its top" if direction == "across" else "in from its left"
                        worst, what = score, f"a flat {shade} {orientation} band crosses the fill about {where} {side}"
                    continue
        if score <= worst:
            continue
        # A band in colours found around the mask continues something there (a light trail, a star), not a bar.
        line = np.zeros_like(view.inside)
        index = rows.start + np.flatnonzero(valid)[strongest]
        (line.T if flip else line)[index] = inside[index]
        if float(view.foreign(line).mean()) < CROSSING_BAND_FOREIGN:
            continue
        shade = "dark" if own[strongest, 0] < 0 else "light"
        where = pct(strongest / max(1, len(fill_rows) - 1))
        orientation = "vertical" if flip else "horizontal"
        side = "down from its top" if direction == "across" else "in from its left"
        worst, what = score, f"a {shade} {orientation} band crosses the fill about {where} {side}"
    return worst, what


#: Local texture is the mean luminance step over squares this many analysis pixels wide (wider than a brick course
#: at the view's scale, so a brick's flat face is not a flat patch).
FLAT_WINDOW = 15
#: A square is flat when its texture (plus TEXTURE_FLOOR) is under this share of the surroundings' typical, and
#: under FLAT_MAX_STEP levels: a smooth but not flat inpainting (a mean step of one to two levels) is
#: fill_matches_surroundings' median texture's to judge.
FLAT_TEXTURE_SHARE = 0.25
FLAT_MAX_STEP = 0.5


def _local_texture(rgb: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The mean luminance step (down plus across) over a FLAT_WINDOW square about each pixel, of the steps whose
    both ends lie in ``region`` (NaN where the square holds few of them)."""
    from scipy import ndimage

    grey = rgb.astype(np.float32) @ LUMA
    steps, counts = np.zeros_like(grey), np.zeros_like(grey)
    down, across = region[:-1] & region[1:], region[:, :-1] & region[:, 1:]
    steps[:-1] += np.where(down, np.abs(np.diff(grey, axis=0)), 0)
    steps[:, :-1] += np.where(across, np.abs(np.diff(grey, axis=1)), 0)
    counts[:-1] += down
    counts[:, :-1] += across
    total, number_of = ndimage.uniform_filter(steps, FLAT_WINDOW), ndimage.uniform_filter(counts, FLAT_WINDOW)
    return np.where(number_of > 0.25, 2 * total / np.maximum(number_of, 1e-6), np.nan)


def _texture_reference(view: View, fill: np.ndarray) -> np.ndarray:
    """What the fill's texture is held to: the ring around the mask or, under a mask painted broadly (keeping as
    much as the fill as it was, next to it), the part of the mask kept within a ring's width of the fill: what the
    object really stood in. Half a frame away,
    the ring of a broad mask over the astronaut's busy flag read the dark backdrop and suit a perfect removal showed
    as a flat patch."""
    kept = view.inside & ~view.changed & _grow(fill, view.ring_width) & ~_grow(fill, 2)
    if np.count_nonzero(kept) < np.count_nonzero(fill):
        return view.ring
    return kept


def _flat_share(view: View, fill: np.ndarray) -> float:
    """The share of the fill that is locally flat (its local texture under FLAT_TEXTURE_SHARE of the surroundings'
    typical) beyond the share of the surroundings that is as flat: a flat patch set inside a fill whose textured
    edge keeps the fill's median texture up (a sky beside grass is flat in both, and passes)."""
    reference = _texture_reference(view, fill)
    rows, cols = np.flatnonzero((fill | reference).any(axis=1)), np.flatnonzero((fill | reference).any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    fill_box, ring_box = fill[box], reference[box]
    around = _local_texture(view.source[box], ring_box)[ring_box]
    typical = float(np.nanmedian(around)) if np.isfinite(around).any() else 0.0
    limit = min(FLAT_MAX_STEP, FLAT_TEXTURE_SHARE * (typical + TEXTURE_FLOOR) - TEXTURE_FLOOR)
    if limit <= 0:
        return 0.0
    inside = _local_texture(view.result[box], fill_box)[fill_box]
    flat_fill = float(np.mean(inside < limit))
    flat_around = float(np.mean(around < limit))
    return max(0.0, flat_fill - flat_around)


#: A fill colour is uncommon when the fill holds it (with its neighbouring colour cells) over this many times as
#: often as the ring around the mask does.
UNCOMMON_RATIO = 4.0


def _uncommon_colours(view: View, fill: np.ndarray) -> float:
    """Share of the fill in colours it holds over UNCOMMON_RATIO times as often as the ring around the mask (each
    colour cell's ring share spread over its neighbouring cells): a cat's face painted on a café wall has browns and
    greys the wall has too, so none is foreign, but in proportions the wall has nowhere. A fill that continues its
    surroundings, copied from a little further off or softened, keeps their proportions (at most 4% seen)."""
    from scipy import ndimage

    cells = (COLOUR_BINS,) * 3
    ring = np.bincount(
        _colour_bins(np.take(view.source_lab, np.flatnonzero(view.ring), axis=0)), minlength=COLOUR_BINS**3
    )
    filled = np.bincount(_colour_bins(np.take(view.result_lab, np.flatnonzero(fill), axis=0)), minlength=COLOUR_BINS**3)
    if not ring.any() or not filled.any():
        return 0.0
    ring_share = ndimage.uniform_filter(ring.reshape(cells).astype(np.float32), size=3).ravel() * 27 / ring.sum()
    fill_share = filled.astype(np.float32) / filled.sum()
    return float(np.maximum(0.0, fill_share - UNCOMMON_RATIO * ring_share).sum())


#: Below this share of the repainted mask in foreign colours, all of them together are the (small) measure.
NEW_OBJECT_LOOK = 0.05


def _new_object(view: View) -> float:
    """The largest solid region (surviving an opening by a 3×3 square) of the repainted mask, its outer band
    included, in colours found nowhere around the mask, as a share of the repainted mask: a new object stands in
    one place, so a share of the whole fill let one covering under a third of a loose mask pass."""
    from scipy import ndimage

    repainted = view.covered & view.changed
    total = int(np.count_nonzero(repainted))
    if total < MIN_FILL_PIXELS:
        return 0.0
    found = view.foreign(repainted)
    share = float(np.count_nonzero(found)) / total
    if share < NEW_OBJECT_LOOK:  # no region can be larger than all of them: not worth finding
        return share
    foreign = np.zeros(repainted.shape, dtype=bool)
    foreign.ravel()[np.flatnonzero(repainted)] = found
    foreign = ndimage.binary_opening(foreign, structure=np.ones((3, 3), dtype=bool))
    if not foreign.any():
        return 0.0
    labels, _ = ndimage.label(foreign, structure=np.ones((3, 3), dtype=bool))
    return float(np.bincount(labels.ravel())[1:].max()) / total


def _edge_new_colours(view: View) -> float:
    """Share of the mask's outer band (the blend margin the fill measures leave out, where a feathered edge blends
    the fill into its surroundings) in colours found nowhere around the mask: a dark or bright seam outlining the
    mask lies there, and a blend of the fill with its surroundings does not bring new colours."""
    band = view.covered & ~view.inside
    if not band.any():
        return 0.0
    return float(view.foreign(band).mean())


#: Sides of a mask (by where a pixel lies from its centre, relative to its half-size): a seam along one side only is
#: not diluted by the other three.
MASK_SIDES = 4


def _edge_seam(view: View) -> float:
    """A line drawn along the mask's edge (a dark or bright frame, in colours the surroundings may well have): the
    mean colour of each one-pixel layer of the mask's outer band, along each side, against the blend from the fill
    just inside the band to the surroundings just outside the mask (a feathered edge is that blend), as a multiple
    of the same step in the source's layers just outside the mask (surroundings with lines parallel to the edge
    have it too). Averaged along a side, texture cancels and a line does not."""
    from scipy import ndimage

    band = max(2, view.margin)
    rows, cols = np.flatnonzero(view.covered.any(axis=1)), np.flatnonzero(view.covered.any(axis=0))
    if not len(rows):
        return 1.0
    # Only the mask's box and the layers about it are looked at.
    reach = band + 4
    box = (
        slice(max(0, rows[0] - reach), rows[-1] + reach + 1),
        slice(max(0, cols[0] - reach), cols[-1] + reach + 1),
    )
    covered = view.covered[box]
    height, width = covered.shape
    depth = ndimage.distance_transform_cdt(covered, metric="chessboard")
    out = ndimage.distance_transform_cdt(~covered, metric="chessboard")
    rows, cols = np.nonzero(covered)
    centre_y, centre_x = rows.mean(), cols.mean()
    half_h, half_w = max(1.0, (rows.max() - rows.min() + 1) / 2), max(1.0, (cols.max() - cols.min() + 1) / 2)
    y = (np.arange(height, dtype=np.float32)[:, None] - centre_y) / half_h
    x = (np.arange(width, dtype=np.float32)[None, :] - centre_x) / half_w
    side = np.where(np.abs(y) > np.abs(x), np.where(y < 0, 0, 1), np.where(x < 0, 2, 3))
    # Layer codes: inside the mask 1..band+2 (its depth), outside 33..33+band+2 (32 + distance).
    layer = np.where(covered, np.where(depth <= band + 2, depth, 0), np.where(out <= band + 3, 32 + out, 0))
    picked = np.flatnonzero(layer)
    codes = (side.ravel()[picked] * 64 + layer.ravel()[picked]).astype(np.int64)
    slots = MASK_SIDES * 64
    counts = np.bincount(codes, minlength=slots).reshape(MASK_SIDES, 64)

    def means(colours: np.ndarray) -> np.ndarray:
        taken = np.take(colours, picked, axis=0)
        sums = np.stack([np.bincount(codes, taken[:, c], minlength=slots) for c in range(3)], axis=-1)
        return sums.reshape(MASK_SIDES, 64, 3) / np.maximum(counts, 1)[..., None]

    # Unsmoothed colours: a seam one or two pixels wide is the line the box average would spread over its neighbours.
    result = means(lab(np.ascontiguousarray(view.result[box]).reshape(-1, 3)))
    source = means(lab(np.ascontiguousarray(view.source[box]).reshape(-1, 3)))
    enough = counts >= 8
    worst, natural = 0.0, 0.0
    for k in range(MASK_SIDES):
        fill_at, out_at = [band + 1, band + 2], [33, 34]
        if not (enough[k, fill_at].all() and enough[k, out_at].all()):
            continue
        inner, outer = result[k, fill_at].mean(axis=0), result[k, out_at].mean(axis=0)
        for depth_k in range(1, band + 1):
            if enough[k, depth_k]:
                expected = outer + (inner - outer) * (depth_k + 1.0) / (band + 2.5)
                # A layer counts only as far as it was redrawn: one the result kept as the source had it (a brick
                # wall's mortar line running along the mask's edge) is the surroundings' own line, not a seam.
                kept = float(np.linalg.norm(result[k, depth_k] - source[k, depth_k]))
                worst = max(worst, min(float(np.linalg.norm(result[k, depth_k] - expected)), kept))
        far_at = [32 + band + 2, 32 + band + 3]
        if not enough[k, far_at].all():
            continue
        near, far = source[k, out_at].mean(axis=0), source[k, far_at].mean(axis=0)
        for distance in range(3, band + 2):
            if enough[k, 32 + distance]:
                expected = near + (far - near) * (distance - 1.5) / (band + 1)
                natural = max(natural, float(np.linalg.norm(source[k, 32 + distance] - expected)))
    return (worst + SEAM_FLOOR) / (natural + SEAM_FLOOR)


def _undo_cast(rgb: np.ndarray, was: np.ndarray, now: np.ndarray) -> np.ndarray:
    """``rgb`` (float) with each channel mapped by the gain and offset that take ``now`` closest to ``was`` (least
    squares over the pairs neither clipped); a channel without spread (a flat backdrop) by its median gain."""
    mapped = np.empty_like(rgb)
    for c in range(3):
        x, y = now[:, c], was[:, c]
        usable = (x > 1) & (x < 254) & (y > 1) & (y < 254)
        x, y = x[usable], y[usable]
        if x.size >= 16 and float(x.std()) > 2:
            gain, offset = np.polyfit(x, y, 1)
        else:
            gain, offset = float(np.median(was[:, c] + 1) / np.median(now[:, c] + 1)), 0.0
        mapped[..., c] = rgb[..., c] * gain + offset
    return mapped


#: Where the object stood is told by local means over squares this many analysis pixels wide: a background the mask
#: kept and a provider redrew a little softer keeps them (a blur keeps a local mean), a replaced object does not.
GHOST_WINDOW = 7


def _ghost(view: View, fill: np.ndarray) -> float:
    """How much of the removed object's outlines the fill still shows, where the object stood (the fill's local
    means moved away from the source's, beyond the median gain outside the mask: a recoloured picture is not a
    ghost): the source's luminance gradient there regressed on the result's (a fill blended 40% with the object
    keeps about 0.4 of its edges; one that continues the background keeps about none), counted only as far as the
    two are correlated, so a smooth fill's faint leftovers of a dark speck do not count as its outline."""
    from scipy import ndimage

    rows, cols = np.flatnonzero(fill.any(axis=1)), np.flatnonzero(fill.any(axis=0))
    if not len(rows):
        return 0.0
    # Only the fill's box (and a window about it) is looked at.
    reach = GHOST_WINDOW
    box = (
        slice(max(0, rows[0] - reach), rows[-1] + reach + 1),
        slice(max(0, cols[0] - reach), cols[-1] + reach + 1),
    )
    source, result = view.source[box].astype(np.float32), view.result[box].astype(np.float32)
    fill = fill[box]
    grid = (slice(None, None, 3), slice(None, None, 3))
    outside = view.outside[grid]
    if outside.any():
        # A cast scales channels (warm: red up, blue down) and often lifts or lowers them too (a VAE's drift): undone
        # by the gain and offset per channel that best map the result onto the source outside the mask. A gain
        # alone left a warm, brighter frame's fill 6 levels off and read the background it showed as the object's.
        was, now = view.source[grid][outside].astype(np.float32), view.result[grid][outside].astype(np.float32)
        result = _undo_cast(result, was, now)
    window = (GHOST_WINDOW, GHOST_WINDOW, 1)
    moved = np.abs(ndimage.uniform_filter(result, window) - ndimage.uniform_filter(source, window)).sum(axis=2)
    fill = fill & (moved >= 3 * CHANGED_LEVELS)
    # Differences whose both ends lie in the fill: one reaching a pixel outside it (the same in source and result)
    # shares that pixel's term, which made a thin stroke's clean fill read as its wire's outline.
    fill = _around(fill, np.minimum, beyond=0).astype(bool)
    if view.scale < 1:
        # A reduced view's pixel on the object's edge mixes the object with what lay beyond it, which a perfect
        # fill shows: that pixel's difference to the next shared the background's grain, and a flat square lifted
        # off grass read as 17% of its outline still showing. One pixel further in, the source is the object alone.
        fill = _around(fill, np.minimum, beyond=0).astype(bool)
    if np.count_nonzero(fill) < MIN_FILL_PIXELS:
        return 0.0

    def gradient(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Central differences down and across, at the fill's pixels."""
        grey = np.pad(rgb @ LUMA, 1, mode="edge")
        return (grey[2:, 1:-1] - grey[:-2, 1:-1])[fill], (grey[1:-1, 2:] - grey[1:-1, :-2])[fill]

    (ry, rx), (sy, sx) = gradient(view.result[box].astype(np.float32)), gradient(source)
    shared = float(np.dot(ry, sy) + np.dot(rx, sx))
    source_energy = float(np.dot(sy, sy) + np.dot(sx, sx))
    result_energy = float(np.dot(ry, ry) + np.dot(rx, rx))
    if shared <= 0 or source_energy <= 0 or result_energy <= 0:
        return 0.0
    kept = shared / source_energy
    correlation = shared / np.sqrt(source_energy * result_energy)
    return float(min(1.0, kept) * min(1.0, correlation / 0.5))


@kind.check(
    "fill_matches_surroundings",
    FillSettings,
    needs=("source", "mask"),
    bands=Bands(1.5, 2.0, higher_is_better=False, measure="worst mismatch of the fill, as a multiple of its limit"),
    fix="Fill the masked region with a seamless continuation of the surrounding background: the same colours, "
    "texture, lighting and lines; leave no patch, smudge or blob, and add no new object.",
)
def fill_matches_surroundings(ctx: JudgeContext, s: FillSettings) -> Outcome:
    """The removal's fill (the repainted pixels inside the mask; what was left as it was is changed_in_mask's),
    judged against a ring around the mask in the source: typical texture (a flat patch or smear on a textured
    surface), detail (an object busier than its surroundings), the colour step at the mask's edge against the step
    the surroundings take over the same distance, colours found nowhere around it (in all, and as one solid area: a
    new object), the lines of a surface its median does not see (a brick wall's mortar), a seam in the mask's outer
    band, and the removed object's outlines still showing (a ghost). Graded on the worst as a multiple of its limit;
    a flat fill of a flat surround passes all."""
    frames = _frames(ctx)
    if reason := frames.empty_mask():
        return _no_region(reason)
    view = frames.around_mask
    if reason := frames.nothing_inside(view):
        return Outcome(True, None, 1.0, reason + frames.note())
    if not view.ring.any():
        return Outcome(True, None, None, "the mask leaves no surroundings to compare the fill with")
    # Only what was repainted is a fill; what was left as it was (or only softened by a resize) is changed_in_mask's.
    fill = view.inside & view.changed
    if (resized_away := frames.resized_away) is not None:
        fill &= ~resized_away
    if np.count_nonzero(fill) < max(MIN_FILL_PIXELS, MIN_FILL_SHARE * np.count_nonzero(view.inside)):
        return Outcome(True, 0.0, 1.0, "nothing inside the mask was repainted, so there is no fill to judge")
    m = fill_measures(view, fill)
    problems: list[tuple[float, str]] = [
        (
            s.min_texture_ratio / max(m.texture_ratio, 1e-6),
            f"the fill is a flat patch: {pct(m.texture_ratio)} of its surroundings' texture "
            f"(needs ≥ {pct(s.min_texture_ratio)})",
        ),
        (
            m.detail_ratio / s.max_detail_ratio,
            f"the fill is {number(m.detail_ratio)}× busier than its surroundings "
            f"(allowed {number(s.max_detail_ratio)}×): something new stands there",
        ),
        (
            m.seam_ratio / s.max_seam_ratio,
            f"the fill does not continue its surroundings at the mask's edge: a colour step {number(m.seam_ratio)}× "
            f"the surroundings' own (allowed {number(s.max_seam_ratio)}×; fill averages {m.fill_colour}, surroundings "
            f"{m.surround_colour})",
        ),
        (
            m.new_colours / s.max_new_colours,
            f"{pct(m.new_colours)} of the fill is in colours found nowhere around it (allowed "
            f"{pct(s.max_new_colours)}): a new object or a foreign patch",
        ),
        (
            s.min_structure_ratio / max(m.structure_ratio, 1e-6),
            f"the fill has lost the lines and edges of its surroundings (a smooth patch): it keeps "
            f"{pct(m.structure_ratio)} of them (needs ≥ {pct(s.min_structure_ratio)})",
        ),
        (
            m.new_object / s.max_new_object,
            f"a new object stands in the fill: one solid area of colours found nowhere around it covers "
            f"{pct(m.new_object)} of the repainted region (allowed {pct(s.max_new_object)})",
        ),
        (
            m.edge_new_colours / s.max_edge_new_colours,
            f"a seam outlines the mask: {pct(m.edge_new_colours)} of the fill's outer edge is in colours found "
            f"nowhere around it (allowed {pct(s.max_edge_new_colours)})",
        ),
        (
            m.edge_seam / s.max_edge_seam,
            f"a seam outlines the mask: a line along its edge steps {number(m.edge_seam)}× as far from the blend of "
            f"the fill into its surroundings as the surroundings' own lines do (allowed {number(s.max_edge_seam)}×)",
        ),
        (
            m.ghost / s.max_ghost,
            f"a ghost of the removed object is left: the fill still shows {pct(m.ghost)} of its outlines "
            f"(allowed {pct(s.max_ghost)})",
        ),
        (
            m.crossing_band / s.max_crossing_band,
            f"{m.crossing_band_what}, a line its surroundings do not have (it stands out "
            f"{number(round(m.crossing_band, 2))}× as far as the fill's rows may; allowed "
            f"{number(s.max_crossing_band)}×)",
        ),
        (
            m.flat_share / s.max_flat_share,
            f"a flat, untextured patch lies inside the fill: {pct(m.flat_share)} of it is smooth where its "
            f"surroundings are textured (allowed {pct(s.max_flat_share)})",
        ),
    ]
    if max(score for score, _ in problems) <= 1:
        # Asked only when nothing else is wrong: a flat or foreign patch is in uncommon colours too, and is better
        # named as what it is.
        problems.append(
            (
                m.uncommon_colours / s.max_uncommon_colours,
                f"a new object stands in the fill: {pct(m.uncommon_colours)} of it is in colours its surroundings "
                f"hold far less often (allowed {pct(s.max_uncommon_colours)})",
            )
        )
    mismatch = max(score for score, _ in problems)
    facts = {"fill_colour": m.fill_colour, "surround_colour": m.surround_colour}
    summary = (
        f"texture {pct(m.texture_ratio)} of the surroundings', edge step {number(m.seam_ratio)}×, "
        f"new colours {pct(m.new_colours)}"
    )
    if mismatch <= 1:
        return Outcome(
            True, round(mismatch, 3), 1.0, f"the fill matches its surroundings ({summary}){frames.note()}", facts=facts
        )
    failing = [text for score, text in sorted(problems, reverse=True) if score > 1]
    detail = "; ".join(failing) + frames.note()
    return Outcome(False, round(mismatch, 3), 1.0, detail, facts=facts)


class SubjectSettings(SimilaritySettings):
    max_delta_e: float = Field(
        10.0, gt=0, description="mean colour difference (CIE76 ΔE, lightly smoothed) inside the mask, at most"
    )
    max_eroded_outline: float = Field(
        0.4,
        ge=0,
        le=1,
        description="share of the subject's outline (the mask's pixels ERODED_DEPTH in from its edge) that was the "
        "subject in the source and now shows something else, at most: a subject cut back all round",
    )


#: The subject's outline is looked for this many source pixels inside the mask: a provider's soft, anti-aliased cut
#: changes the first pixel or two; a subject eroded by three pixels or more changes this one too.
ERODED_DEPTH = 3


def eroded_outline(frames: EditFrames) -> float:
    """The share of the mask's outline ERODED_DEPTH pixels in (at full size: the band the blend margin leaves out of
    the subject's measures) that was the subject in the source and was replaced: changed by more than
    SUBJECT_EDGE_DELTA_E, where the source's colour is unlike every old-background pixel just outside the mask near
    it (a mask drawn loosely round the subject holds old background there, which a provider rightly replaces)."""
    box = frames.mask_box
    if box is None:
        return 0.0
    pad = ERODED_DEPTH + 4
    left, top = max(0, box[0] - pad), max(0, box[1] - pad)
    right, bottom = min(frames.width, box[2] + pad), min(frames.height, box[3] + pad)
    covered = frames.mask_full[top:bottom, left:right] > MASK_MAJORITY
    deeper = covered
    for _ in range(ERODED_DEPTH - 1):
        deeper = _around(deeper, np.minimum)
    layer = deeper & ~_around(deeper, np.minimum)
    at = np.flatnonzero(layer)
    if not len(at):
        return 0.0
    source = frames.source_full[top:bottom, left:right].reshape(-1, 3)
    result = frames.result_full[top:bottom, left:right].reshape(-1, 3)
    was, now = lab(np.take(source, at, axis=0)), lab(np.take(result, at, axis=0))
    replaced = np.sqrt(np.einsum("ij,ij->i", was - now, was - now)) > SUBJECT_EDGE_DELTA_E
    if not replaced.any():
        return 0.0
    candidates, was = at[replaced], was[replaced]
    height, width = covered.shape
    rows, cols = np.divmod(candidates, width)
    outside = ~covered.ravel()
    like_background = np.zeros(len(candidates), dtype=bool)
    reach = ERODED_DEPTH + 2
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            y, x = np.clip(rows + dy, 0, height - 1), np.clip(cols + dx, 0, width - 1)
            neighbour = y * width + x
            out = np.take(outside, neighbour)
            if not out.any():
                continue
            offset = was[out] - lab(np.take(source, neighbour[out], axis=0))
            like_background[np.flatnonzero(out)[np.einsum("ij,ij->i", offset, offset) <= SUBJECT_EDGE_DELTA_E**2]] = (
                True
            )
    return float(np.count_nonzero(~like_background)) / len(at)


#: Severity bands of the subject's structure (SSIM inside the mask).
SUBJECT_SSIM_BANDS = Bands(0.8, 0.6, measure="SSIM inside the mask")
#: Severity of a colour change of the subject, on its mean ΔE: a tint a person may accept is mild; a clearly other
#: colour (red to orange-brown, ΔE ≈ 20) moderate; another hue or a washed-out subject (ΔE ≥ 30) severe.
SUBJECT_COLOUR_BANDS = Bands(20, 30, higher_is_better=False, measure="mean ΔE inside the mask")


def subject_colour_change(frames: EditFrames) -> tuple[float, str, str]:
    """Mean CIE76 ΔE between source and result inside the mask, after a light smoothing (so a softer edge moves it
    little and a hue or tint change a lot), with both mean colours. Measured on the view around the mask: colour
    is smooth, MASK_VIEW_SIDE sees it as well as the whole frame does."""
    view = frames.around_mask
    inside = np.flatnonzero(view.inside)
    offset = np.take(view.result_lab, inside, axis=0) - np.take(view.source_lab, inside, axis=0)
    delta_e = float(np.sqrt(np.einsum("ij,ij->i", offset, offset)).mean())
    was = _hex(np.take(view.source.reshape(-1, 3), inside, axis=0).mean(axis=0))
    now = _hex(np.take(view.result.reshape(-1, 3), inside, axis=0).mean(axis=0))
    return delta_e, was, now


@kind.check(
    "subject_preserved",
    SubjectSettings,
    needs=("source", "mask"),
    bands=SUBJECT_SSIM_BANDS,
    fix="Keep the subject inside the mask exactly as it was: same shape, texture, details and colours"
    "{% if facts.source_colour %} (it averages {{ facts.source_colour }}){% endif %}; do not recolour, tint, "
    "blur or redraw it.",
)
def subject_preserved(ctx: JudgeContext, s: SubjectSettings) -> Outcome:
    """The subject keeps its structure (SSIM on luminance, graded on the check's bands) and its colours (mean ΔE in
    Lab: SSIM does not see a red cup turned blue; severity from SUBJECT_COLOUR_BANDS)."""
    structure = _preserved(ctx, s, inside=True, what="the subject inside the mask", lost="was altered or destroyed")
    frames = _frames(ctx)
    if frames.empty_mask() or frames.nothing_inside(frames.around_mask):
        return structure
    delta_e, was, now = subject_colour_change(frames)
    facts = {"source_colour": was, "result_colour": now}
    if delta_e <= s.max_delta_e and structure.passed:
        # The inside measures leave out the blend margin, where a subject cut back all round loses its edge.
        eroded = eroded_outline(frames)
        if eroded > s.max_eroded_outline:
            detail = (
                f"the subject's outline was cut back: {pct(eroded)} of its edge ({ERODED_DEPTH} px inside the mask) "
                f"now shows the new background instead of the subject (allowed {pct(s.max_eroded_outline)})"
            )
            return Outcome(False, round(eroded, 4), s.max_eroded_outline, detail, severity="moderate", facts=facts)
    if delta_e <= s.max_delta_e:
        detail = structure.detail + f"; colours kept (mean ΔE {number(round(delta_e, 2))})"
        return Outcome(structure.passed, structure.measured, structure.threshold, detail, facts=facts)
    colour = (
        f"the subject's colours changed: mean ΔE {number(round(delta_e, 2))} (allowed {number(s.max_delta_e)}); it "
        f"averages {now}, was {was}"
    )
    colour_severity = SUBJECT_COLOUR_BANDS.grade(delta_e)
    if structure.passed:
        return Outcome(False, round(delta_e, 2), s.max_delta_e, colour, severity=colour_severity, facts=facts)
    # Both failed: the worse of the two severities, so a blurred and recoloured subject is not graded on one alone.
    order = ("mild", "moderate", "severe")
    structure_severity = SUBJECT_SSIM_BANDS.grade(float(structure.measured or 0.0))
    severity = max(structure_severity, colour_severity, key=order.index)
    detail = f"{structure.detail}; {colour}"
    return Outcome(False, structure.measured, structure.threshold, detail, severity=severity, facts=facts)


class BackgroundChangeSettings(ChangeSettings):
    max_left_behind: float = Field(
        0.2,
        ge=0,
        le=1,
        description="share of the background left as it was (and not already the requested colour), at most",
    )
    max_left_near_subject: float = Field(
        0.25,
        ge=0,
        le=1,
        description="share of the band next to the subject (outside the mask) left as it was (and not already the "
        "requested colour), at most: a ring of the old background",
    )
    max_old_outline: float = Field(
        0.75,
        ge=0,
        le=1,
        description="share of the subject's outline (the pixels just outside the mask) left as the old background, "
        "in colours other than the subject's edge beside them, at most: a thin ring, too thin for a share of the "
        "band to fail, around most of the subject (a provider's soft matting that leaves a few pixels along part of "
        "it passes)",
    )
    color_param: str = "color"
    max_distance: float = Field(40.0, ge=0, le=442, description="RGB distance still counted as the requested colour")


#: A pixel of the outline left as it was is the subject's own (a mask drawn a little inside the subject) when its
#: colour lies within this ΔE of the subject's edge beside it, and the old background otherwise.
SUBJECT_EDGE_DELTA_E = 15.0


#: The subject's outline is looked at this many source pixels out from the mask: the first pixel beside it may be
#: a soft, anti-aliased edge of old background a person does not see; a ring of two pixels or more reaches here.
OUTLINE_DISTANCE = 2


def old_background_outline(frames: EditFrames, wanted: str, max_distance: float) -> float:
    """The share of the subject's outline (the source pixels OUTLINE_DISTANCE out from the mask, at full size: a
    ring a few pixels wide is a pixel or less at the analysis size) left as the old background: unchanged, not
    already the requested colour, and not the colour of the subject's edge beside it in the source (a mask drawn
    inside the subject leaves the subject's own rim there, which is no ring). A ring of the old background two
    or three pixels wide covers the whole outline however thin it is; a clean or soft cut covers none."""
    box = frames.mask_box
    if box is None:
        return 0.0
    pad = OUTLINE_DISTANCE + 2
    left, top = max(0, box[0] - pad), max(0, box[1] - pad)
    right, bottom = min(frames.width, box[2] + pad), min(frames.height, box[3] + pad)
    covered = frames.mask_full[top:bottom, left:right] > MASK_MAJORITY
    source = frames.source_full[top:bottom, left:right]
    result = frames.result_full[top:bottom, left:right]
    near = covered
    for _ in range(OUTLINE_DISTANCE - 1):
        near = _around(near, np.maximum)
    outline = _around(near, np.maximum) & ~near
    at = np.flatnonzero(outline)
    total = len(at)
    if not total:
        return 0.0
    height, width = covered.shape
    flat_source, flat_result = source.reshape(-1, 3), result.reshape(-1, 3)
    was, now = np.take(flat_source, at, axis=0), np.take(flat_result, at, axis=0)
    kept = (np.maximum(was, now) - np.minimum(was, now)).sum(axis=1, dtype=np.uint16) < 3 * CHANGED_LEVELS
    if wanted:
        kept &= _distance_squared(now, wanted) > max_distance**2
    if not kept.any():
        return 0.0
    at, now = at[kept], now[kept]
    # The subject's edge beside each kept pixel: the mean source colour of the mask's pixels within reach of it.
    rows, cols = np.divmod(at, width)
    flat_covered = covered.ravel()
    sums, count = np.zeros((len(at), 3), dtype=np.float32), np.zeros(len(at), dtype=np.float32)
    for dy in range(-OUTLINE_DISTANCE, OUTLINE_DISTANCE + 1):
        for dx in range(-OUTLINE_DISTANCE, OUTLINE_DISTANCE + 1):
            y, x = np.clip(rows + dy, 0, height - 1), np.clip(cols + dx, 0, width - 1)
            neighbour = y * width + x
            inside = np.take(flat_covered, neighbour)
            sums[inside] += np.take(flat_source, neighbour[inside], axis=0)
            count[inside] += 1
    edge = (sums / np.maximum(count, 1)[:, None] + 0.5).astype(np.uint8)
    offset = lab(now) - lab(edge)
    unlike = np.sqrt(np.einsum("ij,ij->i", offset, offset)) > SUBJECT_EDGE_DELTA_E
    return float(np.count_nonzero(unlike)) / total


#: Severity of a partly replaced background by the share of it left as it was.
BACKGROUND_LEFT_BANDS = Bands(0.3, 0.45, higher_is_better=False, measure="share of the background left as it was")
#: Severity of old background left next to the subject, by its share of the band there: a ring that fails
#: (max_left_near_subject, a quarter of the band) is at least moderate, one all around (half the band) severe.
HALO_BANDS = Bands(0.0, 0.5, higher_is_better=False, measure="share of the band next to the subject left as it was")


@kind.check(
    "background_changed",
    BackgroundChangeSettings,
    needs=("source", "mask"),
    bands=Bands(8.5, 7, measure="mean change outside the mask, levels"),
    fix="Replace the whole background around the subject, edge to edge{% if params.color %}, with a flat "
    "{{ params.color }}{% endif %}.",
)
def background_changed(ctx: JudgeContext, s: BackgroundChangeSettings) -> Outcome:
    """The background was replaced: it changed on average, and no large part of it was left as it was (unless that
    part already has the requested colour)."""
    outcome = _changed(ctx, s, inside=False, what="the background", unchanged="was not replaced")
    if not outcome.passed:
        return outcome
    view = _frames(ctx).whole
    # A share of the whole frame: every other row and column estimates it to well under a percent, at a quarter of
    # the cost.
    grid = (slice(None, None, 2), slice(None, None, 2))
    result, outside = view.result[grid], view.outside[grid]
    left = outside & ~view.changed[grid]
    wanted = str(ctx.params.get(s.color_param) or "")
    if wanted:
        left &= _distance_squared(result, wanted) > s.max_distance**2
    share = float(np.count_nonzero(left)) / max(1, int(np.count_nonzero(outside)))
    if share > s.max_left_behind:
        detail = (
            f"the background was only partly replaced: {pct(share)} of it was left as it was "
            f"(allowed {pct(s.max_left_behind)})"
        )
        return Outcome(False, round(share, 4), s.max_left_behind, detail, severity=BACKGROUND_LEFT_BANDS.grade(share))
    # The band hugging the subject, which the share above leaves out with the blend margin: where a careless
    # cut-out leaves a ring of the old background (a halo), too thin to weigh in the whole background's share.
    ring = view.subject_band
    kept = ring & ~view.changed
    if wanted:
        kept &= _distance_squared(view.result, wanted) > s.max_distance**2
    halo = float(np.count_nonzero(kept)) / max(1, int(np.count_nonzero(ring)))
    if halo <= s.max_left_near_subject:
        # A ring too thin to fill a quarter of the band (three pixels of a twelve pixel band) still outlines the
        # whole subject: the pixels touching the mask are where it shows.
        outline = old_background_outline(_frames(ctx), wanted, s.max_distance)
        if outline <= s.max_old_outline:
            return outcome
        detail = (
            f"a thin ring of the old background is left around the subject: {pct(outline)} of its outline "
            f"({OUTLINE_DISTANCE} px outside the mask) was left as it was (allowed {pct(s.max_old_outline)})"
        )
        return Outcome(False, round(outline, 4), s.max_old_outline, detail, severity="moderate")
    width = round(view.full_margin / view.scale)
    detail = (
        f"a ring of the old background is left around the subject: {pct(halo)} of the {width} px band next to it "
        f"was left as it was (allowed {pct(s.max_left_near_subject)})"
    )
    return Outcome(False, round(halo, 4), s.max_left_near_subject, detail, severity=HALO_BANDS.grade(halo))


def _distance_squared(rgb: np.ndarray, colour: str) -> np.ndarray:
    """Squared RGB distance of every pixel to a colour the caller named (CSS name, hex or rgb())."""
    offset = rgb.astype(np.int32) - np.array(ImageColor.getrgb(colour)[:3], dtype=np.int32)
    return np.einsum("...k,...k->...", offset, offset)


class BackgroundColorSettings(CheckSettings):
    color_param: str = "color"
    max_distance: float = Field(40.0, ge=0, le=442, description="RGB distance still counted as the colour")
    min_fraction: float = Field(0.90, gt=0, le=1, description="share of the background that must match")


@kind.check(
    "background_color",
    BackgroundColorSettings,
    needs=("source", "mask"),
    bands=Bands(0.7, 0.4, measure="share of the background in the requested colour"),
    fix="Make the entire background one flat {{ params.color }}, edge to edge.",
)
def background_color(ctx: JudgeContext, s: BackgroundColorSettings) -> Outcome:
    wanted = ctx.params.get(s.color_param)
    if not wanted:
        return Outcome(True, None, None, "no background colour was requested")
    frames = _frames(ctx)
    if reason := frames.empty_mask():
        return _no_region(reason)
    target = np.array(ImageColor.getrgb(str(wanted))[:3], dtype=np.int32)
    outside = frames.whole.outside
    # A share: on a large frame every other row and column estimates it to well under a percent, at a quarter of
    # the cost.
    grid = (slice(None, None, 2), slice(None, None, 2)) if outside.size > 65536 else (slice(None), slice(None))
    background = frames.whole.result[grid][outside[grid]]
    # Squared distances in integers: no float copy of the background, no square root per pixel.
    offset = background.astype(np.int32) - target
    matching = float((np.einsum("ij,ij->i", offset, offset) <= s.max_distance**2).mean())
    if matching >= s.min_fraction:
        return Outcome(True, round(matching, 4), s.min_fraction, f"background is {pct(matching)} {wanted}")
    mean_colour = _hex(background.mean(axis=0))
    detail = f"background is only {pct(matching)} {wanted} (needs {pct(s.min_fraction)}); it averages {mean_colour}"
    return Outcome(False, round(matching, 4), s.min_fraction, detail, facts={"colour": mean_colour})


class ResultSizeSettings(CheckSettings):
    min_scale: float = Field(
        0.5, gt=0, le=1, description="the result's width and height as a share of the source's, at least"
    )
    aspect_tolerance: float = Field(0.02, ge=0, le=1, description="allowed relative aspect-ratio difference")


@kind.check(
    "result_size",
    ResultSizeSettings,
    needs=("source",),
    bands=Bands(0.4, 0.3, measure="the result's linear size as a share of the source's"),
    fix="Return the edited image at the source's full size and framing{% if facts.source_size %} "
    "({{ facts.source_size }}){% endif %}, not a smaller or re-cropped copy.",
)
def result_size(ctx: JudgeContext, s: ResultSizeSettings) -> Outcome:
    """The result at the source's size: a little smaller with the same aspect is resized to compare; far smaller
    (detail the customer paid for is gone) or another aspect (the mask no longer lines up) fails."""
    source = ctx.require("source").decode()
    result = ctx.decoded
    want, got = f"{source.width}×{source.height}", f"{result.width}×{result.height}"
    facts = {"source_size": want, "result_size": got}
    aspect, want_aspect = result.width / result.height, source.width / source.height
    difference = abs(aspect - want_aspect) / want_aspect
    if difference > s.aspect_tolerance:
        severity = "severe" if difference >= 0.15 else ("moderate" if difference >= 0.05 else "mild")
        detail = (
            f"result is {got}, source is {want}: the aspect ratio differs by {pct(difference)} (allowed "
            f"{pct(s.aspect_tolerance)}), so the edit does not line up with the source and its mask"
        )
        return Outcome(False, got, want, detail, severity=severity, facts=facts)
    scale = min(result.width / source.width, result.height / source.height)
    if scale >= s.min_scale:
        detail = f"result is {got}" + (" like the source" if got == want else f", source {want}: same aspect ratio")
        return Outcome(True, got, want, detail, graded=round(scale, 4), facts=facts)
    detail = (
        f"result is {got}, only {pct(scale)} of the source's {want} on each side (needs ≥ {pct(s.min_scale)}): "
        "the edit lost the source's resolution"
    )
    return Outcome(False, got, want, detail, graded=round(scale, 4), facts=facts)
