"""The ``pixels`` judge: decodes, not blank, size and aspect, sharpness, exposure."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sentinel.errors import BadImage
from sentinel.evaluation.judges.base import Bands, CheckSettings, JudgeContext, JudgeKind, Outcome, pct

kind = JudgeKind("pixels", "Decoding, blank or uniform images, size and aspect, blur, exposure.")


@kind.check("decodes", fix="Deliver a complete, undamaged image file.")
def decodes(ctx: JudgeContext, _: CheckSettings) -> Outcome:
    try:
        decoded = ctx.decoded
    except BadImage as exc:
        return Outcome(False, "undecodable", "decodes", exc.message, severity="severe")
    kind_name = ctx.image.mime.split("/")[-1].upper()
    return Outcome(True, f"{kind_name} {decoded.width}×{decoded.height}", "decodes", "image decodes")


class NotBlankSettings(CheckSettings):
    min_stddev: float = Field(4.0, ge=0, description="minimum luminance standard deviation (0-255)")
    max_dominant_fraction: float = Field(0.98, gt=0, le=1, description="share of pixels allowed near one value")
    dominant_tolerance: int = Field(6, ge=0, le=64, description="levels around the median counted as 'near'")


@kind.check(
    "not_blank",
    NotBlankSettings,
    fix="Render the complete scene with visible content; the previous image was blank or one flat colour.",
)
def not_blank(ctx: JudgeContext, s: NotBlankSettings) -> Outcome:
    gray = _thumbnail_gray(ctx)
    std = float(gray.std())
    median = float(np.median(gray))
    dominant = float(np.mean(np.abs(gray - median) <= s.dominant_tolerance))
    if std < s.min_stddev:
        detail = f"image is blank or near-uniform: luminance varies by {std:.1f} (needs ≥ {s.min_stddev:g})"
        return Outcome(False, round(std, 2), s.min_stddev, detail, severity="severe")
    if dominant > s.max_dominant_fraction:
        detail = (
            f"image is near-uniform: {pct(dominant)} of pixels are within ±{s.dominant_tolerance} of one "
            f"value (allowed {pct(s.max_dominant_fraction)})"
        )
        return Outcome(False, round(dominant, 4), s.max_dominant_fraction, detail, severity="severe")
    return Outcome(True, round(std, 2), s.min_stddev, f"image has content (luminance varies by {std:.1f})")


class SizeSettings(CheckSettings):
    aspect_tolerance: float = Field(0.02, ge=0, le=1, description="allowed relative aspect-ratio difference")
    width_param: str = "width"
    height_param: str = "height"


@kind.check(
    "size",
    SizeSettings,
    bands=Bands(0.05, 0.15, higher_is_better=False, measure="relative difference from the requested aspect ratio"),
    fix="Compose the picture for a {{ params.width }}×{{ params.height }} frame and fill it edge to edge.",
)
def size(ctx: JudgeContext, s: SizeSettings) -> Outcome:
    decoded = ctx.decoded
    width, height = decoded.width, decoded.height
    want_w, want_h = ctx.params.get(s.width_param), ctx.params.get(s.height_param)
    actual = f"{width}×{height}"
    if want_w is None and want_h is None:
        return Outcome(True, actual, None, f"image is {actual}; no size was requested")
    if want_w is None or want_h is None:
        side, want, got = ("width", want_w, width) if want_w is not None else ("height", want_h, height)
        if want == got:
            return Outcome(True, actual, f"{side} {want}", f"image {side} is {got} as requested")
        return Outcome(False, actual, f"{side} {want}", f"image {side} is {got}; requested {want}")
    requested = f"{want_w}×{want_h}"
    if (width, height) == (want_w, want_h):
        return Outcome(True, actual, requested, f"image is {actual} as requested")
    aspect, want_aspect = width / height, want_w / want_h
    difference = abs(aspect - want_aspect) / want_aspect
    if difference <= s.aspect_tolerance:
        detail = f"image is {actual}, not {requested}, but its aspect ratio matches ({pct(difference)} off)"
        return Outcome(True, actual, requested, detail)
    detail = (
        f"image is {actual} (aspect {aspect:.3f}); requested {requested} (aspect {want_aspect:.3f}): "
        f"{pct(difference)} off, allowed {pct(s.aspect_tolerance)}"
    )
    return Outcome(False, actual, requested, detail, graded=difference)


class MinSizeSettings(CheckSettings):
    min_longest_side: int = Field(1000, ge=1, le=20000)


@kind.check(
    "min_size",
    MinSizeSettings,
    bands=Bands(0.8, 0.5, measure="longest side as a share of the minimum"),
    fix="Deliver the image at least {{ settings.min_longest_side }} px on its longest side.",
)
def min_size(ctx: JudgeContext, s: MinSizeSettings) -> Outcome:
    decoded = ctx.decoded
    longest = max(decoded.width, decoded.height)
    ok = longest >= s.min_longest_side
    verdict = "meets" if ok else "is below"
    detail = f"longest side is {longest} px, {verdict} the {s.min_longest_side} px minimum"
    return Outcome(ok, longest, s.min_longest_side, detail, graded=longest / s.min_longest_side)


class SharpSettings(CheckSettings):
    min_sharpness: float = Field(60.0, ge=0, description="Laplacian variance of the most detailed tiles")
    analysis_side: int = Field(1024, ge=128, le=4096, description="longest side the image is analysed at")


def sharpness(gray: np.ndarray) -> float:
    """Laplacian variance of the most detailed tenth of 32×32 tiles.

    Scoring the detailed tiles rather than the whole frame keeps a sharp product on a
    plain white background from reading as blurred.
    """
    lap = 4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]
    tile = 32
    rows, cols = lap.shape[0] // tile, lap.shape[1] // tile
    if rows == 0 or cols == 0:
        return float(lap.var())
    tiles = lap[: rows * tile, : cols * tile].reshape(rows, tile, cols, tile).var(axis=(1, 3)).ravel()
    top = np.sort(tiles)[-max(1, tiles.size // 10) :]
    return float(top.mean())


def _thumbnail_gray(ctx: JudgeContext, side: int = 1024) -> np.ndarray:
    def compute() -> np.ndarray:
        gray = ctx.decoded.gray
        step = max(1, int(np.ceil(max(gray.shape) / side)))
        if step == 1:
            return gray
        # Box-average down to the analysis size: cheap, and it does not invent sharpness.
        h, w = (gray.shape[0] // step) * step, (gray.shape[1] // step) * step
        return gray[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))

    return ctx.memo(f"gray@{side}", compute)


@kind.check(
    "sharp",
    SharpSettings,
    bands=Bands(0.5, 0.2, measure="detail score as a share of the minimum"),
    fix="Keep the subject in sharp focus with crisp fine detail; no blur or smearing.",
)
def sharp(ctx: JudgeContext, s: SharpSettings) -> Outcome:
    score = sharpness(_thumbnail_gray(ctx, s.analysis_side))
    if score >= s.min_sharpness:
        return Outcome(True, round(score, 1), s.min_sharpness, f"image is sharp (detail score {score:.0f})")
    detail = f"image looks blurred: detail score {score:.0f} (needs ≥ {s.min_sharpness:g})"
    return Outcome(False, round(score, 1), s.min_sharpness, detail, graded=score / max(s.min_sharpness, 1e-9))


class ExposureSettings(CheckSettings):
    min_mean: float = Field(25.0, ge=0, le=255)
    max_mean: float = Field(235.0, ge=0, le=255)
    max_clipped_fraction: float = Field(0.5, ge=0, le=1, description="share of pixels crushed black or blown white")


@kind.check(
    "exposure",
    ExposureSettings,
    fix="Use balanced, natural exposure: {% if facts.too == 'dark' %}brighten the scene so its shadows show detail"
    "{% else %}tone down the highlights so bright areas keep their detail{% endif %}.",
)
def exposure(ctx: JudgeContext, s: ExposureSettings) -> Outcome:
    gray = _thumbnail_gray(ctx)
    mean = float(gray.mean())
    crushed = float(np.mean(gray <= 5))
    blown = float(np.mean(gray >= 250))
    bounds = f"{s.min_mean:g}–{s.max_mean:g}"
    if mean < s.min_mean:
        severity = "severe" if mean < s.min_mean / 2 else "moderate"
        detail = f"image is too dark: mean brightness {mean:.0f} (needs {bounds})"
        return Outcome(False, round(mean, 1), bounds, detail, severity=severity, facts={"too": "dark"})
    if mean > s.max_mean:
        severity = "severe" if mean > (s.max_mean + 255) / 2 else "moderate"
        detail = f"image is washed out: mean brightness {mean:.0f} (needs {bounds})"
        return Outcome(False, round(mean, 1), bounds, detail, severity=severity, facts={"too": "bright"})
    if crushed > s.max_clipped_fraction:
        detail = f"{pct(crushed)} of the image is crushed to black (allowed {pct(s.max_clipped_fraction)})"
        return Outcome(False, round(crushed, 4), s.max_clipped_fraction, detail, facts={"too": "dark"})
    if blown > s.max_clipped_fraction:
        detail = f"{pct(blown)} of the image is blown out to white (allowed {pct(s.max_clipped_fraction)})"
        return Outcome(False, round(blown, 4), s.max_clipped_fraction, detail, facts={"too": "bright"})
    return Outcome(True, round(mean, 1), bounds, f"exposure is fine (mean brightness {mean:.0f})")
