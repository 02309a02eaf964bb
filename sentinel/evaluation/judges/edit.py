"""The ``edit`` judge: compares an edited image with its source under a mask (SSIM, pixel change)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageColor
from pydantic import Field

from sentinel.evaluation.judges.base import LUMA, Bands, CheckSettings, JudgeContext, JudgeKind, Outcome, pct

kind = JudgeKind("edit", "Masked edits: what had to change changed, what had to stay stayed.")

#: SSIM is computed at this longest side at most; beyond it the cost grows and the verdict does not (SSIM's
#: authors downsample to about 256 px on the short side; the labelled edit cases, scaled to 1024, get the same
#: verdicts at 512 as at 768).
ANALYSIS_SIDE = 512
#: Pixels this close to the mask edge are left out of both regions: edits blend across the boundary.
EDGE_MARGIN_FRACTION = 0.015


class EditFrames:
    """Source, result and mask brought to one size, with the regions the checks compare."""

    def __init__(self, ctx: JudgeContext) -> None:
        source = ctx.require("source").decode().rgb
        result = ctx.decoded.rgb
        height, width = source.shape[:2]
        self.resized_result = result.shape[:2] != (height, width)
        scale = min(1.0, ANALYSIS_SIDE / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        self.source = _resize(source, size)
        self.result = _resize(result, size)
        # Nearest-neighbour picks mask pixels, so their luminance is taken after the resize, on fewer of them.
        mask = _resize(ctx.require("mask").decode().rgb, size, Image.Resampling.NEAREST)
        self.mask = (mask.astype(np.float32) @ LUMA).astype(np.uint8) > 127
        # Imported here: scipy and scikit-image cost ~0.3 s of start-up that tasks without edits never need.
        from scipy import ndimage

        margin = max(1, round(max(size) * EDGE_MARGIN_FRACTION))
        self.inside = ndimage.binary_erosion(self.mask, iterations=margin)
        self.outside = ~ndimage.binary_dilation(self.mask, iterations=margin)
        self._ssim: np.ndarray | None = None
        self._change: np.ndarray | None = None

    @property
    def ssim_map(self) -> np.ndarray:
        if self._ssim is None:
            from skimage.metrics import structural_similarity

            src = self.source.astype(np.float32) @ LUMA
            res = self.result.astype(np.float32) @ LUMA
            _, self._ssim = structural_similarity(src, res, data_range=255.0, full=True)
        return self._ssim

    def mean_ssim(self, region: np.ndarray) -> float | None:
        return float(self.ssim_map[region].mean()) if region.any() else None

    @property
    def change_map(self) -> np.ndarray:
        """Absolute change per pixel, summed over the three channels (exact, in uint8 and uint16)."""
        if self._change is None:
            change = np.maximum(self.source, self.result) - np.minimum(self.source, self.result)
            self._change = change.sum(axis=2, dtype=np.uint16)
        return self._change

    def mean_change(self, region: np.ndarray) -> float | None:
        """Mean absolute change per channel, 0-255."""
        count = int(np.count_nonzero(region))
        if not count:
            return None
        return float(self.change_map[region].sum(dtype=np.int64)) / (3 * count)

    def note(self) -> str:
        return " (result was resized to the source's size to compare)" if self.resized_result else ""


def _resize(
    rgb: np.ndarray, size: tuple[int, int], resample: Image.Resampling = Image.Resampling.BILINEAR
) -> np.ndarray:
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    # reducing_gap: an integer part of the scale (1024 → 512) is a box average first, several times faster.
    return np.asarray(Image.fromarray(rgb).resize(size, resample, reducing_gap=1.0))


def _frames(ctx: JudgeContext) -> EditFrames:
    return ctx.memo("edit-frames", lambda: EditFrames(ctx))


def _empty_region(what: str) -> Outcome:
    return Outcome(False, None, None, f"the mask leaves no {what} to compare; check that white marks the region")


class SimilaritySettings(CheckSettings):
    min_ssim: float = Field(0.90, ge=-1, le=1, description="mean structural similarity required")


class ChangeSettings(CheckSettings):
    min_change: float = Field(10.0, ge=0, le=255, description="mean absolute change per channel, 0-255")


def _preserved(ctx: JudgeContext, s: SimilaritySettings, inside: bool, what: str, lost: str) -> Outcome:
    """A region that must look as it did: mean SSIM against the source."""
    frames = _frames(ctx)
    ssim = frames.mean_ssim(frames.inside if inside else frames.outside)
    if ssim is None:
        return _empty_region(what)
    ok = ssim >= s.min_ssim
    state = "is preserved" if ok else lost
    detail = f"{what} {state}: SSIM {ssim:.3f} (needs ≥ {s.min_ssim:.2f}){frames.note()}"
    return Outcome(ok, round(ssim, 4), s.min_ssim, detail)


def _changed(ctx: JudgeContext, s: ChangeSettings, inside: bool, what: str, unchanged: str) -> Outcome:
    """A region that must differ from the source: mean absolute change per channel."""
    frames = _frames(ctx)
    change = frames.mean_change(frames.inside if inside else frames.outside)
    if change is None:
        return _empty_region(what)
    ok = change >= s.min_change
    if ok:
        detail = f"{what} changed (mean change {change:.1f} levels){frames.note()}"
    else:
        detail = f"{what} {unchanged}: mean change {change:.1f} levels (needs ≥ {s.min_change:g}){frames.note()}"
    return Outcome(ok, round(change, 2), s.min_change, detail)


@kind.check(
    "preserved_outside_mask",
    SimilaritySettings,
    needs=("source", "mask"),
    bands=Bands(0.8, 0.65, measure="SSIM outside the mask"),
    fix="Leave everything outside the masked region exactly as it was: same framing, colours, sharpness and details.",
)
def preserved_outside_mask(ctx: JudgeContext, s: SimilaritySettings) -> Outcome:
    return _preserved(ctx, s, inside=False, what="outside the mask the image", lost="was altered")


@kind.check(
    "changed_in_mask",
    ChangeSettings,
    needs=("source", "mask"),
    bands=Bands(6, 3, measure="mean change inside the mask, levels"),
    fix="Remove the object inside the masked region completely and fill the area with the background around it.",
)
def changed_in_mask(ctx: JudgeContext, s: ChangeSettings) -> Outcome:
    return _changed(
        ctx, s, inside=True, what="the masked region", unchanged="is essentially unchanged (the object is still there)"
    )


@kind.check(
    "subject_preserved",
    SimilaritySettings,
    needs=("source", "mask"),
    bands=Bands(0.8, 0.6, measure="SSIM inside the mask"),
    fix="Keep the subject inside the mask exactly as it was: same shape, colours, texture and details.",
)
def subject_preserved(ctx: JudgeContext, s: SimilaritySettings) -> Outcome:
    return _preserved(ctx, s, inside=True, what="the subject inside the mask", lost="was altered or destroyed")


@kind.check(
    "background_changed",
    ChangeSettings,
    needs=("source", "mask"),
    bands=Bands(6, 3, measure="mean change outside the mask, levels"),
    fix="Replace the whole background around the subject{% if params.color %} with a flat {{ params.color }}"
    "{% endif %}.",
)
def background_changed(ctx: JudgeContext, s: ChangeSettings) -> Outcome:
    return _changed(ctx, s, inside=False, what="the background", unchanged="was not replaced")


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
    if not frames.outside.any():
        return _empty_region("background outside the mask")
    target = np.array(ImageColor.getrgb(str(wanted))[:3], dtype=np.int32)
    background = frames.result[frames.outside]
    # Squared distances in integers: no float copy of the background, no square root per pixel.
    offset = background.astype(np.int32) - target
    matching = float((np.einsum("ij,ij->i", offset, offset) <= s.max_distance**2).mean())
    if matching >= s.min_fraction:
        return Outcome(True, round(matching, 4), s.min_fraction, f"background is {pct(matching)} {wanted}")
    mean_colour = "#" + "".join(f"{int(c):02x}" for c in background.mean(axis=0))
    detail = f"background is only {pct(matching)} {wanted} (needs {pct(s.min_fraction)}); it averages {mean_colour}"
    return Outcome(False, round(matching, 4), s.min_fraction, detail, facts={"colour": mean_colour})
