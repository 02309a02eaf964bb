"""The ``layout`` judge: background colour of the border, and how much of the frame the subject fills."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sentinel.evaluation.judges.base import Bands, CheckSettings, JudgeContext, JudgeKind, Outcome, pct

kind = JudgeKind("layout", "Background whiteness at the border and subject coverage of the frame.")


def _near_white(rgb: np.ndarray, tolerance: int) -> np.ndarray:
    return np.all(rgb >= 255 - tolerance, axis=-1)


class WhiteBackgroundSettings(CheckSettings):
    tolerance: int = Field(8, ge=0, le=128, description="levels below 255 still counted as white, per channel")
    min_white_fraction: float = Field(0.97, gt=0, le=1, description="share of border pixels that must be white")
    border_fraction: float = Field(0.03, gt=0, le=0.5, description="width of the border band, share of the short side")


@kind.check(
    "white_background",
    WhiteBackgroundSettings,
    bands=Bands(0.955, 0.88, measure="share of the border that is white"),
    fix="Use a seamless pure white (#FFFFFF) background all the way to the edges, with no floor, backdrop edge or "
    "grey cast.",
)
def white_background(ctx: JudgeContext, s: WhiteBackgroundSettings) -> Outcome:
    rgb = ctx.decoded.rgb
    height, width = rgb.shape[:2]
    band = max(2, round(min(height, width) * s.border_fraction))
    border = np.concatenate(
        [
            rgb[:band].reshape(-1, 3),
            rgb[-band:].reshape(-1, 3),
            rgb[band:-band, :band].reshape(-1, 3),
            rgb[band:-band, -band:].reshape(-1, 3),
        ]
    )
    white = float(_near_white(border, s.tolerance).mean())
    if white >= s.min_white_fraction:
        return Outcome(True, round(white, 4), s.min_white_fraction, f"background border is {pct(white)} white")
    mean_colour = border[~_near_white(border, s.tolerance)].mean(axis=0)
    hex_colour = "#" + "".join(f"{int(c):02x}" for c in mean_colour)
    detail = (
        f"background border is {pct(white)} white; needs {pct(s.min_white_fraction)} (the rest averages {hex_colour})"
    )
    return Outcome(False, round(white, 4), s.min_white_fraction, detail, facts={"colour": hex_colour})


class FillsFrameSettings(CheckSettings):
    min_fill: float = Field(0.85, gt=0, le=1, description="subject's longest extent as a share of the longest side")
    tolerance: int = Field(16, ge=0, le=128, description="levels below 255 still counted as background")
    noise_fraction: float = Field(0.002, ge=0, lt=0.5, description="rows/columns with fewer subject pixels are noise")


def subject_box(rgb: np.ndarray, tolerance: int, noise_fraction: float) -> tuple[int, int, int, int] | None:
    """Bounding box (left, top, right, bottom) of the non-background pixels, ignoring specks."""
    subject = ~_near_white(rgb, tolerance)
    height, width = subject.shape
    rows = np.flatnonzero(subject.sum(axis=1) > width * noise_fraction)
    cols = np.flatnonzero(subject.sum(axis=0) > height * noise_fraction)
    if rows.size == 0 or cols.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


@kind.check(
    "fills_frame",
    FillsFrameSettings,
    bands=Bands(0.75, 0.6, measure="subject's extent as a share of the longest side"),
    fix="Make the product larger so it fills at least {{ threshold | pct }} of the frame, centred, with a small "
    "even margin.",
)
def fills_frame(ctx: JudgeContext, s: FillsFrameSettings) -> Outcome:
    rgb = ctx.decoded.rgb
    height, width = rgb.shape[:2]
    box = subject_box(rgb, s.tolerance, s.noise_fraction)
    if box is None:
        return Outcome(False, 0.0, s.min_fill, "no subject found: the image is all background", severity="severe")
    left, top, right, bottom = box
    fill = max(right - left, bottom - top) / max(width, height)
    extent = f"{right - left}×{bottom - top} px"
    if fill >= s.min_fill:
        return Outcome(True, round(fill, 4), s.min_fill, f"subject fills {pct(fill)} of the frame ({extent})")
    detail = f"subject fills {pct(fill)} of the longest side ({extent}); needs {pct(s.min_fill)}"
    return Outcome(False, round(fill, 4), s.min_fill, detail)
