"""The ``pixels`` judge: decodes, not blank, size and aspect, sharpness, exposure, and defects customers reject
(noise, JPEG blocking, banding, bars and frames, cut-off generations, tiling and seams, a picture broken into flat
blocks or streaks, a tiny picture blown up into square pixels, a colour cast over the whole picture); the measures
live in ``pixel_measures``."""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, replace

import numpy as np
from pydantic import Field

from sentinel.errors import BadImage
from sentinel.evaluation.judges import pixel_measures as measures
from sentinel.evaluation.judges.base import (
    Bands,
    CheckSettings,
    ImageSource,
    JudgeContext,
    JudgeKind,
    Outcome,
    pct,
)
from sentinel.evaluation.numbers import number

kind = JudgeKind(
    "pixels",
    "Decoding, blank or uniform images, size and aspect, blur, exposure, noise, JPEG blocking, banding, "
    "bars and frames, cut-off generations, tiling and seams, broken blocks and streaks, pixelation, a colour cast "
    "over the whole picture.",
)


@kind.check("decodes", fix="Deliver a complete, undamaged image file.")
def decodes(ctx: JudgeContext, _: CheckSettings) -> Outcome:
    try:
        decoded = ctx.decoded
    except BadImage as exc:
        return Outcome(False, "undecodable", "decodes", exc.message, severity="severe")
    kind_name = ctx.image.mime.split("/")[-1].upper()
    return Outcome(True, f"{kind_name} {decoded.width}×{decoded.height}", "decodes", "image decodes")


class NotBlankSettings(CheckSettings):
    min_stddev: float = Field(
        4.0,
        ge=0,
        description="minimum standard deviation (0-255) of the luminance, or of the colour apart from it (chroma)",
    )
    # A minimalist picture (a small subject on a flat sky) is mostly one value by design: only an image that is
    # all but entirely one value is blank.
    max_dominant_fraction: float = Field(0.995, gt=0, le=1, description="share of pixels allowed near one value")
    dominant_tolerance: int = Field(6, ge=0, le=64, description="levels around the median counted as 'near'")


#: Widest luminance difference two pixels can have (a little over 255: the luminance weights add up to a little
#: over 1 in float32).
GRAY_RANGE = 256.0


def near_share(gray: np.ndarray, value: float, tolerance: float) -> float:
    """Share of ``gray`` (float32) within ``tolerance`` of ``value``: |gray - value| in float32, as numpy computes
    it, counted without numpy's float64 mean of a boolean array (ten times the time)."""
    import cv2

    return np.count_nonzero(cv2.absdiff(gray, value) <= tolerance) / gray.size


@kind.check(
    "not_blank",
    NotBlankSettings,
    fix="Render the complete scene with visible content; the previous image was blank or one flat colour.",
)
def not_blank(ctx: JudgeContext, s: NotBlankSettings) -> Outcome:
    gray = _thumbnail_gray(ctx)
    spread = float(gray.std())
    std = round(spread, 2)
    # The share near the median is looked for only where it could pass the limit (the median costs most of this
    # check's time): where that share of pixels lies within the tolerance of one value, the rest at most a whole
    # range away, the luminance cannot vary more than this.
    most_varied = s.dominant_tolerance**2 + (1 - s.max_dominant_fraction) * GRAY_RANGE**2
    dominant = 0.0
    if spread**2 <= 1.001 * most_varied:
        dominant = near_share(gray, float(np.median(gray)), s.dominant_tolerance)
    if std >= s.min_stddev and dominant <= s.max_dominant_fraction:
        return Outcome(True, std, s.min_stddev, f"image has content (luminance varies by {number(std)})")
    # Colours of one brightness (red letters on a green sign, a red ball on a green lawn) are one flat luminance:
    # only an image flat in colour too is blank. Read only here, for the few images whose luminance is flat.
    colour = _chroma(ctx)
    tolerance = s.dominant_tolerance
    if (
        colour.spread >= s.min_stddev
        and ctx.memo(f"near-one-colour@{tolerance}", lambda: measures.near_one_colour(ctx.decoded.rgb, tolerance))
        <= s.max_dominant_fraction
    ):
        detail = (
            f"image has content: its colours vary by {number(colour.spread)} though its luminance varies by only "
            f"{number(std)}"
        )
        return Outcome(True, colour.spread, s.min_stddev, detail)
    # A line of small text on a plain sign, a small logo on white, a thin line drawing: one flat value all but a
    # few pixels of strong contrast, which the spread and the near-median share cannot tell from a blank frame.
    subject = measures.small_subject(ctx.decoded.rgb)
    if subject.found:
        detail = (
            f"image has a small subject on a plain ground: {pct(subject.share)} of it stands out from the ground "
            f"across {pct(subject.span)} of its width or height (luminance varies by {number(std)})"
        )
        return Outcome(True, std, s.min_stddev, detail)
    if std < s.min_stddev:
        detail = (
            f"image is blank or near-uniform: luminance varies by {number(std)} and colour by "
            f"{number(colour.spread)} (needs ≥ {number(s.min_stddev)})"
        )
        return Outcome(False, std, s.min_stddev, detail, severity="severe")
    detail = (
        f"image is near-uniform: {pct(dominant)} of pixels are within ±{s.dominant_tolerance} of one "
        f"value (allowed {pct(s.max_dominant_fraction)})"
    )
    return Outcome(False, round(dominant, 4), s.max_dominant_fraction, detail, severity="severe")


#: The fewest pixels an image's shorter side may have. A 4096×3 strip is no picture a person could use, and the
#: pixel checks cannot measure it (they pass what they cannot measure, leaving it to the size criteria to fail).
THINNEST_PICTURE = 16


def _too_thin(width: int, height: int, min_side: int) -> Outcome | None:
    """A severe failure for an image thinner than ``min_side``; None when it is not."""
    shortest = min(width, height)
    if shortest >= min_side:
        return None
    detail = (
        f"image is {width}×{height}: {shortest} px on its shorter side, under the {min_side} px of a usable picture"
    )
    return Outcome(
        False, f"{width}×{height}", f"shorter side ≥ {min_side} px", detail, severity="severe", facts={"thin": True}
    )


class SizeSettings(CheckSettings):
    aspect_tolerance: float = Field(0.02, ge=0, le=1, description="allowed relative aspect-ratio difference")
    min_scale: float = Field(
        0.5, gt=0, le=1, description="smallest delivered size, as a share of the requested width and height"
    )
    scale_moderate: float = Field(
        0.3, gt=0, le=1, description="a frame at or below this share of the requested size fails at least moderately"
    )
    scale_severe: float = Field(0.2, gt=0, le=1, description="a frame at or below this share fails severely")
    width_param: str = "width"
    height_param: str = "height"
    min_side: int = Field(
        THINNEST_PICTURE,
        ge=1,
        le=20000,
        description="shortest side any image needs, whether or not a size was requested",
    )


#: Severity bands of the size check on its graded measure, the relative aspect-ratio difference: 2.4% off is a
#: crop away (mild), 4:3 for a square request (33%) needs a person, 16:9 for a square (78%) is unusable.
SIZE_BANDS = Bands(0.05, 0.5, higher_is_better=False, measure="relative difference from the requested aspect ratio")


@kind.check(
    "size",
    SizeSettings,
    bands=SIZE_BANDS,
    fix=(
        "{% if params.width and params.height %}Compose the picture for a {{ params.width }}×{{ params.height }}"
        " frame and fill it edge to edge.{% else %}Compose a complete picture at least {{ settings.min_side }} px on"
        " every side and fill it edge to edge.{% endif %}"
    ),
)
def size(ctx: JudgeContext, s: SizeSettings) -> Outcome:
    requested = _size_as_requested(ctx, s)
    # A failure against the requested size says more (how far off, and at what scale) than the floor's.
    thin = _too_thin(ctx.decoded.width, ctx.decoded.height, s.min_side) if requested.passed else None
    return thin or requested


def _size_as_requested(ctx: JudgeContext, s: SizeSettings) -> Outcome:
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
    scale = min(width / want_w, height / want_h)
    facts = {"scale": round(scale, 3)}
    aspect_wrong, too_small = difference > s.aspect_tolerance, scale < s.min_scale
    if not aspect_wrong and not too_small:
        detail = (
            f"image is {actual}, not {requested}, but its aspect ratio matches ({pct(difference)} off) "
            f"at {pct(scale)} of the requested size"
        )
        return Outcome(True, actual, requested, detail, facts=facts)
    problems = []
    if aspect_wrong:
        problems.append(
            f"aspect {aspect:.3f} where {want_aspect:.3f} was requested: {pct(difference)} off, "
            f"allowed {pct(s.aspect_tolerance)}"
        )
    if too_small:
        problems.append(f"only {pct(scale)} of the requested size, needs at least {pct(s.min_scale)}")
    detail = f"image is {actual}; requested {requested}: " + "; ".join(problems)
    if not too_small:
        return Outcome(False, actual, requested, detail, graded=difference, facts=facts)
    # A frame too small is graded on its scale, which the aspect bands cannot express: a third of the size is
    # usable small, a sixth is a thumbnail.
    order = ["mild", "moderate", "severe"]
    severity = "severe" if scale <= s.scale_severe else "moderate" if scale <= s.scale_moderate else "mild"
    if aspect_wrong:
        severity = max(severity, SIZE_BANDS.grade(difference), key=order.index)
    return Outcome(False, actual, requested, detail, graded=difference, severity=severity, facts=facts)


class MinSizeSettings(CheckSettings):
    min_longest_side: int = Field(1000, ge=1, le=20000)
    min_shortest_side: int = Field(THINNEST_PICTURE, ge=1, le=20000, description="fewest pixels on the shorter side")


@kind.check(
    "min_size",
    MinSizeSettings,
    bands=Bands(0.8, 0.5, measure="longest side as a share of the minimum"),
    fix=(
        "Deliver the image at least {{ settings.min_longest_side }} px on its longest side{% if facts.thin %} and"
        " {{ settings.min_shortest_side }} px on its shorter side{% endif %}."
    ),
)
def min_size(ctx: JudgeContext, s: MinSizeSettings) -> Outcome:
    decoded = ctx.decoded
    longest = max(decoded.width, decoded.height)
    ok = longest >= s.min_longest_side
    verdict = "meets" if ok else "is below"
    detail = f"longest side is {longest} px, {verdict} the {s.min_longest_side} px minimum"
    thin = _too_thin(decoded.width, decoded.height, s.min_shortest_side) if ok else None
    return thin or Outcome(ok, longest, s.min_longest_side, detail, graded=longest / s.min_longest_side)


def _unmeasured(
    ctx: JudgeContext, threshold: float | str | None, what: str, needs: str, analysed: np.ndarray
) -> Outcome:
    """A check's pass on an image too small (or too thin) for its measure: nothing it looks for can be told there,
    and the criteria that judge the image's size (``size``, ``min_size``) and content (``not_blank``) fail it.
    ``analysed`` is the array the measure reads, named when its size differs from the image's."""
    decoded = ctx.decoded
    height, width = analysed.shape[:2]
    at = f" (analysed at {width}×{height} px)" if (width, height) != (decoded.width, decoded.height) else ""
    detail = f"image is {decoded.width}×{decoded.height} px{at}: too small to {what}; {needs}"
    return Outcome(True, None, threshold, detail)


#: Words in a prompt that ask for a picture's look which a pixels check would otherwise fail: the customer got what
#: they asked for, and a fix that forbade it would contradict the prompt. Each names its look outright ("wood grain"
#: is a texture, not film grain; "a border collie" no border).
ASKED_GRAIN = re.compile(
    r"\b(?:grainy|(?:film|heavy|strong|visible|coarse|photographic|analog(?:ue)?|35 ?mm) grain|high[- ]iso"
    r"|(?:film|sensor|digital) noise|noisy|dither(?:ed|ing)|1[- ]bit|halftone|stippl(?:ed|ing))\b",
    re.IGNORECASE,
)
ASKED_BORDER = re.compile(
    r"\b(?:(?:white|black|wide|thin|thick|plain|decorative|ornate|gold(?:en)?|wooden) (?:mat|matte|border|frame)s?"
    r"|mat(?:te)? borders?|bordered|framed|framing|in a (?:\w+ )?frame|(?:picture|photo|gallery) frame"
    r"|passe[- ]?partout"
    r"|polaroid|letterbox(?:ed)?|pillarbox(?:ed)?|(?:black|letterbox|widescreen|cinematic|cinema) bars"
    r"|widescreen|cinemascope|anamorphic|2[.,]39 ?: ?1|2[.,]35 ?: ?1)\b",
    re.IGNORECASE,
)
#: Tones pushed to black and white on purpose: crushed shadows, blown whites, a dark or bright frame are the look.
ASKED_TONES = re.compile(
    r"\b(?:black[- ](?:and|&)[- ]white|b ?& ?w|monochrome|high[- ]contrast|silhouett(?:e|es|ed)|low[- ]key"
    r"|high[- ]key|noir|chiaroscuro|woodcut|linocut|stencil)\b",
    re.IGNORECASE,
)
#: Tones squeezed together on purpose: only a low-contrast picture is the look ("a hazy sky" still asks for no
#: burnt-out highlights).
ASKED_LOW_CONTRAST = re.compile(
    r"\b(?:washed[- ]out|faded|low[- ]contrast|fog(?:gy)?|mist(?:y)?|hazy|haze|milky|muted|pastel|high[- ]key"
    r"|ethereal|dreamy|airy|blizzard|snowstorm|whiteout|sandstorm|dust ?storm|smoky|smoke[- ]filled|steamy)\b",
    re.IGNORECASE,
)
#: Softness asked for: atmosphere that veils every edge, or blur named outright. A portrait's bokeh is not here: its
#: subject stays sharp, and the detailed tiles that score it are the subject's.
ASKED_SOFT = re.compile(
    r"\b(?:fog(?:gy)?|mist(?:y)?|hazy|haze|soft[- ]focus|out[- ]of[- ]focus|blurr(?:y|ed)|motion[- ]blur"
    r"|dreamy|ethereal|smoky|smoke[- ]filled|steamy|blizzard|snowstorm|whiteout|sandstorm|dust ?storm"
    r"|underwater|murky water)\b",
    re.IGNORECASE,
)
ASKED_PIXEL_ART = re.compile(
    r"\b(?:pixel[- ]art|pixel(?:ated)? style|pixelated|8[- ]bit|16[- ]bit (?:style|art|game|graphics|sprite)"
    r"|posteri[sz]ed|posteri[sz]ation|flat colou?rs|cel[- ]shad(?:ed|ing)|limited (?:colou?r )?palette"
    r"|screen[- ]?print(?:ed)?|pop art|vector art|low[- ]poly)\b",
    re.IGNORECASE,
)


class PromptSettings(CheckSettings):
    prompt_param: str = Field(
        "prompt",
        description="param whose words may ask for the look this check looks for (film grain, a mat border, black "
        "and white, pixel art): the check then passes it, naming those words",
    )


def _unless_asked(ctx: JudgeContext, s: PromptSettings, outcome: Outcome, asking: re.Pattern[str]) -> Outcome:
    """``outcome``, or, when it failed on a look the prompt asks for, a pass that names the prompt's words."""
    # Part of a picture dissolved into noise is a generation that broke down, whatever look the prompt asks for.
    if outcome.passed or not s.prompt_param or outcome.facts.get("patch"):
        return outcome
    asked = asked_in(ctx.params.get(s.prompt_param), asking)
    if asked is None:
        return outcome
    return Outcome(True, outcome.measured, outcome.threshold, _as_asked(outcome.detail, asked), facts=outcome.facts)


class SharpSettings(PromptSettings):
    min_sharpness: float = Field(60.0, ge=0, description="Laplacian variance of the most detailed tiles")
    analysis_side: int = Field(1024, ge=128, le=4096, description="longest side the image is analysed at")
    min_edge_ratio: float = Field(
        0.3,
        ge=0,
        le=1,
        description="least share of its change the sharpest edges make in 1 px of the 256-px copy, against 8 px, in "
        "every direction (sharp photos 0.4-0.9; smeared by 8 px or more: 0.125): judged on busy scenes only",
    )
    smear_min_busy: float = Field(
        0.5, ge=0, le=1, description="least share of the frame busy with content for the edge ratio to be judged"
    )


#: Fewest pixels across and down an image's analysis copy needs for its sharpness to be measured: the Laplacian
#: reads 3×3 neighbourhoods, and fewer of its values than a 6×6 patch holds give no stable variance.
SHARP_MIN_SIDE = 8


def sharpness(gray: np.ndarray) -> float:
    """Laplacian variance of the most detailed tenth of 32×32 tiles.

    Scoring the detailed tiles rather than the whole frame keeps a sharp product on a
    plain white background from reading as blurred.
    """
    tiles = _tile_detail(gray)
    top = np.sort(tiles)[-max(1, tiles.size // 10) :]
    return float(top.mean())


def _tile_detail(gray: np.ndarray) -> np.ndarray:
    """The Laplacian variance of each whole 32×32 tile of ``gray``; of the whole array (one value) when it holds
    no whole tile."""
    tile = 32
    rows, cols = (gray.shape[0] - 2) // tile, (gray.shape[1] - 2) // tile
    if rows <= 0 or cols <= 0:
        lap = 4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]
        return np.array([lap.var()])
    # Only the whole tiles' Laplacian, in place: the same float32 operations in the same order, without a new array
    # for each of them. A few rows of tiles at a time: each band's Laplacian (and the variance's copy of it) stays
    # in the processor's cache, where the whole frame's went out to memory and back five times; each tile's variance
    # is the same numbers read the same way.
    width = cols * tile
    detail = np.empty((rows, cols), gray.dtype)  # float32, as every caller's luminance or chroma plane
    band = min(rows, TILE_DETAIL_BAND)
    lap = np.empty((band * tile, width), gray.dtype)
    for first in range(0, rows, band):
        last = min(rows, first + band)
        top, height = first * tile, (last - first) * tile
        part = lap[:height]
        np.multiply(gray[top + 1 : top + height + 1, 1 : width + 1], 4, out=part)
        part -= gray[top : top + height, 1 : width + 1]
        part -= gray[top + 2 : top + height + 2, 1 : width + 1]
        part -= gray[top + 1 : top + height + 1, :width]
        part -= gray[top + 1 : top + height + 1, 2 : width + 2]
        detail[first:last] = part.reshape(last - first, tile, cols, tile).var(axis=(1, 3))
    return detail.ravel()


#: Rows of 32×32 tiles whose Laplacian :func:`_tile_detail` reads at a time (128 full rows of a 1024-px image).
TILE_DETAIL_BAND = 4


def _chroma(ctx: JudgeContext) -> measures.ChromaMeasure:
    return ctx.memo("chroma", lambda: measures.chroma(ctx.decoded.rgb))


def _chroma_sharpness(ctx: JudgeContext, side: int) -> float:
    """:func:`sharpness` of the chroma plane (red or blue minus the luminance) with the most detail, less the
    detail of its median tile: colour noise spread over the whole frame (which reads as detail in every tile) is
    no colour edge."""
    best = 0.0
    for plane in measures.chroma_planes(ctx.decoded.rgb):
        tiles = _tile_detail(measures.box_downscale(plane, side))
        top = np.sort(tiles)[-max(1, tiles.size // 10) :]
        best = max(best, float(top.mean() - np.median(tiles)))
    return best


def _edge_contrast(ctx: JudgeContext, gray: np.ndarray, side: int) -> float:
    """:func:`measures.edge_contrast` of the luminance or of a chroma plane, whichever is stronger: a ball of one
    brightness on its ground has its edges in the colour alone."""
    planes = [measures.box_downscale(plane, side) for plane in measures.chroma_planes(ctx.decoded.rgb)]
    return max(measures.edge_contrast(plane) for plane in [gray, *planes])


def _thumbnail_gray(ctx: JudgeContext, side: int = 1024) -> np.ndarray:
    def compute() -> np.ndarray:
        # Box-average down to the analysis size: cheap, and it does not invent sharpness.
        return measures.box_downscale(ctx.decoded.gray, side)

    return ctx.memo(f"gray@{side}", compute)


SHARP_BANDS = Bands(0.5, 0.2, measure="detail score as a share of the minimum")


@kind.check(
    "sharp",
    SharpSettings,
    bands=SHARP_BANDS,
    fix="Keep the subject in sharp focus with crisp fine detail; no blur or smearing.",
)
def sharp(ctx: JudgeContext, s: SharpSettings) -> Outcome:
    return _unless_asked(ctx, s, _sharp_outcome(ctx, s), ASKED_SOFT)


#: Largest change over EDGE_DISTANCE px (brightest 0.1% of them, in luminance or colour) of a picture with no edges
#: at all: a smooth gradient (a dusk sky) has nothing to be sharp or blurred; a blurred photo keeps its changes,
#: spread wider (a landscape blurred by 30 px still changes by 11 levels; the probe's smooth dusk sky by 3).
SMOOTH_EDGE = 6.0
#: Curvature of a picture's changes (:func:`measures.gradient_curvature`) under which a picture whose colour carries
#: it more than its brightness is a graphic of smooth gradients: colour wheels read 0.25-0.45, photos blurred by up
#: to 40 px of a 1024-px frame 0.6 and up.
SMOOTH_GRAPHIC = 0.5


def _sharp_outcome(ctx: JudgeContext, s: SharpSettings) -> Outcome:
    gray = _thumbnail_gray(ctx, s.analysis_side)
    if min(gray.shape) < SHARP_MIN_SIDE:
        needs = f"the detail score needs at least {SHARP_MIN_SIDE}×{SHARP_MIN_SIDE} px"
        return _unmeasured(ctx, s.min_sharpness, "measure sharpness", needs, gray)
    score = sharpness(gray)
    # A picture dim all over is read as if its brightest parts were white: the Laplacian's variance falls with the
    # square of the contrast, and an underexposed picture is the exposure criterion's to fail, with the fix that
    # brightens it, not one that asks for sharper focus.
    sample = measures.strided(gray, 512)
    # The brightest 0.1% (a partition of the sample, most of this step's time) only of a picture dark on average.
    dim = float(sample.mean()) < DIM_MEAN and (highlight := float(np.percentile(sample, 99.9))) < DIM_HIGHLIGHT
    gain = (255 / max(highlight, 16.0)) ** 2 if dim else 1.0
    read_as = f", read as if its brightest parts ({number(round(highlight))}) were white" if dim else ""
    if score * gain < s.min_sharpness:
        # A picture of low contrast all over (a sign's letters a few levels off its board) is read as if its tones
        # spanned the whole range, for the same reason: its edges may be crisp, only faint. A blurred one stays
        # blurred (blur lowers the score far more than the contrast takes away).
        # Only where the brightness carries the picture: letters of one brightness on a coloured sign are read in
        # their colour edges below, which stretching the flat luminance would only fill with its noise.
        low, high = np.percentile(sample, [LOW_CONTRAST_TAIL, 100 - LOW_CONTRAST_TAIL])
        span = float(high - low)
        stretch = (255 / max(span, 16.0)) ** 2
        if span < LOW_CONTRAST_SPAN and stretch > gain and _chroma(ctx).spread <= _chroma(ctx).luminance:
            # The one-level steps a blurred faint edge is rounded to read as detail of their own: taken away first.
            score = max(0.0, score - LOW_CONTRAST_STEPS)
            gain = stretch
            read_as = f", read as if its tones ({number(round(span))} levels apart) spanned the whole range"
    score *= gain
    measured = round(score, 1)
    if score >= s.min_sharpness:
        if smeared := _smeared(ctx, s, gray, measured):
            return smeared
        return Outcome(True, measured, s.min_sharpness, f"image is sharp (detail score {number(measured)}{read_as})")
    edges = ctx.memo(f"edge-contrast@{s.analysis_side}", lambda: _edge_contrast(ctx, gray, s.analysis_side))
    if edges < SMOOTH_EDGE:
        detail = (
            f"image has no edges to be sharp or blurred: a smooth picture whose tones change by at most "
            f"{number(round(edges, 1))} levels over {measures.EDGE_DISTANCE} px (detail score {number(measured)})"
        )
        return Outcome(True, measured, s.min_sharpness, detail)
    # Edges between colours of one brightness (red letters on a green sign) are flat in luminance: they are read
    # in the colour apart from brightness, only for the few images whose luminance reads as blurred. A blurred
    # photograph's colour edges are softer still than its luminance's.
    if _chroma(ctx).spread <= _chroma(ctx).luminance:
        colour = 0.0  # the brightness carries the picture (a blurred photograph): its colour edges are no sharper
    elif (bend := _curvature(ctx)) < SMOOTH_GRAPHIC:
        # Colour carries the picture and changes steadily across the whole frame: a graphic of smooth gradients (a
        # colour wheel, a hue ramp), which has no detail to lose; a blurred photo still holds its shapes.
        detail = (
            f"image is a graphic of smooth colour gradients, not a blurred photo: its colours change steadily "
            f"across the frame (curvature {number(bend)}, photos read {number(SMOOTH_GRAPHIC)} and up; detail "
            f"score {number(measured)})"
        )
        return Outcome(True, measured, s.min_sharpness, detail)
    else:
        colour = round(
            gain * ctx.memo(f"chroma-sharpness@{s.analysis_side}", lambda: _chroma_sharpness(ctx, s.analysis_side)), 1
        )
    if colour >= s.min_sharpness:
        if smeared := _smeared(ctx, s, gray, colour):
            return smeared
        detail = f"image is sharp (detail score {number(colour)} in its colour edges, {number(measured)} in luminance)"
        return Outcome(True, colour, s.min_sharpness, detail)
    if colour > measured:
        detail = (
            f"image looks blurred: detail score {number(colour)} in its colour edges, {number(measured)} in "
            f"luminance (needs ≥ {number(s.min_sharpness)})"
        )
        blurred = Outcome(False, colour, s.min_sharpness, detail, graded=colour / max(s.min_sharpness, 1e-9))
        return _worse_smear(ctx, s, gray, colour, blurred)
    detail = f"image looks blurred: detail score {number(measured)} (needs ≥ {number(s.min_sharpness)})"
    blurred = Outcome(False, measured, s.min_sharpness, detail, graded=score / max(s.min_sharpness, 1e-9))
    return _worse_smear(ctx, s, gray, measured, blurred)


def _curvature(ctx: JudgeContext) -> float:
    return ctx.memo("gradient-curvature", lambda: measures.gradient_curvature(ctx.decoded.rgb))


_SEVERITY_RANK = {"mild": 0, "moderate": 1, "severe": 2}


def _worse_smear(ctx: JudgeContext, s: SharpSettings, gray: np.ndarray, score: float, blurred: Outcome) -> Outcome:
    """``blurred``, or the smear failure when that is the more severe: a busy scene smeared just under the
    detail minimum is not a mild softness."""
    smeared = _smeared(ctx, s, gray, score)
    if smeared is None or blurred.graded is None:
        return blurred
    if _SEVERITY_RANK[smeared.severity or "mild"] > _SEVERITY_RANK[SHARP_BANDS.grade(blurred.graded)]:
        return smeared
    return blurred


#: Edge ratio under which a smeared busy scene fails severely (its edges fade over about 5 px of the 256-px copy or
#: more: a 256-px picture under a Gaussian blur of radius 2). A softer smear is moderate: a person decides before a
#: regeneration is paid for.
SMEAR_SEVERE_RATIO = 0.2
#: How much sharper its best direction must read than its worst for a smear to be called motion.
MOTION_ANISOTROPY = 2.0


def _smeared(ctx: JudgeContext, s: SharpSettings, gray: np.ndarray, score: float) -> Outcome | None:
    """A failure when a busy scene's detail score passes but its sharpest edges all fade over many pixels: the
    score grows with how much a scene shows, so a smeared street of shop signs outscores a sharp plain wall."""
    m = ctx.memo(f"smear@{s.analysis_side}", lambda: measures.smear(gray, s.min_edge_ratio, s.smear_min_busy))
    if m.busy < s.smear_min_busy or m.ratio >= s.min_edge_ratio:
        return None
    # Motion only when one direction is plainly sharper than another: a picture blurred evenly reads a little
    # softer along its own weaker edges, which is no direction of motion.
    if m.best >= MOTION_ANISOTROPY * m.ratio and m.smeared_ways < len(measures.SMEAR_DIRECTIONS):
        blur, how = "motion-blurred", f" {m.direction}"
    else:
        blur, how = "blurred", ""
    detail = (
        f"image looks {blur}: even its sharpest edges fade over several pixels{how} (edge ratio "
        f"{number(m.ratio)}, needs ≥ {number(s.min_edge_ratio)}), though its busy scene gives a detail score of "
        f"{number(score)}"
    )
    severity = "severe" if m.ratio < SMEAR_SEVERE_RATIO else "moderate"
    facts = {"smeared": m.direction}
    return Outcome(False, m.ratio, s.min_edge_ratio, detail, severity=severity, facts=facts)


#: A picture whose luminance (but for its darkest and brightest LOW_CONTRAST_TAIL percent) spans fewer levels than
#: LOW_CONTRAST_SPAN is of low contrast all over: its detail score is read as if its tones spanned the whole range.
#: A photograph spans 150 levels and more, a faint sign's letters 10-40 levels off the board.
LOW_CONTRAST_SPAN = 64.0
LOW_CONTRAST_TAIL = 0.1
#: Detail score of the one-level steps a blurred low-contrast edge is rounded to: a 20-30 level sign blurred by a
#: radius of 2-8 px scores 0.2-1.1 (its crisp letters 9-42), which stretching to the whole range would make sharp.
LOW_CONTRAST_STEPS = 1.5

#: A picture darker on average than DIM_MEAN_FACTOR × ``min_mean`` whose brightest 0.1% stay under
#: DIM_HIGHLIGHT_FACTOR × ``min_mean`` is dim all over: no light, no white, nothing brighter than a dark grey
#: anywhere (a photo ×0.25: mean 32, brightest 58). A night scene keeps its lights, a low-key photo (×0.35:
#: brightest 84) its lit parts, a red-on-green sign of one luminance its mean. Both follow ``min_mean``: a rubric
#: that lowers it accepts darker pictures of either kind.
DIM_MEAN_FACTOR = 2.0
DIM_HIGHLIGHT_FACTOR = 2.88
#: The same bounds at the default ``min_mean`` (25), for the sharpness check, which reads no exposure settings.
DIM_MEAN = DIM_MEAN_FACTOR * 25.0
DIM_HIGHLIGHT = DIM_HIGHLIGHT_FACTOR * 25.0


class ExposureSettings(PromptSettings):
    min_mean: float = Field(25.0, ge=0, le=255, description="mean brightness below which an image may be too dark")
    max_mean: float = Field(235.0, ge=0, le=255, description="mean brightness above which it may be washed out")
    min_highlight: float = Field(
        150.0, ge=0, le=255, description="a dark image is underexposed only when its brightest 0.1% stay below this"
    )
    max_shadow: float = Field(
        100.0, ge=0, le=255, description="a bright image is washed out only when its darkest 0.1% stay above this"
    )
    max_clipped_fraction: float = Field(
        0.15, ge=0, le=1, description="share of pixels allowed with a channel clipped (blown white or bleached colour)"
    )
    min_bleached_fraction: float = Field(
        0.02,
        ge=0,
        le=1,
        description="clipping counts only with this share of bleached colour (a channel clipped, another not), "
        "unless it exceeds max_white_fraction: a clean white backdrop is not overexposure",
    )
    max_white_fraction: float = Field(0.9, ge=0, le=1, description="share of pure white allowed without bleaching")
    max_crushed_fraction: float = Field(
        0.5, ge=0, le=1, description="share of pixels allowed crushed to black (a low-key scene has a lot)"
    )
    min_contrast: float = Field(
        48.0,
        ge=0,
        le=255,
        description="least luminance spread between the darkest and brightest 2% of a picture whose tones are "
        "lifted off black (or held down from white): below it the picture is milky or murky",
    )
    lifted_black: float = Field(
        140.0, ge=0, le=255, description="a bright picture's darkest 2% at or above this have no deep shadow"
    )
    murky_black: float = Field(
        25.0, ge=0, le=255, description="a dark picture's darkest 2% at or above this are grey, not black"
    )
    murky_white: float = Field(
        80.0, ge=0, le=255, description="a dark picture's brightest 2% at or below this hold no clean highlight"
    )
    washed_shadow: float = Field(
        96.0,
        ge=0,
        le=255,
        description="a picture whose darkest 0.1% are this light has no deep shadow anywhere in the frame: with its "
        "tones compressed (washed_contrast) and no white backdrop around a subject, it is washed out even when its "
        "spread is above min_contrast (a photo lifted to a grey floor, ×0.5 + 128)",
    )
    washed_contrast: float = Field(
        150.0,
        ge=0,
        le=255,
        description="largest spread between the darkest and brightest 2% of a picture washed out by a lifted black "
        "point: a picture with its full range keeps more",
    )
    washed_moderate_shadow: float = Field(
        120.0, ge=0, le=255, description="a washed-out picture whose darkest 0.1% reach this fails moderately"
    )
    high_key_median: float = Field(
        230.0,
        ge=0,
        le=255,
        description="a picture whose middle tone is this bright is high-key by design (snow, white on white): its "
        "narrow range is judged by the clipped and blown shares instead",
    )


@kind.check(
    "exposure",
    ExposureSettings,
    bands=Bands(
        0.6,
        0.85,
        higher_is_better=False,
        measure="exposure error (0-1): for a dark image 1 − its brightest 0.1% / 255, for a washed-out one its "
        "darkest 0.1% / 255, for clipped highlights the clipped share over 4× the allowed share, for crushed "
        "shadows the crushed share over 2× the allowed share, for a washed-out or murky picture 1 − its tonal "
        "spread over 2× the least spread",
    ),
    fix="Use balanced, natural exposure: {% if facts.too == 'dark' %}brighten the scene so its shadows show detail"
    "{% elif facts.too == 'flat' %}restore full contrast: deep shadows and clean highlights"
    "{% else %}tone down the highlights so bright areas keep their detail and colour{% endif %}.",
)
def exposure(ctx: JudgeContext, s: ExposureSettings) -> Outcome:
    outcome = _exposure_outcome(ctx, s)
    low_contrast = outcome.facts.get("too") == "flat"
    return _unless_asked(ctx, s, outcome, ASKED_LOW_CONTRAST if low_contrast else ASKED_TONES)


def _exposure_outcome(ctx: JudgeContext, s: ExposureSettings) -> Outcome:
    decoded = ctx.decoded
    m = ctx.memo("exposure", lambda: measures.exposure(decoded.gray, decoded.rgb, decoded.planes))
    bounds = f"{number(s.min_mean)}–{number(s.max_mean)}"
    # Night scenes are dark on average but keep real highlights (lights, stars, windows); an underexposed
    # image has none. A minimalist bright scene keeps some deep tones; a washed-out image has none.
    dim_mean, dim_highlight = DIM_MEAN_FACTOR * s.min_mean, DIM_HIGHLIGHT_FACTOR * s.min_mean
    if (m.mean < s.min_mean and m.highlight < s.min_highlight) or (m.mean < dim_mean and m.highlight < dim_highlight):
        # A dim picture's mean may be inside the bounds: its brightest parts are what nothing reaches.
        needs = f"needs {bounds}" if m.mean < s.min_mean else f"under {number(dim_mean)}"
        detail = (
            f"image is too dark: mean brightness {number(m.mean)} ({needs}) and even its brightest parts "
            f"reach only {number(m.highlight)} of 255; {pct(m.dark_share)} of the frame shows no detail"
        )
        return Outcome(False, m.mean, bounds, detail, graded=1 - m.highlight / 255, facts={"too": "dark"})
    if m.mean > s.max_mean and m.shadow > s.max_shadow:
        what = "the subject on its white backdrop is washed out" if m.backdrop else "image is washed out"
        detail = (
            f"{what}: mean brightness {number(m.mean)} (needs {bounds}) and even its darkest parts "
            f"are {number(m.shadow)} of 255; {pct(m.bright_share)} of the frame shows no detail"
        )
        return Outcome(False, m.mean, bounds, detail, graded=m.shadow / 255, facts={"too": "bright"})
    # Clipping is overexposure when it burnt out colour, or when nearly everything is white: a saturated colour
    # at full strength (paint, print, a neon sign) clips a channel without losing anything.
    if m.clipped > s.max_clipped_fraction and (m.bleached >= s.min_bleached_fraction or m.white > s.max_white_fraction):
        # Behind a subject on a plain white backdrop the shares are of the subject: the backdrop is asked for.
        of = "of the subject (the white backdrop around it left aside)" if m.backdrop else "of the image"
        detail = (
            f"highlights are clipped: {pct(m.clipped)} {of} is blown to white or bleached to a flat colour "
            f"(allowed {pct(s.max_clipped_fraction)})"
        )
        graded = m.clipped / max(4 * s.max_clipped_fraction, 1e-9)
        return Outcome(False, m.clipped, s.max_clipped_fraction, detail, graded=graded, facts={"too": "bright"})
    crushed = m.crushed
    if crushed > s.max_crushed_fraction and s.prompt_param and asked_in(ctx.params.get(s.prompt_param), ASKED_BORDER):
        # Black bars the prompt asks for (a letterboxed still) are black by design: only the picture between them
        # can be crushed.
        bars = measures.covered_share([b for b in _flat_bands(ctx) if b.level <= measures.CRUSHED])
        crushed = max(0.0, crushed - bars) / max(1e-6, 1 - bars)
    if crushed > s.max_crushed_fraction:
        detail = f"{pct(crushed)} of the image is crushed to black (allowed {pct(s.max_crushed_fraction)})"
        graded = crushed / max(2 * s.max_crushed_fraction, 1e-9)
        return Outcome(False, crushed, s.max_crushed_fraction, detail, graded=graded, facts={"too": "dark"})
    milky = m.low >= s.lifted_black and m.median < s.high_key_median
    murky = m.low >= s.murky_black and m.high <= s.murky_white
    if milky and (_small_dark_subject(ctx, s) or _drawn_flat(_thumbnail_gray(ctx, 512))):
        # A pale picture around a small dark subject (a bird in a vast sky) keeps its deep tones, only few of them;
        # a flat illustration's narrow range is its pastel palette. Milk lifts every tone, the subject's too.
        milky = False
    if m.contrast < s.min_contrast and (milky or murky) and not _colour_carries_picture(ctx):
        # Mean brightness is fine, but every tone is squeezed into a narrow band: no black and no white anywhere,
        # a picture seen through milk (or mud). A low-key photo keeps its blacks and a high-key one its whites.
        look = "washed out (milky)" if milky else "murky"
        detail = (
            f"image is {look}: low contrast, its tones span only {number(m.contrast)} levels (darkest 2% at "
            f"{number(m.low)}, brightest 2% at {number(m.high)} of 255; needs a spread of ≥ {number(s.min_contrast)}), "
            "with no deep shadows or clean highlights"
        )
        graded = 1 - m.contrast / max(2 * s.min_contrast, 1e-9)
        return Outcome(False, m.contrast, s.min_contrast, detail, graded=graded, facts={"too": "flat"})
    if (
        m.shadow >= s.washed_shadow
        and m.contrast <= s.washed_contrast
        and m.median < s.high_key_median
        and not m.backdrop
        and not _colour_carries_picture(ctx)
        and not _small_dark_subject(ctx, s)
        and not _drawn_flat(_thumbnail_gray(ctx, 512))
    ):
        # A photo lifted to a grey floor (contrast halved, blacks raised to mid-grey) keeps a spread above
        # min_contrast, but nothing anywhere in the frame is dark: a real foggy or hazy scene keeps the dark of its
        # near ground, a white product on white its backdrop (left aside), and a prompt asking for fog, haze or a
        # high-key look passes it.
        detail = (
            # The shadow is a percentile: a small dark detail (a bird in the sky) may lie under it.
            f"image is washed out (milky): almost nothing in the frame (under 0.1% of it) is darker than "
            f"{number(m.shadow)} of 255 (needs deep shadows below {number(s.washed_shadow)}), so its tones are "
            f"squeezed into {number(m.low)}–"
            f"{number(m.high)} and its colours look faded, as if seen through milk"
        )
        severity = "moderate" if m.shadow >= s.washed_moderate_shadow else "mild"
        return Outcome(False, m.shadow, s.washed_shadow, detail, severity=severity, facts={"too": "flat"})
    return Outcome(
        True, m.mean, bounds, f"exposure is fine (mean brightness {number(m.mean)}, highlights {number(m.highlight)})"
    )


#: Side of the box-averaged copy a dark subject must still show on: a solid subject (a bird, a figure) a hundredth of
#: the side across survives the averaging, scattered dark specks (grain, dust) do not.
SUBJECT_SIDE = 128


def _small_dark_subject(ctx: JudgeContext, s: ExposureSettings) -> bool:
    """Whether a pale picture holds a solid subject with deep tones (below ``washed_shadow``), however small a share
    of the frame: a photo lifted to a grey floor has nothing that dark anywhere."""
    return float(_thumbnail_gray(ctx, SUBJECT_SIDE).min()) < s.washed_shadow


#: How many times more the colour (apart from brightness) must vary than the brightness for the colour to carry the
#: picture: red letters on a green sign of one luminance, whose narrow luminance range is the design, not milk.
COLOUR_CARRIES = 2.0


def _colour_carries_picture(ctx: JudgeContext) -> bool:
    colour = _chroma(ctx)
    return colour.spread > COLOUR_CARRIES * colour.luminance


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


#: Largest noise level reported: pixels on a 0-255 scale spread around their mean by at most half of it.
MAX_NOISE_LEVEL = 128.0
#: Fewest distinct tones a picture with grey levels has; at or under it the picture is dithered dots (1-bit).
DITHERED_TONES = 2


class NoiseSettings(PromptSettings):
    max_noise: float = Field(
        4.5, ge=0, le=128, description="largest pixel-level noise allowed in the flattest areas, in levels of 255"
    )
    max_patch_noise: float = Field(
        12.0,
        ge=0,
        le=128,
        description="noise level (read region by region) from which a sixteenth of the frame is noise of its own",
    )
    max_grain: float = Field(
        6.0,
        ge=0,
        le=128,
        description="largest noise allowed when read at half size, where grain spanning two pixels shows: above "
        "max_noise, since texture reads higher there (4.7 at most on the labelled clean pictures and hard negatives)",
    )


@kind.check(
    "noise",
    NoiseSettings,
    bands=Bands(6.5, 12.0, higher_is_better=False, measure="noise level in the flattest areas, in levels of 255"),
    fix="Render a clean image with no grain, speckle or sensor noise{% if facts.dithered %}, in continuous tones rather"
    " than dots of pure black and white{% endif %}{% if facts.patch %}, and the whole picture as one"
    " scene: part of the last image had dissolved into random noise{% endif %}; keep smooth areas such as sky, skin"
    " and walls smooth.",
)
def noise(ctx: JudgeContext, s: NoiseSettings) -> Outcome:
    return _unless_asked(ctx, s, _noise_outcome(ctx, s), ASKED_GRAIN)


def _noise_outcome(ctx: JudgeContext, s: NoiseSettings) -> Outcome:
    m = ctx.memo("noise", lambda: measures.noise_level(ctx.decoded.detail_gray))
    if not m.measured:
        tile = measures.NOISE_TILE
        needs = f"noise is read on {tile}×{tile} px tiles"
        return _unmeasured(ctx, s.max_noise, "measure noise", needs, ctx.decoded.detail_gray)
    facts = {"level": m.level}
    if m.level <= s.max_noise and m.patch >= s.max_patch_noise:
        # The flattest areas of the frame are clean but a part of it is noise: a generation that broke down there.
        facts = {"level": m.patch, "patch": True}
        covered = max(m.patch_share, 1 / 16)
        detail = (
            f"part of the image is noise: about {pct(covered)} of it carries noise of about {number(m.patch)} levels "
            f"(of 255) even in its smoothest areas, where the rest is clean (allowed {number(s.max_noise)})"
        )
        return Outcome(False, m.patch, s.max_noise, detail, facts=facts)
    if m.level <= s.max_noise and m.grain > s.max_grain:
        level = min(m.grain, MAX_NOISE_LEVEL)
        detail = (
            f"image is grainy: grain about two pixels wide, of about {number(level)} levels (of 255) even in its "
            f"smoothest areas when read at half size (allowed {number(s.max_grain)})"
        )
        return Outcome(False, level, s.max_grain, detail, facts={"level": level})
    if m.level <= s.max_noise:
        detail = f"image is clean (noise about {number(m.level)} levels)"
        return Outcome(True, m.level, s.max_noise, detail, facts=facts)
    # The estimate reads pixel-to-pixel differences; on dots of pure black and white it runs past anything a
    # 0-255 scale can hold. Pixels spread around their mean by at most half the range.
    level = min(m.level, MAX_NOISE_LEVEL)
    facts = {"level": level}
    tones = np.unique(measures.strided(ctx.decoded.gray, 256)).size
    if tones <= DITHERED_TONES:
        detail = (
            f"image is dithered: it is drawn in only {tones} tones (a 1-bit picture of black and white dots), so "
            f"even its smoothest areas are grain of about {number(level)} levels (allowed {number(s.max_noise)})"
        )
        return Outcome(False, level, s.max_noise, detail, facts={**facts, "dithered": True})
    detail = (
        f"image is grainy: noise of about {number(level)} levels (of 255) even in its smoothest areas "
        f"(allowed {number(s.max_noise)})"
    )
    return Outcome(False, level, s.max_noise, detail, facts=facts)


class JpegBlockingSettings(CheckSettings):
    min_quality: float = Field(
        25.0, ge=1, le=100, description="lowest JPEG quality (libjpeg scale) whose compression is accepted"
    )
    min_edge_ratio: float = Field(
        1.3, ge=1, description="block edges must be this much stronger than other edges to count as visible"
    )


#: Least step (luminance levels) by which the block edges must exceed the other edges for the grid to show: clean
#: photos and smooth skies, backdrops and vignettes saved as WebP at quality 75-95 or JPEG at 85-95 read 0.2-0.6,
#: photos compressed at JPEG quality 5-25 (also saved again as PNG or WebP) 1.5-2.1, at quality 50 1.1-1.2.
BLOCK_STEP_FLOOR = 0.9

#: Names of the formats whose compression is described, by MIME type.
FORMAT_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP", "image/gif": "GIF"}

#: Block-edge ratio from which an image that is not a JPEG file shows its 8×8 grid plainly: below it, an estimated
#: quality is weak evidence (a few straight edges of a drawing may sit on the grid) and fails moderately at most.
STRONG_EDGE_RATIO = 2.0


def jpeg_file_quality(image: ImageSource) -> float | None:
    """The quality a JPEG file was saved at, read from its own luminance quantisation table (exact, where the
    pixels only allow an estimate); None for any other format or a JPEG without readable tables."""
    if image.mime != "image/jpeg":
        return None
    data = image.load_bytes()
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        # Opening reads the headers only; the tables are there, before any pixel data.
        with Image.open(io.BytesIO(data)) as opened:
            tables = getattr(opened, "quantization", None) or {}
            luma = tables.get(0)
            return measures.jpeg_table_quality(luma) if luma is not None else None
    except (OSError, ValueError, UnidentifiedImageError, SyntaxError):
        return None


def _compression(
    ctx: JudgeContext, min_edge_ratio: float
) -> tuple[measures.BlockingMeasure, float | None, float, bool]:
    """The pixels' blocking measure, the quality the file says it was saved at (None if it is no JPEG), the quality
    judged from both, and whether that is the file's own."""
    m: measures.BlockingMeasure = ctx.memo("jpeg-blocking", lambda: measures.jpeg_blocking(ctx.decoded.detail_gray))
    saved_at: float | None = ctx.memo("jpeg-file-quality", lambda: jpeg_file_quality(ctx.image))
    # The pixels' estimate counts only where the block grid shows; it still catches a picture compressed hard
    # before it was saved again at a high quality (or as PNG). The grid shows when its steps are both stronger than
    # the others and a visible number of levels: a smooth vignette's or sky's steps of a fraction of a level (a
    # WebP's or a high-quality JPEG's) make a large ratio of tiny numbers.
    shows = m.edge_ratio >= min_edge_ratio and m.edge_step >= BLOCK_STEP_FLOOR
    estimated = m.quality if m.measured and shows else 100.0
    # The file's own quality is exact: the estimate replaces it only when it finds markedly harder compression.
    if saved_at is not None and estimated >= 0.8 * saved_at:
        return m, saved_at, saved_at, True
    return m, saved_at, estimated, False


@kind.check(
    "jpeg_blocking",
    JpegBlockingSettings,
    bands=Bands(12.0, 7.0, measure="JPEG quality (libjpeg scale 1-100): the file's own, or estimated from its pixels"),
    fix="Deliver the image losslessly (PNG) or as a high-quality JPEG (quality 90 or more), with no visible 8×8 "
    "compression blocks or smearing.",
)
def jpeg_blocking(ctx: JudgeContext, s: JpegBlockingSettings) -> Outcome:
    m, saved_at, quality, from_file = _compression(ctx, s.min_edge_ratio)
    if not m.measured and saved_at is None:
        side = 8 * measures.JPEG_MIN_BLOCKS
        needs = f"compression is read on a grid of 8×8 px blocks at least {side}×{side} px"
        return _unmeasured(ctx, s.min_quality, "measure JPEG compression", needs, ctx.decoded.detail_gray)
    facts = {"quality": quality}
    # A JPEG file's compression is JPEG's; any other file's is named by its format, whose own compression (WebP's)
    # is not what the 8×8 grid read here measures.
    given = FORMAT_NAMES.get(ctx.image.mime)
    if quality >= s.min_quality:
        if quality >= 100:
            detail = "no heavy JPEG compression found" if given == "JPEG" else "no heavy compression found"
        elif from_file:
            detail = f"JPEG compression is acceptable (the file is saved at quality {number(saved_at)})"
        else:
            detail = f"compression is acceptable (quality about {number(quality)} on JPEG's 1-100 scale)"
        return Outcome(True, quality, s.min_quality, detail, facts=facts)
    if from_file:
        # The file's own tables: exact, graded on the quality.
        detail = (
            f"heavy JPEG compression: the file is saved at JPEG quality {number(saved_at)} (needs ≥ "
            f"{number(s.min_quality)}), so 8×8 blocks and smeared detail show"
        )
        return Outcome(False, quality, s.min_quality, detail, facts=facts)
    what = "this JPEG" if given == "JPEG" else f"this {given} image" if given else "this image"
    detail = (
        f"heavy compression: {what} shows the 8×8 blocks of compression at quality about {number(quality)} "
        f"(JPEG's 1-100 scale; needs ≥ {number(s.min_quality)}); their edges are {number(m.edge_ratio)}× stronger "
        "than other edges"
    )
    # An estimate from pixels whose grid shows only faintly is no proof of heavy compression: it never regenerates
    # the image on its own.
    severity = "moderate" if m.edge_ratio < STRONG_EDGE_RATIO and quality < 7 else None
    return Outcome(False, quality, s.min_quality, detail, severity=severity, facts=facts)


class BandingSettings(PromptSettings):
    max_banded_share: float = Field(
        0.06, ge=0, le=1, description="share of the image allowed on stairs of gradients drawn in visible steps"
    )
    min_lattice: float = Field(
        6.0, ge=2, le=128, description="spacing of the values used (levels) from which an image counts as posterised"
    )
    backdrop_shadow: bool = Field(
        False,
        description="also look at the soft shadow on a plain white backdrop (a product shot): its greys drawn in "
        "steps of a few levels are banding even though they cover too little of the frame for max_banded_share",
    )
    min_shadow_share: float = Field(
        0.01, ge=0, le=1, description="least share of the frame the shadow's light greys must cover to be judged"
    )


@kind.check(
    "banding",
    BandingSettings,
    bands=Bands(16.0, 32.0, higher_is_better=False, measure="jump between neighbouring bands, in levels of 255"),
    fix="Render smooth gradients (sky, shadows, backgrounds) with continuous tones and full colour depth; no visible "
    "bands, contour lines or posterisation.",
)
def banding(ctx: JudgeContext, s: BandingSettings) -> Outcome:
    return _unless_asked(ctx, s, _banding_outcome(ctx, s), ASKED_PIXEL_ART)


def _banding_outcome(ctx: JudgeContext, s: BandingSettings) -> Outcome:
    m = ctx.memo("banding", lambda: measures.banding(ctx.decoded.rgb))
    if not m.measured:
        needs = f"a staircase of bands needs at least {measures.BANDING_MIN_SIDE} px across or down"
        return _unmeasured(ctx, s.max_banded_share, "look for banding or posterisation", needs, ctx.decoded.rgb)
    if m.lattice >= s.min_lattice:
        bits = math.log2(256 / m.lattice)
        detail = (
            f"image is posterised: its colours sit on steps {number(m.lattice)} levels apart (about {bits:.0f} bits "
            f"per channel instead of 8), so gradients break into visible bands"
        )
        return Outcome(False, m.lattice, s.min_lattice, detail, facts={"step": m.lattice})
    if m.share > s.max_banded_share:
        detail = (
            f"gradients are drawn in visible steps: {pct(m.share)} of the image lies on bands "
            f"{number(m.step)} levels apart (allowed {pct(s.max_banded_share)})"
        )
        return Outcome(False, m.share, s.max_banded_share, detail, graded=m.step, facts={"step": m.step})
    if s.backdrop_shadow and (banded := _banded_shadow(ctx, s)) is not None:
        return banded
    return Outcome(True, m.share, s.max_banded_share, f"gradients are smooth ({pct(m.share)} banded)")


def _banded_shadow(ctx: JudgeContext, s: BandingSettings) -> Outcome | None:
    """The failure of a soft shadow on a white backdrop drawn in bands, or None (no backdrop, no shadow, smooth)."""

    def measure() -> measures.ShadowBanding | None:
        colours = measures.strided(ctx.decoded.rgb, measures.BANDING_SIDE)
        backdrop = measures.white_backdrop(colours)
        if backdrop is None:
            return None
        return measures.shadow_banding(colours, backdrop)

    shadow = ctx.memo("shadow-banding", measure)
    if shadow is None or shadow.share < s.min_shadow_share or shadow.lattice < measures.BAND_MIN_STEP:
        return None
    detail = (
        f"the soft shadow on the white backdrop is drawn in visible bands: its greys ({pct(shadow.share)} of the "
        f"image) sit on steps {number(shadow.lattice)} levels apart instead of fading smoothly to white"
    )
    # A banded shadow spoils the shot's polish, never the product: a person decides.
    severity = "moderate" if shadow.lattice >= 2 * measures.BAND_MIN_STEP else "mild"
    facts = {"step": shadow.lattice, "where": "shadow"}
    return Outcome(False, shadow.lattice, s.min_lattice, detail, severity=severity, facts=facts)


#: Luminance levels within which two bands count as the same colour (one frame, one backdrop).
SAME_BAND_COLOUR = 12.0
#: Levels (the channel that differs most) within which two bands of one luminance count as the same colour.
SAME_BAND_CHANNEL = 24.0
#: Depths (shares of the side) within which bands on opposite sides are one pair of bars.
TWIN_DEPTH = 0.006


def _flat_bands(ctx: JudgeContext) -> list[measures.FlatBand]:
    return ctx.memo("flat-bands", lambda: measures.flat_bands(_thumbnail_gray(ctx, 512)))


def _bands_unmeasured(ctx: JudgeContext, threshold: float, what: str) -> Outcome | None:
    """The pass of a check on flat edge bands when the image has too few lines either way to search an edge."""
    gray = _thumbnail_gray(ctx, 512)
    if max(gray.shape) >= measures.BAND_MIN_LINES:
        return None
    needs = f"an edge is searched across at least {measures.BAND_MIN_LINES} px"
    return _unmeasured(ctx, threshold, what, needs, gray)


#: A horizon's sides: the smoother one at most HORIZON_SMOOTH levels of mean change between neighbouring pixels (on
#: the 512 px copy: a sky with clouds or a plain wall reads 2-4) and the other at least HORIZON_TEXTURE times as
#: busy. Two parts of one picture stitched along a line (a half brightened or shifted, a tile's edge) are as busy
#: as each other on both sides (within 1.2 times on photographs), whatever they show.
HORIZON_SMOOTH, HORIZON_TEXTURE = 6.0, 2.0


def _horizon(ctx: JudgeContext, seam: measures.SeamMeasure) -> bool:
    """Whether a horizontal seam is the edge between a smooth region and a busy one (a horizon, a wall meeting the
    floor), measured on strips an eighth of the height tall either side of it."""
    gray = _thumbnail_gray(ctx, 512).astype(np.float32)
    height = gray.shape[0]
    row = round(seam.position * height)
    reach = max(4, height // 8)
    above, below = gray[max(0, row - reach) : row - 1], gray[row + 2 : row + reach]
    if min(above.shape[0], below.shape[0]) < 3:
        return False

    def busy(strip: np.ndarray) -> float:
        return float(np.mean(np.abs(np.diff(strip, axis=1))) + np.mean(np.abs(np.diff(strip, axis=0))))

    smooth, textured = sorted((busy(above), busy(below)))
    return smooth <= HORIZON_SMOOTH and textured >= HORIZON_TEXTURE * max(smooth, 0.5)


def _edge_of_flat_band(ctx: JudgeContext, seam: measures.SeamMeasure) -> bool:
    """Whether a seam is the inner edge of a flat band at the image's edge: that is a bar or a cut-off generation,
    which `borders` and `truncated` report in their own words, not two pictures stitched together."""
    across = {"horizontal": ("top", "bottom"), "vertical": ("left", "right")}.get(seam.direction, ())
    for band in _flat_bands(ctx):
        if band.side in across:
            edge = band.depth if band.side in ("top", "left") else 1 - band.depth
            if abs(edge - seam.position) <= 0.02:
                return True
    return False


def _band_rgb(ctx: JudgeContext, band: measures.FlatBand) -> np.ndarray:
    """The median colour (R, G, B) of a flat band."""

    def compute() -> np.ndarray:
        rgb = ctx.decoded.rgb
        height, width = rgb.shape[:2]
        extent = max(1, round(band.depth * (height if band.side in ("top", "bottom") else width)))
        region = {
            "top": rgb[:extent],
            "bottom": rgb[height - extent :],
            "left": rgb[:, :extent],
            "right": rgb[:, width - extent :],
        }[band.side]
        return np.median(measures.strided(region, 128).reshape(-1, 3), axis=0)

    colour: np.ndarray = ctx.memo(f"band-rgb:{band.side}:{band.depth}", compute)
    return colour


def _band_colour(ctx: JudgeContext, band: measures.FlatBand) -> str:
    return _hex(_band_rgb(ctx, band))


def _same_band_colour(ctx: JudgeContext, one: measures.FlatBand, other: measures.FlatBand) -> bool:
    """Whether two flat bands are one colour: of one luminance, and of one hue (a flag's green and red bands have
    the same luminance)."""
    if abs(one.level - other.level) > SAME_BAND_COLOUR:
        return False
    difference = np.abs(_band_rgb(ctx, one) - _band_rgb(ctx, other))
    return bool(difference.max() <= SAME_BAND_CHANNEL)


#: Share of the image a four-sided band covers past which it is a backdrop around a subject, when the subject is
#: drawn flat: a picture inside a frame keeps most of the image (a frame a fifth of the side deep covers 64%).
WIDE_MARGINS = 0.7
#: Levels a flat subject's neighbouring pixels may differ by: a small card or button keeps JPEG's ringing around its
#: letters in most of it (a photo inside a frame reads 0.3 at this step, a button saved at JPEG quality 60 0.9).
FLAT_SUBJECT_STEP = 3.0


class BordersSettings(PromptSettings):
    min_band: float = Field(
        0.015, gt=0, le=1, description="thinnest bar counted, as a share of the image's height or width"
    )
    min_straight: float = Field(
        0.6, gt=0, le=1, description="share of a bar's inner edge where it must meet content along a straight line"
    )
    max_soft: float = Field(
        0.5,
        gt=0,
        le=1,
        description="share of a band's inner edge that may fade in (a cast shadow) for the band to count as a bar",
    )


@kind.check(
    "borders",
    BordersSettings,
    bands=Bands(0.1, 0.25, higher_is_better=False, measure="share of the image covered by the bars or frame"),
    fix="Fill the whole frame edge to edge with the scene: no letterbox or pillarbox bars, borders or frames.",
)
def borders(ctx: JudgeContext, s: BordersSettings) -> Outcome:
    return _unless_asked(ctx, s, _borders_outcome(ctx, s), ASKED_BORDER)


def _borders_outcome(ctx: JudgeContext, s: BordersSettings) -> Outcome:
    if unmeasured := _bands_unmeasured(ctx, s.min_band, "look for bars or a frame along its edges"):
        return unmeasured
    found = _flat_bands(ctx)

    def same(one: measures.FlatBand, other: measures.FlatBand) -> bool:
        return _same_band_colour(ctx, one, other)

    def span(band: measures.FlatBand) -> float:
        """The share of its side a band's inner edge can meet content along: a frame's sides take the rest."""
        across = ("left", "right") if band.side in ("top", "bottom") else ("top", "bottom")
        return max(1e-6, 1 - sum(o.depth for o in found if o.side in across and same(o, band)))

    # A bar ends in a hard straight cut; a band whose edge fades in is a backdrop under an object's cast shadow.
    hard = {b.side: b for b in found if b.soft < s.max_soft}
    cuts = {side: b for side, b in hard.items() if b.straight >= s.min_straight * span(b)}
    opposite = {"top": "bottom", "bottom": "top", "left": "right", "right": "left"}
    for side, band in hard.items():
        twin = cuts.get(opposite[side])
        # Bars and frames are drawn in pairs of one depth: where the picture is dark (or light) like the bar along
        # part of its edge, the cut shows along less of it, and its twin on the other side vouches for it.
        if (
            side not in cuts
            and twin is not None
            and same(twin, band)
            and abs(twin.depth - band.depth) <= TWIN_DEPTH
            and band.straight >= s.min_straight * span(band) / 2
        ):
            cuts[side] = band
    by_side = {side: b for side, b in cuts.items() if b.depth >= s.min_band}

    def pair(one: str, other: str, across: tuple[str, str]) -> bool:
        if one not in by_side or other not in by_side or not same(by_side[one], by_side[other]):
            return False
        # Bars hold a picture that runs from edge to edge between them; when the same flat colour also runs
        # along a side across them, it is one backdrop wrapping a subject (or a frame, judged below).
        return not any(b.side in across and same(b, by_side[one]) for b in found)

    # A frame is cut straight on all four sides in one colour, thick enough somewhere to be seen (a frame of even
    # pixels is thinner, as a share, along the longer side).
    frame = len(cuts) == 4 and bool(by_side) and all(same(cuts["top"], b) for b in cuts.values())
    if frame and measures.open_corners(_thumbnail_gray(ctx, 512), list(cuts.values()), cuts["top"].level) > 1:
        # The flat colour reaches into the corners of what it surrounds: a rounded or irregular object on a
        # backdrop, not a picture inside a frame.
        frame = False
    if (
        frame
        and measures.covered_share(list(cuts.values())) >= WIDE_MARGINS
        and _drawn_flat(_inside_bands(ctx, list(cuts.values())), FLAT_SUBJECT_STEP)
    ):
        # A flat rectangle (a business card, a button, a sign) in wide margins of one colour: a subject on its
        # backdrop. A frame is a thin band around a picture, and the picture inside it is shaded.
        frame = False
    if frame:
        by_side = cuts
        band_kind, sides, what = "frame", ("top", "bottom", "left", "right"), "a frame of {colour} on all four sides"
    elif pair("top", "bottom", ("left", "right")):
        band_kind, sides, what = "letterbox", ("top", "bottom"), "letterbox bars of {colour} at the top and bottom"
    elif pair("left", "right", ("top", "bottom")):
        band_kind, sides, what = "pillarbox", ("left", "right"), "pillarbox bars of {colour} at the left and right"
    else:
        return Outcome(True, 0.0, s.min_band, "no bars or frame along the edges")
    chosen = [by_side[side] for side in sides]
    if band_kind != "frame" and measures.bands_between(_thumbnail_gray(ctx, 512), chosen):
        # Flat bands from one bar to the other: the image is drawn in bands (a flag, stripes), not a picture
        # between bars.
        return Outcome(True, 0.0, s.min_band, "no bars or frame along the edges: the image is drawn in flat bands")
    covered = measures.covered_share(chosen)
    colour = _band_colour(ctx, max(chosen, key=lambda b: b.depth))
    detail = f"the image has {what.format(colour=colour)}, covering {covered:.0%} of it"
    facts = {"kind": band_kind, "share": round(covered, 3), "colour": colour}
    return Outcome(False, round(covered, 4), s.min_band, detail, facts=facts)


class TruncatedSettings(CheckSettings):
    min_depth: float = Field(
        0.08, gt=0, le=1, description="shallowest flat band at one edge reported, as a share of the image"
    )
    min_straight: float = Field(
        0.6, gt=0, le=1, description="share of the band's inner edge where it must meet content along a straight line"
    )


@kind.check(
    "truncated",
    TruncatedSettings,
    bands=Bands(0.12, 0.25, higher_is_better=False, measure="depth of the flat band, as a share of the image"),
    fix="Render the complete picture all the way to the {{ facts.side }} edge; the last image stopped part way "
    "and left a flat band.",
)
def truncated(ctx: JudgeContext, s: TruncatedSettings) -> Outcome:
    if unmeasured := _bands_unmeasured(ctx, s.min_depth, "look for a flat band where the picture stops"):
        return unmeasured
    found = _flat_bands(ctx)
    candidates = []
    for band in found:
        if band.depth < s.min_depth or band.straight < s.min_straight:
            continue
        # A band that matches another edge's band is a backdrop, a margin or a letterbox, not a cut.
        if any(
            o.side != band.side and o.depth >= 0.01 and abs(o.level - band.level) <= SAME_BAND_COLOUR for o in found
        ):
            continue
        candidates.append(band)
    opposite = {"top": "bottom", "bottom": "top", "left": "right", "right": "left"}
    for band in list(candidates):
        twin = next((o for o in found if o.side == opposite[band.side] and o.straight >= s.min_straight), None)
        # Flat bands from this edge to the other, each a different colour: a design drawn in bands (a tricolour
        # flag, stripes), not a picture that stopped part way.
        if twin is not None and measures.bands_between(_thumbnail_gray(ctx, 512), [band, twin]):
            candidates.remove(band)
    if not candidates:
        return Outcome(True, 0.0, s.min_depth, "the picture reaches every edge")
    band = max(candidates, key=lambda b: b.depth)
    colour = _band_colour(ctx, band)
    if _drawn_ground(ctx, band):
        detail = (
            f"the {band.side} {band.depth:.0%} is a flat {colour} band in a picture drawn in flat colours "
            "throughout: a painted ground or sea, not a cut"
        )
        return Outcome(True, 0.0, s.min_depth, detail)
    facts = {"side": band.side, "share": band.depth, "colour": colour}
    if band.side == "top":
        # A generation that stops leaves its flat fill after the rows it wrote, at the bottom (or the right); a
        # flat band at the top is most often a clear sky or a plain ceiling. A person looks; a regeneration is not
        # bought for it.
        detail = (
            f"the top {band.depth:.0%} is one flat {colour} band: a clear sky or plain wall, or a generation "
            "that left that part empty"
        )
        return Outcome(False, band.depth, s.min_depth, detail, severity="mild", facts=facts)
    detail = f"the {band.side} {band.depth:.0%} is a flat {colour} band: the generation looks cut off"
    return Outcome(False, band.depth, s.min_depth, detail, facts=facts)


#: A picture drawn in flat colours: at least this share of it within FLAT_STEP levels of its neighbours on the
#: 512 px copy. Flat vector art and pixel art read 0.98-0.99 (only their anti-aliased outlines
#: move); photographs and shaded renders cut by a flat band read at most 0.75, product shots on white 0.97.
FLAT_DRAWN_SHARE, FLAT_STEP = 0.9, 1.0
#: Least spread between a band's channels (levels) for it to be a painted colour: what a stopped generation leaves
#: is a decoder's or a sampler's fill, grey, black or white; a lawn, a sea or sand has a hue.
GROUND_HUE = 30.0


def _drawn_ground(ctx: JudgeContext, band: measures.FlatBand) -> bool:
    """Whether a flat band is the ground of a flat illustration (a lawn, a sea, sand under a house or a boat), not the
    fill a generation left where it stopped: the rest of the picture is drawn in flat colours too, and the band has a
    hue where a fill is neutral."""
    rgb = _band_rgb(ctx, band)
    if float(rgb.max() - rgb.min()) < GROUND_HUE:
        return False
    gray = _thumbnail_gray(ctx, 512).astype(np.float32)
    height, width = gray.shape
    extent = round(band.depth * (height if band.side in ("top", "bottom") else width))
    ground = {"top": gray[:extent], "bottom": gray[-extent:], "left": gray[:, :extent], "right": gray[:, -extent:]}
    # A painted ground is as noise-free as the rest of the picture; a generation's fill may be noise.
    return _drawn_flat(_inside_bands(ctx, [band])) and _drawn_flat(ground[band.side])


def _inside_bands(ctx: JudgeContext, bands: list[measures.FlatBand]) -> np.ndarray:
    """The part of the 512 px luminance copy that the flat edge bands leave."""
    gray = _thumbnail_gray(ctx, 512)
    height, width = gray.shape
    depth = {band.side: band.depth for band in bands}
    top, bottom = round(depth.get("top", 0) * height), height - round(depth.get("bottom", 0) * height)
    left, right = round(depth.get("left", 0) * width), width - round(depth.get("right", 0) * width)
    return gray[top:bottom, left:right].astype(np.float32)


def _drawn_flat(gray: np.ndarray, step_levels: float = FLAT_STEP) -> bool:
    """Whether a picture is drawn in flat colours (vector art, pixel art, a card or a button), not photographed or
    shaded: nearly all of it as flat as its neighbours, only the outlines between its regions move."""
    if min(gray.shape) < 8:
        return False
    step = np.maximum(np.abs(np.diff(gray, axis=1))[:-1], np.abs(np.diff(gray, axis=0))[:, :-1])
    return float(np.mean(step <= step_levels)) >= FLAT_DRAWN_SHARE


class TilingSettings(CheckSettings):
    max_similarity: float = Field(
        0.8, gt=0, le=1, description="largest similarity (0-1) allowed between parts of the image at a tile's shift"
    )
    min_contrast: float = Field(
        0.25,
        ge=0,
        le=1,
        description="how much stronger the repeat must be than at any other shift (a regular pattern repeats there)",
    )
    max_seam: float = Field(
        0.15,
        ge=0,
        le=1,
        description="how much more of a half or third line may show a sharp jump than the lines near it",
    )
    max_mirror: float = Field(
        0.93,
        gt=0,
        le=1,
        description="largest similarity (0-1) allowed between a busy part of the image and the mirror image of "
        "another (a pasted mirror reads 0.95-1; symmetric products and natural scenes stay under 0.9)",
    )
    min_seam_step: float = Field(4.0, ge=0, le=255, description="smallest jump across a seam counted, in levels")
    seam_moderate_step: float = Field(
        20.0, ge=0, le=255, description="a seam whose jump reaches this many levels fails moderately, else mildly"
    )
    prompt_param: str = Field(
        "prompt",
        description="param whose words may ask for a picture in panels (a diptych, a 2x2 grid, before and after): "
        "gutters and seams between the pictures are then what was asked for",
    )


_COUNT = r"(?:\d+|two|three|four|five|six|seven|eight|nine|ten|twelve|sixteen)"
_PICTURES = r"(?:panels?|pictures|photos|photographs|images|portraits|shots|frames|thumbnails|variations|views)"
#: Words in a prompt that ask for one image made of several pictures: then its gutters and seams are the layout
#: ordered, not a defect. A named layout, a count of panels ("two panels", "a 4-panel"), or a grid of pictures;
#: "side by side" or "grid" alone are not enough ("two shoes side by side", "a grid of streets" are one picture).
ASKED_LAYOUT = re.compile(
    r"\b(?:diptych|triptych|polyptych|contact[- ]sheets?|comic[- ]strips?|comic[- ]page|storyboard|photo[- ]strip"
    r"|photo[- ]?booth strip|collage|split[- ]screen|before[- ]and[- ]after|before ?/ ?after|sprite[- ]sheet"
    r"|character[- ]sheet|(?:side[- ]by[- ]side|split) comparison"
    rf"|{_COUNT}[- ](?:separate |different |equal |square |comic |side[- ]by[- ]side |stacked )?panels?"
    rf"|\d+ ?[x×] ?\d+ (?:grid|panels?|layout|collage|tiles|mosaic)|grid of (?:{_COUNT} )?(?:\w+ )?{_PICTURES}"
    rf"|(?:{_COUNT} |\d+ ?[x×] ?\d+ )?(?:panel|photo|picture|image) grid)\b",
    re.IGNORECASE,
)
#: A passage the prompt quotes is text the picture shows ("a sign that says \"BEFORE AND AFTER\""), not a layout.
_QUOTED = re.compile(r'"[^"]*"|“[^“”]*”|„[^„“”]*[“”]|«[^«»]*»')
#: A word that refuses what follows it ("one photo, not a collage"), looked for among the few words before a match.
_REFUSAL = re.compile(r"\b(?:no|not|without|never|nor|avoid|instead of|rather than)\b", re.IGNORECASE)


_NUMBERS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "twelve": 12, "sixteen": 16,
}  # fmt: skip
#: Words of a prompt that say how many panels the picture has: a grid's rows and columns ("a 2x2 grid", "3×3
#: panels"), a count of panels or pictures in a grid ("four panels", "a 3-panel", "a grid of six photos"), or a named
#: layout of a known count (a diptych, a triptych, before and after).
ASKED_PANEL_COUNT = re.compile(
    rf"\b(?:(?P<across>\d+) ?[x×] ?(?P<down>\d+) (?:grid|panels?|layout|collage|tiles|mosaic)"
    rf"|(?P<count>{_COUNT})[- ](?:separate |different |equal |square |comic |side[- ]by[- ]side |stacked )?panels?"
    rf"|grid of (?P<grid>{_COUNT}) (?:\w+ )?{_PICTURES}"
    r"|(?P<two>diptych|before[- ]and[- ]after|before ?/ ?after|split[- ]screen|(?:side[- ]by[- ]side|split) comparison)"
    r"|(?P<three>triptych))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AskedPanels:
    #: The prompt's words ("a 2x2 grid", "triptych").
    words: str
    #: How many panels they ask for.
    count: int
    #: Columns and rows when the words name them ("2x3 grid"), else None.
    grid: tuple[int, int] | None = None


def asked_panels(prompt: object) -> AskedPanels | None:
    """How many panels ``prompt`` asks for ("a 2x2 grid of portraits": 4, "a triptych": 3), or None when it names no
    count (a collage, a contact sheet, a comic strip) or refuses the layout ("one photo, not a diptych")."""
    words = asked_in(prompt, ASKED_PANEL_COUNT)
    if words is None:
        return None
    match = ASKED_PANEL_COUNT.fullmatch(words)
    if match is None:
        return None
    if match["across"]:
        across, down = int(match["across"]), int(match["down"])
        return AskedPanels(words, across * down, (across, down)) if 0 < across * down <= 64 else None
    if match["two"]:
        return AskedPanels(words, 2)
    if match["three"]:
        return AskedPanels(words, 3)
    number = (match["count"] or match["grid"]).lower()
    count = int(number) if number.isdigit() else _NUMBERS[number]
    return AskedPanels(words, count) if 2 <= count <= 64 else None


def asked_layout(prompt: object) -> str | None:
    """The words of ``prompt`` that ask for a picture in panels ("a 2x2 grid of portraits", "before and after"),
    or None when it asks for one picture (or refuses a layout: "a single photo, not a collage")."""
    return asked_in(prompt, ASKED_LAYOUT)


def asked_in(prompt: object, asking: re.Pattern[str]) -> str | None:
    """The first words of ``prompt`` that ``asking`` matches outside quoted text and not refused by the few words
    before them ("no grain", "without a border"); None when the prompt does not ask for it."""
    if not isinstance(prompt, str):
        return None
    unquoted = _QUOTED.sub(" ", prompt)
    for match in asking.finditer(unquoted):
        # The clause before the match, up to three words back: "not a collage", "no grid of variations".
        before = re.split(r"[,;:.!?]", unquoted[: match.start()])[-1].split()[-3:]
        if not _REFUSAL.search(" ".join(before)):
            return match.group(0)
    return None


@kind.check(
    "tiling",
    TilingSettings,
    bands=Bands(0.82, 0.86, higher_is_better=False, measure="similarity (0-1) of the repeated parts"),
    fix="{% if facts.asked_panels %}Lay the picture out as exactly {{ facts.asked_panels }}, as the prompt asks, "
    "each panel a separate picture; the last image had {{ facts.found_panels }}.{% else %}Compose one continuous "
    "scene across the whole frame; do not repeat, tile or stitch parts of the image.{% endif %}",
)
def tiling(ctx: JudgeContext, s: TilingSettings) -> Outcome:
    m = ctx.memo("repetition", lambda: measures.repetition(_thumbnail_gray(ctx, 512)))
    repeated = m.similarity > s.max_similarity and m.similarity - m.pattern >= s.min_contrast
    if repeated:
        across, down = m.tiles
        halves = "left and right" if across == 2 else "top and bottom"
        if across > 1 and down > 1:
            layout = f"it is a {across}×{down} grid of copies of one tile"
        elif across == 2 or down == 2:
            layout = f"its {halves} halves are copies"
        else:
            layout = f"it is {max(across, down)} copies side by side" + (" across" if across > 1 else " down")
        detail = (
            f"the image repeats itself: {layout} (similarity {number(m.similarity)}, "
            f"allowed {number(s.max_similarity)})"
        )
        facts = {"layout": f"{across}×{down}"}
        return Outcome(False, m.similarity, s.max_similarity, detail, facts=facts)
    if mirror := _mirrored(ctx, s):
        return mirror
    # Copies of one picture fail above whatever the prompt says; separate pictures are a layout it may ask for.
    asked = asked_layout(ctx.params.get(s.prompt_param)) if s.prompt_param else None
    count = asked_panels(ctx.params.get(s.prompt_param)) if s.prompt_param else None
    if split := _panels(ctx):
        dividers = ctx.memo("panel-gutters", lambda: _panel_gutters(ctx))
        ways = [[g.position for g in dividers if g.direction == way] for way in ("vertical", "horizontal")]
        if count and (wrong := _wrong_count(m, count, *ways)):
            return wrong
        if asked:
            return Outcome(True, m.similarity, s.max_similarity, _as_asked(split[0], asked), facts=split[2])
        return Outcome(False, m.similarity, s.max_similarity, split[0], severity=split[1], facts=split[2])
    found = ctx.memo("seam", lambda: measures.seam_in_lines(*ctx.decoded.line_grays))
    if found.direction == "horizontal" and _horizon(ctx, found):
        # The line where a smooth sky or wall meets textured sea, land or floor: a straight, sharp, level edge across
        # the frame, often at the middle, and the scene's own; what crosses it the other way may still be a seam.
        found = found.crossing or replace(found, direction="", step=0.0, coverage=0.0, nearby=0.0, crossing=None)
    if (
        found.coverage - found.nearby > s.max_seam
        and found.step >= s.min_seam_step
        and not _edge_of_flat_band(ctx, found)
    ):
        where = f"{found.position:.0%} of the {'width' if found.direction == 'vertical' else 'height'}"
        detail = (
            f"a straight {found.direction} seam runs at {where}: a jump of {number(found.step)} levels along "
            f"{found.coverage:.0%} of it, where the lines beside it show none"
        )
        # A seam is a stitching fault, not a repeated picture: it is never graded on similarity.
        severity = "moderate" if found.step >= s.seam_moderate_step else "mild"
        facts = {"layout": "seam", "direction": found.direction}
        cross = found.crossing
        if (
            cross is not None
            and cross.coverage - cross.nearby > s.max_seam
            and cross.step >= s.min_seam_step
            and not _edge_of_flat_band(ctx, cross)
        ):
            # Seams both ways: a grid of pictures pasted edge to edge (a grid of variations), not one picture.
            other = f"{cross.position:.0%} of the {'width' if cross.direction == 'vertical' else 'height'}"
            detail = (
                f"the image is a grid of separate pictures pasted edge to edge: straight seams cross at {where} "
                f"and {other} (jumps of {number(found.step)} and {number(cross.step)} levels where the lines "
                "beside them show none)"
            )
            severity = "severe" if min(found.step, cross.step) >= s.seam_moderate_step else "moderate"
            facts = {"layout": "seam grid", "direction": "both"}
        seams = [found] + ([cross] if facts["layout"] == "seam grid" and cross is not None else [])
        ways = [[seam.position for seam in seams if seam.direction == way] for way in ("vertical", "horizontal")]
        if count and (wrong := _wrong_count(m, count, *ways)):
            return wrong
        if asked:
            return Outcome(True, m.similarity, s.max_similarity, _as_asked(detail, asked), facts=facts)
        return Outcome(False, m.similarity, s.max_similarity, detail, severity=severity, facts=facts)
    if count and (m.measured or found.measured) and (wrong := _wrong_count(m, count, [], [])):
        # Panels were asked for and the picture shows no gutter and no seam: it is one picture.
        return wrong
    if not m.measured and not found.measured:
        needs = (
            f"repeats are looked for across at least {measures.TILING_MIN_SIDE} px each way, seams along "
            f"{measures.SEAM_MIN_LENGTH} px"
        )
        return _unmeasured(ctx, s.max_similarity, "look for repeated tiles or seams", needs, ctx.decoded.gray)
    return Outcome(True, m.similarity, s.max_similarity, "the image does not repeat itself and has no seam")


#: A mirror the other way or about another line stronger than this marks a symmetric design or a pattern.
MIRROR_DESIGN = 0.8

ASKED_SYMMETRY = re.compile(
    r"\b(?:symmetr(?:y|ic|ical|ically)|mirror(?:ed|ing|s)?|reflect(?:ed|ion|ions|ing)|kaleidoscop(?:e|ic)"
    r"|mandala|rorschach|ink ?blot|bilateral)\b",
    re.IGNORECASE,
)


def _mirrored(ctx: JudgeContext, s: TilingSettings) -> Outcome | None:
    """A failure when a busy part of the picture is an exact mirror image of another: the left half pasted
    flipped onto the right (a two-headed motorbike), or the top onto the bottom. A symmetric object on a plain
    ground (a bottle, a logo) is not counted, and a prompt that asks for symmetry or a reflection gets it."""
    m = ctx.memo("mirror", lambda: measures.mirrored(_thumbnail_gray(ctx, 512)))
    if m.similarity <= s.max_mirror:
        return None
    # A design symmetric both ways (a mandala, a rosette) or about many lines (a chessboard, a tiled pattern) is
    # drawn so; a picture pasted onto its mirror image mirrors about one line only.
    if max(m.other_way, m.elsewhere) > MIRROR_DESIGN:
        return None
    if s.prompt_param and asked_in(ctx.params.get(s.prompt_param), ASKED_SYMMETRY) is not None:
        return None
    if m.axis == "vertical":
        layout = f"the two sides of a vertical line at {m.position:.0%} of the width are mirror images"
        # A scene copied onto its own mirror image doubles what it shows (two heads, two front wheels): never shipped.
        severity = "severe"
    else:
        layout = f"the parts above and below a line at {m.position:.0%} of the height are mirror images"
        # A still lake mirrors what stands above it: a person looks.
        severity = "moderate"
    detail = (
        f"the image is mirrored: {layout} (similarity {number(m.similarity)} of the mirrored detail, "
        f"allowed {number(s.max_mirror)})"
    )
    facts = {"layout": "mirror", "direction": m.axis}
    return Outcome(False, m.similarity, s.max_mirror, detail, severity=severity, facts=facts)


#: Most panels a way counted when checking a prompt's count (a 2x2 grid, a strip of eight).
MOST_PANELS = 8
#: How far (share of the side) a divider may lie from where an even layout of n panels puts one.
PANEL_POSITION_TOLERANCE = 0.06


def _panel_counts(positions: list[float]) -> list[int]:
    """The panel counts one way that dividers found at ``positions`` (shares of the side) allow: as many panels as
    dividers plus one or more (a gutter beside a dark panel of the same colour is missed), laid out evenly with
    every found divider where one of theirs falls. None found: any count, unless nothing was found either way."""
    counts = []
    for n in range(len(positions) + 1, MOST_PANELS + 1):
        lines = [k / n for k in range(1, n)]
        if all(min((abs(p - line) for line in lines), default=1.0) <= PANEL_POSITION_TOLERANCE for p in positions):
            counts.append(n)
    return counts


def _wrong_count(
    m: measures.RepetitionMeasure, asked: AskedPanels, vertical: list[float], horizontal: list[float]
) -> Outcome | None:
    """The failure of a picture whose panels cannot be as many as the prompt asks for, or None when they can be.
    ``vertical`` / ``horizontal``: where the dividers found (gutters or seams) cross the width / the height."""
    if vertical or horizontal:
        layouts = [(a, d) for a in _panel_counts(vertical) for d in _panel_counts(horizontal)]
    else:
        layouts = [(1, 1)]
    if asked.grid is not None:
        fits = any(sorted(layout) == sorted(asked.grid) for layout in layouts)
    else:
        fits = any(a * d == asked.count for a, d in layouts)
    if fits:
        return None
    across, down = len(vertical) + 1, len(horizontal) + 1
    if across == down == 1:
        found_words = "no separate panels (one picture, or panels with no visible divide between them)"
    elif across > 1 and down > 1:
        found_words = f"{across * down} panels ({across}×{down})"
    else:
        found_words = f"{across * down} panels {'side by side' if across > 1 else 'stacked'}"
    wanted = f"{asked.count} panels" + (f" ({asked.grid[0]}×{asked.grid[1]})" if asked.grid else "")
    detail = f"the prompt asks for {wanted} ('{asked.words}') but the image shows {found_words}"
    facts = {"layout": f"{across}×{down}", "asked_panels": wanted, "found_panels": found_words}
    return Outcome(False, m.similarity, asked.count, detail, severity="moderate", facts=facts)


def _as_asked(detail: str, asked: str) -> str:
    """A found layout's description, for a pass: what it is, and the prompt's words that ask for it."""
    found = detail.split(":")[0]
    return f"{found}, as the prompt asks ('{asked}')"


def _gutter_rgb(ctx: JudgeContext, gutter: measures.Gutter) -> np.ndarray:
    """The median colour (R, G, B) along a gutter's centre line."""
    rgb = ctx.decoded.rgb
    height, width = rgb.shape[:2]
    if gutter.direction == "vertical":
        line = rgb[:, min(width - 1, int(gutter.position * width))]
    else:
        line = rgb[min(height - 1, int(gutter.position * height))]
    return np.median(measures.strided(line[np.newaxis], 256).reshape(-1, 3), axis=0)


def _inside_one_block(ctx: JudgeContext, gutter: measures.Gutter, offset: tuple[int, int]) -> bool:
    """Whether a gutter lies within one row (or column) of 8×8 JPEG blocks on the grid at ``offset`` (x, y)."""
    vertical = gutter.direction == "vertical"
    length = ctx.decoded.width if vertical else ctx.decoded.height
    grid = offset[0] if vertical else offset[1]
    start = math.floor(gutter.position * length - gutter.width / 2)
    end = start + max(1, gutter.width) - 1
    return (start - grid) // 8 == (end - grid) // 8


def _panel_gutters(ctx: JudgeContext) -> list[measures.Gutter]:
    """The straight flat gutters between panels (see :func:`_panels`)."""
    found = ctx.memo("gutters", lambda: measures.gutters(*ctx.decoded.line_grays))
    defaults = JpegBlockingSettings()
    if found and (heavy := _compression(ctx, defaults.min_edge_ratio))[2] < defaults.min_quality:
        # Heavy compression flattens whole rows of 8×8 blocks into one colour: a flat line inside one block row is
        # that, not a gutter between pictures (the compression criterion names the real fault).
        found = [g for g in found if not _inside_one_block(ctx, g, heavy[0].offset)]
    return found


def _panels(ctx: JudgeContext) -> tuple[str, str, dict[str, object]] | None:
    """A picture split into panels by straight flat gutters (a contact sheet, a grid of variations): what it is,
    how severe (a grid both ways is severe, one gutter moderate) and its facts; None when there is none."""
    found = ctx.memo("panel-gutters", lambda: _panel_gutters(ctx))
    if not found:
        return None
    across = 1 + sum(g.direction == "vertical" for g in found)
    down = 1 + sum(g.direction == "horizontal" for g in found)
    colour = _hex(_gutter_rgb(ctx, found[0]))
    where = ", ".join(f"{g.position:.0%} of the {'width' if g.direction == 'vertical' else 'height'}" for g in found)
    if across > 1 and down > 1:
        layout = f"a {across}×{down} grid of separate pictures"
    elif across > 1:
        layout = f"{across} separate pictures side by side"
    else:
        layout = f"{down} separate pictures stacked"
    plural = "s" if len(found) > 1 else ""
    detail = (
        f"the image is {layout}, split by straight {colour} gutter{plural} across the whole picture at {where}: "
        "a contact sheet, not one picture"
    )
    severity = "severe" if across > 1 and down > 1 else "moderate"
    return detail, severity, {"layout": f"{across}×{down}", "colour": colour}


class BrokenRegionsSettings(CheckSettings):
    max_block_share: float = Field(
        0.06, ge=0, le=1, description="share of the image allowed in flat rectangles pasted over the picture"
    )
    min_blocks: int = Field(3, ge=1, description="fewest such rectangles that count (one may be a sign or a screen)")
    max_streak_share: float = Field(
        0.02, ge=0, le=1, description="share of the rows (or columns) allowed to be flat streaks across the picture"
    )
    max_single_block_share: float = Field(
        0.1,
        ge=0,
        le=1,
        description="share of the image a single flat rectangle may cover: larger, it is no sign or screen but a "
        "part of the picture that broke down (a person checks it); several flat shapes are a flat design",
    )


@kind.check(
    "broken_regions",
    BrokenRegionsSettings,
    bands=Bands(0.04, 0.08, higher_is_better=False, measure="share of the image (or its rows) that is broken"),
    fix="Render the whole picture as one clean scene; the last image broke down into {{ facts.what }}.",
)
def broken_regions(ctx: JudgeContext, s: BrokenRegionsSettings) -> Outcome:
    m = ctx.memo("flat-damage", lambda: measures.flat_damage(ctx.decoded.rgb, ctx.decoded.planes))
    if not m.measured:
        side = 2 * measures.BLOCK_MIN_SIDE
        needs = f"flat blocks and streaks are looked for across at least {side} px"
        return _unmeasured(ctx, s.max_block_share, "look for broken regions", needs, ctx.decoded.rgb)
    if m.blocks > s.max_block_share and m.block_count >= s.min_blocks:
        what = "flat rectangles of solid colour pasted over parts of it"
        detail = (
            f"the picture is broken by {m.block_count} {what}: they cover {pct(m.blocks)} of it "
            f"(allowed {pct(s.max_block_share)})"
        )
        return Outcome(False, m.blocks, s.max_block_share, detail, facts={"what": what, "share": m.blocks})
    if m.streaks > s.max_streak_share:
        lines = "rows" if m.streak_direction == "rows" else "columns"
        what = f"{lines} smeared into streaks of flat colour"
        detail = (
            f"the picture is broken by streaks: {pct(m.streaks)} of its {lines} are smeared into one flat colour "
            f"over part of the picture (allowed {pct(s.max_streak_share)})"
        )
        return Outcome(False, m.streaks, s.max_streak_share, detail, facts={"what": what, "share": m.streaks})
    if m.block_count == 1 and m.blocks > s.max_single_block_share:
        # One flat rectangle this large inside a textured picture is rarely an object (a screen, a sign carry
        # some detail; a flat lay of flat objects has several): a person decides rather than the image regenerating.
        what = "a large flat rectangle of solid colour pasted over part of it"
        detail = (
            f"the picture may be broken: one flat rectangle of solid colour covers {pct(m.blocks)} of it (allowed "
            f"{pct(s.max_single_block_share)})"
        )
        facts = {"what": what, "share": m.blocks}
        return Outcome(False, m.blocks, s.max_single_block_share, detail, severity="moderate", facts=facts)
    return Outcome(True, m.blocks, s.max_block_share, "no flat blocks or streaks break the picture")


class PixelatedSettings(PromptSettings):
    min_block: float = Field(
        3.0, ge=2, le=512, description="side in pixels of blown-up square pixels from which an image is pixelated"
    )


@kind.check(
    "pixelated",
    PixelatedSettings,
    # A picture of 100 px or less blown up is unusable on every task (a marketplace thumbnail is larger).
    bands=Bands(256, 100, measure="the picture's own resolution in pixels (its longer side) under the blown-up blocks"),
    fix="Render the picture at its full resolution with real fine detail; the last image was a picture of about "
    "{{ facts.effective }} px blown up into visible square pixels.",
)
def pixelated(ctx: JudgeContext, s: PixelatedSettings) -> Outcome:
    return _unless_asked(ctx, s, _pixelated_outcome(ctx, s), ASKED_PIXEL_ART)


def _pixelated_outcome(ctx: JudgeContext, s: PixelatedSettings) -> Outcome:
    gray = _thumbnail_gray(ctx, 1024)
    if min(gray.shape) < 2 * measures.PIXEL_GRID_MIN:
        needs = f"a grid of blown-up pixels is looked for across at least {2 * measures.PIXEL_GRID_MIN} px"
        return _unmeasured(ctx, s.min_block, "look for blown-up pixels", needs, gray)

    def measure() -> measures.Pixelation:
        levels = np.unique(np.round(measures.strided(gray, 128))).size
        return measures.pixelation(gray, levels)

    m = ctx.memo("pixelation", measure)
    if m.block < s.min_block:
        return Outcome(True, m.block, s.min_block, "the image carries detail at its full resolution")
    across, down = m.effective
    if _jpeg_blocks_not_pixels(ctx, m):
        detail = (
            "the image carries detail at its full resolution: its 8×8 blocks are heavy JPEG compression (judged "
            "by the compression criterion), not a small picture blown up"
        )
        return Outcome(True, m.block, s.min_block, detail)
    # The analysis copy is at most 1024 px: the blown-up picture's size is the same whatever the copy's scale, the
    # blocks' side is the image's own width over it.
    block = ctx.decoded.width / max(across, 1)
    detail = (
        f"the image is pixelated: it is a picture of about {across}×{down} px blown up into square blocks "
        f"{number(round(block, 1))} px wide, so it shows no detail finer than that"
    )
    facts = {"effective": f"{across}×{down}"}
    return Outcome(False, round(block, 1), s.min_block, detail, graded=max(across, down), facts=facts)


#: JPEG's block side, in the file's own pixels.
JPEG_BLOCK = 8


def _jpeg_blocks_not_pixels(ctx: JudgeContext, m: measures.Pixelation) -> bool:
    """Whether a grid read as blown-up pixels is a heavily compressed JPEG's 8×8 blocks: the file is a JPEG of low
    quality and the grid's side is JPEG's block (or half of it, for a copy read at half size), in the file's own
    pixels. A small picture blown up and saved as such a JPEG still shows blocks larger than 8."""
    quality = ctx.memo("jpeg-file-quality", lambda: jpeg_file_quality(ctx.image))
    if quality is None or quality >= JPEG_BLOCKS_BELOW_QUALITY:
        return False
    across, down = m.effective
    side = max(ctx.decoded.width / max(across, 1), ctx.decoded.height / max(down, 1))
    return side <= JPEG_BLOCK + 0.5


#: Quality under which a JPEG's own 8×8 blocks can read as a grid of blown-up pixels.
JPEG_BLOCKS_BELOW_QUALITY = 50


#: Light the prompt asks for that colours a whole scene, and looks that tint a whole picture: the tint is asked for.
ASKED_TINT = re.compile(
    r"\b(?:sunsets?|sunrises?|golden[- ]hour|blue[- ]hour|dusk|dawn|twilight|afterglow|night(?:time)?|at night"
    r"|moon(?:lit|light)|starlight|neon|underwater|under water|undersea|aquarium|candle[- ]?(?:light|lit)"
    r"|fire[- ]?(?:light|lit)|campfire|fireplace|lamp[- ]?(?:light|lit)|lantern|tungsten|incandescent|sodium"
    r"|stage light(?:s|ing)?|disco|nightclub|club lights?|aurora|northern lights|infrared|thermal|x-ray"
    r"|sepia|monochrome|monochromatic|duotone|tritone|cyanotype|black[- ](?:and|&)[- ]white|b ?& ?w|tinted"
    r"|\w+[- ]toned|\w+[- ]tint(?:ed)?|toning|colou?r[- ]?grad(?:e|ed|ing)|graded|teal[- ](?:and|&)[- ]orange"
    r"|cross[- ]processed|lomo(?:graphy)?|kodachrome|ektachrome|portra|velvia|cinestill|expired film"
    r"|(?:vintage|retro|faded|old) (?:photo(?:graph)?|film|look|filter|print|polaroid)s?"
    r"|(?:warm|cool|cold) (?:tones?|light|lighting|palette|colou?rs?|hues?)"
    r"|(?:red|orange|amber|yellow|gold(?:en)?|green|cyan|teal|blue|purple|violet|magenta|pink)"
    r" (?:light|lights|lighting|glow|haze|fog|filter|gel|wash|hue|cast|atmosphere|ambien(?:ce|t light))"
    r"|(?:lit|bathed|washed|drenched|glowing) in (?:\w+ )?(?:red|orange|amber|yellow|gold(?:en)?|green|cyan|teal"
    r"|blue|purple|violet|magenta|pink))\b",
    re.IGNORECASE,
)


class ColourCastSettings(PromptSettings):
    min_chroma: float = Field(
        9.0,
        ge=0,
        le=100,
        description="least tint (CIELAB chroma) of a picture's whites, and the greys sharing it, that fails: a "
        "neutral grey reads 0, clean photos 1-5, a 10% blend toward green, magenta or blue 12-18",
    )
    min_warm_chroma: float = Field(
        11.0,
        ge=0,
        le=100,
        description="the same for a warm (orange or yellow) tint: warm light and warm materials (wood, skin, fur) "
        "tint many clean photos a little",
    )
    min_share: float = Field(
        0.06, ge=0, le=1, description="least share of the frame the tinted whites and greys must cover"
    )
    min_lightness_span: float = Field(
        18.0,
        ge=0,
        le=100,
        description="least lightness span (L*) the tinted surfaces must cover, from whites down to greys: one flat "
        "tinted colour (a pastel backdrop, a logo's ground) is a design, not a cast",
    )


#: Hue bands (degrees of CIELAB hue) where the colours of materials lie: a warm one (wood, skin, fur, sand, brick)
#: and a foliage one (grass, leaves). A picture's brightest surfaces there may be a material's own colour rather than
#: a tint: only a tint short of the band's largest chroma is read as a cast. Past those chromas a lawn (39), bricks
#: (34) or an orange dahlia (29-32) fills the frame.
WARM_HUES = (20.0, 100.0)
WARM_MAX_CHROMA = 26.0
FOLIAGE_HUES = (100.0, 135.0)
FOLIAGE_MAX_CHROMA = 30.0
#: Share of the picture left neutral grey (see measures.CAST_NEUTRAL_MIN) from which warm whites are a material's
#: own colour: a tint over everything leaves 0-0.4% of the picture neutral, a cream sign on a grey street front 47%.
WARM_NEUTRAL_SHARE = 0.05
#: Elsewhere: the largest tint judged, and the largest share of the frame past neutral on the other side (a blue
#: sky beside a yellow lamp, the teal ground of an orange flower, which a tint over everything would have reached).
MAX_CAST_CHROMA = 50.0
MAX_OPPOSITE = 0.4

#: Names of tints by CIELAB hue angle: each up to the angle given.
_TINT_NAMES = (
    (20.0, "red"),
    (65.0, "orange"),
    (100.0, "yellow"),
    (135.0, "yellow-green"),
    (195.0, "green"),
    (245.0, "cyan"),
    (290.0, "blue"),
    (320.0, "purple"),
    (360.0, "magenta"),
)


def tint_name(hue: float) -> str:
    return next(name for limit, name in _TINT_NAMES if hue % 360 <= limit)


def _signed(value: float) -> str:
    return f"{'−' if value < 0 else '+'}{number(abs(round(value, 1)))}"


@kind.check(
    "colour_cast",
    ColourCastSettings,
    fix="Render with neutral white balance: whites and greys (walls, paper, clouds, clothing) neutral, with no "
    "{{ facts.tint }} tint over the whole picture{% if facts.skin %}, and skin in natural skin tones{% endif %}.",
)
def colour_cast(ctx: JudgeContext, s: ColourCastSettings) -> Outcome:
    outcome = _unless_asked(ctx, s, _colour_cast_outcome(ctx, s), ASKED_TINT)
    tint = outcome.facts.get("tint")
    if outcome.passed or not s.prompt_param or not isinstance(tint, str) or outcome.facts.get("skin"):
        return outcome
    # A picture that is the colour the prompt asks the whole frame to be ("a blue gradient background"): the tint is
    # the asked colour. Only a colour near the tint's: a green cast over "a blue background" still fails.
    asked = asked_in(ctx.params.get(s.prompt_param), ASKED_FIELD_COLOUR)
    near = _NEAR_TINTS.get(asked.split()[0].lower().split("-")[0], ()) if asked is not None else ()
    if asked is None or tint not in near:
        return outcome
    # The asked colour excuses the backdrop only: a subject in front of it ("a red shoe on a blue background")
    # whose whites the same tint reaches is under a cast.
    subject = _subject_tint(ctx, s)
    if subject is not None and not subject.passed and subject.facts.get("tint") in near:
        detail = (
            f"{outcome.detail}; the prompt asks for a {asked}, but the subject in front of it is tinted "
            f"{subject.facts['tint']} as well"
        )
        return Outcome(
            False, outcome.measured, outcome.threshold, detail, severity=outcome.severity, facts=outcome.facts
        )
    return Outcome(True, outcome.measured, outcome.threshold, _as_asked(outcome.detail, asked), facts=outcome.facts)


def _subject_tint(ctx: JudgeContext, s: ColourCastSettings) -> Outcome | None:
    """The colour-cast outcome read on what stands in front of the backdrop; None when the backdrop fills the
    frame."""
    weakest = min(s.min_chroma, s.min_warm_chroma)
    apart = ctx.memo(
        f"colour-cast-apart-from-backdrop@{weakest}",
        lambda: measures.colour_cast_apart_from_backdrop(ctx.decoded.rgb, weakest),
    )
    return _cast_outcome(apart, s) if apart is not None else None


#: A colour asked for a whole frame: a background, a wallpaper, a gradient, a pattern of that colour.
ASKED_FIELD_COLOUR = re.compile(
    r"\b(?:red|orange|amber|yellow|gold(?:en)?|green|teal|turquoise|aqua|cyan|blue|navy|azure|purple|violet"
    r"|lavender|magenta|pink)(?:[- ]\w+){0,2}?[- ](?:background|backdrop|wallpaper|gradient|texture|pattern"
    r"|canvas|abstract|colou?r field)s?\b",
    re.IGNORECASE,
)
#: The tints (see tint_name) that a colour asked for covers.
_NEAR_TINTS: dict[str, tuple[str, ...]] = {
    "red": ("red", "magenta", "orange"),
    "orange": ("orange", "red", "yellow"),
    "amber": ("orange", "yellow"),
    "yellow": ("yellow", "orange", "yellow-green"),
    "gold": ("yellow", "orange"),
    "golden": ("yellow", "orange"),
    "green": ("green", "yellow-green", "cyan"),
    "teal": ("cyan", "green", "blue"),
    "turquoise": ("cyan", "green", "blue"),
    "aqua": ("cyan", "green", "blue"),
    "cyan": ("cyan", "green", "blue"),
    "blue": ("blue", "cyan", "purple"),
    "navy": ("blue", "cyan", "purple"),
    "azure": ("blue", "cyan"),
    "purple": ("purple", "blue", "magenta"),
    "violet": ("purple", "blue", "magenta"),
    "lavender": ("purple", "blue", "magenta"),
    "magenta": ("magenta", "purple", "red"),
    "pink": ("magenta", "red", "purple"),
}


def _colour_cast_outcome(ctx: JudgeContext, s: ColourCastSettings) -> Outcome:
    # Weaker tints than either least are returned alone: the rest of the measure is read only for a tint that may fail.
    weakest = min(s.min_chroma, s.min_warm_chroma)
    m = ctx.memo(f"colour-cast@{weakest}", lambda: measures.colour_cast(ctx.decoded.rgb, weakest))
    outcome = _cast_outcome(m, s)
    averaged = False
    if not outcome.passed and _grainy(ctx):
        # Grain biases the colour of the brightest single pixels (those it lifted): a grainy picture is read again on
        # block means. Only for a cast found, so the noise level is read (and shared with the noise check) only then.
        averaged = True
        m = ctx.memo(f"colour-cast-averaged@{weakest}", lambda: measures.colour_cast(ctx.decoded.rgb, weakest, True))
        outcome = _cast_outcome(m, s)
    if not outcome.passed and _smooth(ctx):
        # A gradient or a smooth field of colour (a wallpaper, a backdrop) has no surfaces a light could have tinted.
        detail = (
            f"no colour cast: the picture is a smooth field of colour with no edges (its tones change by at most "
            f"{number(round(_edges(ctx), 1))} levels over {measures.EDGE_DISTANCE} px), no surfaces a light tinted"
        )
        return Outcome(True, outcome.measured, outcome.threshold, detail)
    if not outcome.passed and measures.SKY_HUES[0] <= m.hue <= measures.SKY_HUES[1]:
        # A blue "white" may be a clear sky, the palest part of many a landscape. Read without it, the other surfaces
        # tell the light: neutral or of another colour, the sky was all; blue as well, it is a cast over everything.
        apart = ctx.memo(
            f"colour-cast-apart-from-sky@{weakest}@{averaged}",
            lambda: measures.colour_cast_apart_from_sky(ctx.decoded.rgb, weakest, averaged),
        )
        if apart is not None and (apart.chroma < weakest or _hue_apart(apart.hue, m.hue) > SKY_OTHER_HUE):
            outcome = _cast_outcome(apart, s)
        elif (
            (apart is None or apart.chroma >= measures.SKY_MIN_CHROMA)
            and _layered(ctx, m)
            and not _skin_out_of_range(m)
        ):
            # Blue as well, but as saturated as a sky (or sky all over), in bands from top to bottom as a sky over a
            # sea lies: a blue material whose own colour decides, where a blue light leaves a white or a grey far
            # paler and tints things side by side alike.
            water = _cast_outcome(apart, s) if apart is not None else None
            if water is None:
                why = "the picture is sky and water, with no white or grey surface to read a tint on"
                outcome = _blue_scene(m, outcome, why)
            elif water.passed:
                outcome = _blue_scene(
                    m, outcome, f"apart from the sky, {water.detail.removeprefix('no colour cast: ')}"
                )
    return outcome


def _layered(ctx: JudgeContext, m: measures.ColourCast) -> bool:
    """Whether a picture whose whites read blue is sky over water: its palest parts as saturated as a hazy horizon
    (a white or a grey a blue light tinted reads paler), and its colours in bands from top to bottom."""
    return m.chroma >= SKY_PALEST and ctx.memo("sky-layers", lambda: measures.sky_layers(ctx.decoded.rgb)) >= SKY_ROWS


#: Least chroma of the whites of a picture that is sky and water: the palest sky at a horizon and the sea's
#: brightest glints read 23-30; white sails, hulls and grey piers under a blue light of 30-50% 12-18.
SKY_PALEST = 20.0


#: Share of the variance of a picture's colour its rows explain from which a picture that is all sky reads as sky
#: (and water) rather than a scene under a blue light: bands of colour over the frame's height read 0.87-1, a room
#: or a street 0.2-0.5.
SKY_ROWS = 0.75


def _blue_scene(m: measures.ColourCast, failed: Outcome, why: str) -> Outcome:
    """A pass for a picture whose blue whites (``failed`` read them as a cast) are its sky and water."""
    detail = (
        f"no colour cast: the blue is the sky's and the water's (the brightest surfaces read a* {_signed(m.a)}, "
        f"b* {_signed(m.b)}, chroma {number(round(m.chroma, 1))}): {why}"
    )
    return Outcome(True, failed.measured, failed.threshold, detail)


def _edges(ctx: JudgeContext) -> float:
    return ctx.memo("colour-edge-contrast", lambda: measures.colour_edge_contrast(ctx.decoded.rgb))


def _smooth(ctx: JudgeContext) -> bool:
    return _edges(ctx) < SMOOTH_EDGE


#: Degrees of CIELAB hue between the light read with the sky and without it from which the sky alone made the tint.
SKY_OTHER_HUE = 60.0


def _hue_apart(hue: float, other: float) -> float:
    return abs((hue - other + 180) % 360 - 180)


def _cast_outcome(m: measures.ColourCast, s: ColourCastSettings) -> Outcome:
    chroma, hue = round(m.chroma, 1), m.hue
    warm = WARM_HUES[0] <= hue <= WARM_HUES[1]
    least = s.min_warm_chroma if warm else s.min_chroma
    if m.readable < measures.CAST_MIN_READABLE:
        detail = "image has too few pixels neither near black nor clipped to tell the colour of its light"
        return Outcome(True, None, least, detail)
    tint = tint_name(hue)
    reading = f"a* {_signed(m.a)}, b* {_signed(m.b)}"
    passed = Outcome(
        True,
        chroma,
        least,
        f"whites are neutral: the brightest surfaces read {reading} (chroma {number(chroma)}; "
        f"{'a ' + tint + ' tint' if chroma >= 1 else 'a tint'} fails from {number(least)})",
    )
    if chroma < least:
        return passed
    most = MAX_CAST_CHROMA
    if warm:
        most = WARM_MAX_CHROMA
    elif FOLIAGE_HUES[0] < hue <= FOLIAGE_HUES[1]:
        most = FOLIAGE_MAX_CHROMA
    # The brightest surfaces are coloured, but nothing says a light tinted them: they are a material's own strong
    # colour, other colours sit on the far side of neutral, or they are one colour at one lightness.
    colour = f"the brightest surfaces read {reading} ({tint}, chroma {number(chroma)})"
    skin = _skin_out_of_range(m)
    # Green or blue faces are no material's colour: past the largest tint, that is a cast too strong to miss.
    if chroma > most and not skin:
        detail = (
            f"no colour cast: {colour}, too strong a colour for tinted whites (over {number(most)}): a "
            f"{tint} subject or material fills the brightest parts"
        )
        return Outcome(True, chroma, least, detail)
    if m.opposite > MAX_OPPOSITE:
        detail = (
            f"no colour cast: {colour}, but {pct(m.opposite)} of the picture is coloured the other way, which a "
            "tint over everything would have reached"
        )
        return Outcome(True, chroma, least, detail)
    if warm and m.neutral >= WARM_NEUTRAL_SHARE:
        # A warm light tints greys too; greys left neutral beside the warm whites say these are a cream or beige
        # material's own colour (a sign board, a wall, paper, sand), lit by a neutral light.
        detail = (
            f"no colour cast: {colour}, but {pct(m.neutral)} of the picture is neutral grey, which a tint over "
            "everything would have reached: the warm surfaces are a cream or beige material's own colour"
        )
        return Outcome(True, chroma, least, detail)
    if m.share < s.min_share or m.lightness_span < s.min_lightness_span:
        detail = (
            f"no colour cast: {colour}, but the surfaces sharing that colour cover {pct(m.share)} of the picture "
            f"over {number(m.lightness_span)} levels of lightness: a coloured surface, not a tint over everything"
        )
        return Outcome(True, chroma, least, detail)
    facts: dict[str, object] = {"tint": tint, "a": m.a, "b": m.b}
    detail = (
        f"the whole picture is tinted {tint}: its whites and the greys that share their tint ({pct(m.share)} of the "
        f"picture, over {number(m.lightness_span)} levels of lightness) read {reading} (chroma {number(chroma)}; "
        f"neutral is 0, a {tint} tint fails from {number(least)})"
    )
    if skin:
        facts["skin"] = skin
        detail += (
            f"; the surfaces skin-toned under the tint ({pct(m.skin_share)} of the picture: faces and hands, or "
            f"things of their colour) read {skin}, as no skin does"
        )
        return Outcome(False, chroma, least, detail, severity="severe", facts=facts)
    return Outcome(False, chroma, least, detail, severity="mild", facts=facts)


#: Noise level (levels of 255, per pixel or read at half size) from which a picture's whites are read on block
#: means: clean photos read 0-5, grain of 45 levels softened over two pixels 11.
CAST_GRAINY = 8.0


def _grainy(ctx: JudgeContext) -> bool:
    noise = ctx.memo("noise", lambda: measures.noise_level(ctx.decoded.detail_gray))
    return max(noise.level, noise.grain) >= CAST_GRAINY


#: Least share of the picture skin-toned (once the tint is off) for its colour to be judged: a face or hands.
SKIN_MIN_SHARE = 0.02


def _skin_out_of_range(m: measures.ColourCast) -> str | None:
    """How the picture's skin tones read when the tint pushed them out of every skin tone (green or grey-green:
    a* under 0; blue or purple: b* under 0), else None. Every complexion reads a* and b* above 0."""
    if m.skin_share < SKIN_MIN_SHARE:
        return None
    if m.skin_a < 0:
        return f"a* {_signed(m.skin_a)} (green)"
    if m.skin_b < 0:
        return f"b* {_signed(m.skin_b)} ({'purple' if m.skin_a > 0 else 'blue'})"
    return None
