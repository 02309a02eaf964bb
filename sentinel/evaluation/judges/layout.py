"""The ``layout`` judge: a product shot's backdrop (white at the border, plain around the product), how much of the
frame the product fills, and whether the frame cuts it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image
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

kind = JudgeKind("layout", "Background whiteness and plainness, subject coverage of the frame, and cropping.")

#: The product's outline and the background's clutter are found on a copy this long on its longest side: a 2 px
#: margin at 1024 px still reads as a margin, and a prop of 1% of the frame is still 2-3 px across.
LAYOUT_SIDE = 256
#: Levels (largest channel difference) from the backdrop colour that still count as backdrop at LAYOUT_SIDE.
BACKDROP_TOLERANCE = 16
#: A luminance step (right plus down, levels, at LAYOUT_SIDE) this large or more marks detail: texture, outlines,
#: clutter. White-on-white shading and soft shadows stay below it; brick mortar, gravel and props' outlines do not.
DETAIL_STEP = 12
#: The backdrop is plain when this share of the outermost ring is within BACKDROP_TOLERANCE of its median colour (a
#: product or a shadow may run into the rest) and fewer than a tenth of the steps along the edge reach half a
#: DETAIL_STEP (a gradient passes, brick or grass does not).
PLAIN_BACKDROP_SHARE = 0.6
#: Pieces of the product closer than this share of LAYOUT_SIDE are one object (a white product on white shows only
#: as separate bits of outline and shadow).
JOIN_FRACTION = 0.015
#: Levels from the backdrop that a white product's face still shows by (box-averaged, so JPEG noise on white stays
#: below it).
FAINT_TOLERANCE = 2
#: Objects with edges and at least this share of the largest one's area are part of the product (a pair of shoes, a
#: set of bowls); smaller ones (props, a floor patch, a detached shadow: 21% of the cup in the shadow-band fixture)
#: are not.
PRODUCT_PART_SHARE = 0.5
#: Pixels this close to the product (share of LAYOUT_SIDE) belong to its outline and contact shadow, not the
#: background.
PRODUCT_HALO_FRACTION = 0.03
#: When the backdrop is not plain, this outer band (share of each side) is where its clutter is measured: outside a
#: product that fills 85-92% of the frame.
OUTER_BAND_FRACTION = 0.04


def _near_white(rgb: np.ndarray, tolerance: int) -> np.ndarray:
    # The darkest channel, by two element-wise minimums: ten times faster than np.all over the last axis.
    darkest = np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    return darkest >= 255 - tolerance


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{min(255, int(c + 0.5)):02x}" for c in rgb)


class WhiteBackgroundSettings(CheckSettings):
    tolerance: int = Field(8, ge=0, le=128, description="levels below 255 still counted as white, per channel")
    min_white_fraction: float = Field(0.97, gt=0, le=1, description="share of border pixels that must be white")
    border_fraction: float = Field(0.03, gt=0, le=0.5, description="width of the border band, share of the short side")


def _reaching_in(off_white: np.ndarray, axis: int, from_end: bool) -> np.ndarray:
    """The off-white pixels of a border strip that reach it from the frame's edge without a white gap."""
    strip = np.flip(off_white, axis=axis) if from_end else off_white
    reach = np.logical_and.accumulate(strip, axis=axis)
    return np.flip(reach, axis=axis) if from_end else reach


@kind.check(
    "white_background",
    WhiteBackgroundSettings,
    bands=Bands(0.955, 0.88, measure="share of the border that is white"),
    fix="Use a seamless pure white (#FFFFFF) background all the way to the edges, with no floor, backdrop edge or "
    "grey cast.",
)
def white_background(ctx: JudgeContext, s: WhiteBackgroundSettings) -> Outcome:
    """The share of a border band that is white, where only colour that reaches in from the frame's edge counts
    against it: a backdrop, floor or shadow that runs off the picture does, a product that fills the frame but keeps
    a white margin (even inside the band) does not."""
    rgb = ctx.decoded.rgb
    height, width = rgb.shape[:2]
    band = max(2, round(min(height, width) * s.border_fraction))
    strips = (
        (rgb[:band], 0, False),
        (rgb[-band:], 0, True),
        (rgb[band:-band, :band], 1, False),
        (rgb[band:-band, -band:], 1, True),
    )
    total = 0
    off = 0
    off_pixels = []
    for strip, axis, from_end in strips:
        reach = _reaching_in(~_near_white(strip, s.tolerance), axis, from_end)
        total += reach.size
        off += int(np.count_nonzero(reach))
        off_pixels.append(strip[reach])
    white = 1.0 - off / max(1, total)
    if white >= s.min_white_fraction:
        return Outcome(True, round(white, 4), s.min_white_fraction, f"background border is {pct(white)} white")
    hex_colour = _hex(np.concatenate(off_pixels).mean(axis=0))
    detail = (
        f"background border is {pct(white)} white; needs {pct(s.min_white_fraction)} (the rest averages {hex_colour})"
    )
    return Outcome(False, round(white, 4), s.min_white_fraction, detail, facts={"colour": hex_colour})


class FillsFrameSettings(CheckSettings):
    min_fill: float = Field(
        0.85, gt=0, le=1, description="subject's extent as a share of the frame, along the axis it fills most"
    )
    tolerance: int = Field(16, ge=0, le=128, description="levels below 255 still counted as background")
    noise_fraction: float = Field(0.002, ge=0, lt=0.5, description="rows/columns with fewer subject pixels are noise")


def subject_box(rgb: np.ndarray, tolerance: int, noise_fraction: float) -> tuple[int, int, int, int] | None:
    """Bounding box (left, top, right, bottom) of the non-background pixels, ignoring specks."""
    return _box(~_near_white(rgb, tolerance), noise_fraction)


def _box(subject: np.ndarray, noise_fraction: float) -> tuple[int, int, int, int] | None:
    height, width = subject.shape
    rows = np.flatnonzero(np.count_nonzero(subject, axis=1) > width * noise_fraction)
    cols = np.flatnonzero(np.count_nonzero(subject, axis=0) > height * noise_fraction)
    if rows.size == 0 or cols.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _unshaded_columns(subject: np.ndarray, shading: np.ndarray, noise_fraction: float) -> tuple[int, int] | None:
    """The first and past-the-last columns of ``subject`` without the pixels ``shading`` marks, ignoring specks:
    only the rows the shading spans are read again (a floor shadow is a band a tenth of the frame tall)."""
    rows = np.flatnonzero(shading.any(axis=1))
    band = slice(rows[0], rows[-1] + 1)
    counts = np.count_nonzero(subject, axis=0) - np.count_nonzero(subject[band] & shading[band], axis=0)
    cols = np.flatnonzero(counts > subject.shape[0] * noise_fraction)
    return (int(cols[0]), int(cols[-1]) + 1) if cols.size else None


@kind.check(
    "fills_frame",
    FillsFrameSettings,
    bands=Bands(0.75, 0.6, measure="subject's extent as a share of the frame along the axis it fills most"),
    fix="Make the product larger so it fills at least {{ threshold | pct }} of the frame, centred, with a small "
    "even margin.",
)
def fills_frame(ctx: JudgeContext, s: FillsFrameSettings) -> Outcome:
    """The product's extent, its width without the soft floor or contact shadow around it (the shading the cut-off
    check does not count as the product either): a shadow spread wider than the product does not make it fill
    more. Its height keeps the shadow it stands on."""
    rgb = ctx.decoded.rgb
    height, width = rgb.shape[:2]
    subject = ~_near_white(rgb, s.tolerance)
    box = _box(subject, s.noise_fraction)
    if box is None:
        return Outcome(False, 0.0, s.min_fill, "no subject found: the image is all background", severity="severe")
    shadow = ""
    if box != (0, 0, width, height) and (shading := _soft_shading(ctx)) is not None:
        # Across, without the shading: a floor shadow spread wider than the product does not make it wider. Down,
        # with it: the product stands on its contact shadow, and a shot framed with it under the product is full.
        columns = _unshaded_columns(subject, shading, s.noise_fraction)
        if columns is not None and columns != box[::2]:
            box, shadow = (columns[0], box[1], columns[1], box[3]), ", not counting its soft shadow beside it"
    left, top, right, bottom = box
    # Along the axis the product fills most: an upright bottle 95% of a landscape frame's height cannot grow without
    # being cut off, whatever share of the (longer) width it spans.
    across, down = (right - left) / width, (bottom - top) / height
    fill = max(across, down)
    axis = "width" if across >= down else "height"
    extent = f"{right - left}×{bottom - top} px{shadow if axis == 'width' else ''}"
    if fill >= s.min_fill:
        return Outcome(True, round(fill, 4), s.min_fill, f"subject fills {pct(fill)} of the frame's {axis} ({extent})")
    detail = f"subject fills {pct(fill)} of the frame's {axis} ({extent}); needs {pct(s.min_fill)}"
    return Outcome(False, round(fill, 4), s.min_fill, detail)


def _thumbnail(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    factor = max(1, int(np.ceil(max(height, width) / LAYOUT_SIDE)))
    if factor == 1:
        return rgb
    # reduce(): a box average over whole blocks, which keeps a thin margin's colour honest and costs little.
    return np.asarray(Image.fromarray(rgb).reduce(factor))


@dataclass
class Layout:
    """A product shot seen small: its backdrop, the product's silhouette and the detail around it."""

    thumb: np.ndarray

    @cached_property
    def ring(self) -> np.ndarray:
        """The outermost pixel ring, (N, 3)."""
        t = self.thumb
        return np.concatenate([t[0], t[-1], t[1:-1, 0], t[1:-1, -1]])

    @cached_property
    def backdrop(self) -> np.ndarray:
        """The backdrop's colour: the median of the outermost ring (int16, for exact differences)."""
        return np.median(self.ring, axis=0).round().astype(np.int16)

    @cached_property
    def gray(self) -> np.ndarray:
        return self.thumb.astype(np.float32) @ LUMA

    @cached_property
    def steps(self) -> np.ndarray:
        """Luminance step to the right plus downwards, per pixel (the last row and column repeat their neighbour)."""
        gray = self.gray
        height, width = gray.shape
        if height < 2 or width < 2:
            # A single row or column: repeated once, it has no step across it, and its last line still has a
            # neighbour to copy.
            gray = np.pad(gray, ((0, int(height < 2)), (0, int(width < 2))), mode="edge")
        steps = np.zeros_like(gray)
        steps[:-1, :-1] = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1]
        steps[-1], steps[:, -1] = steps[-2], steps[:, -2]
        return steps[:height, :width]

    @cached_property
    def plain_backdrop(self) -> bool:
        """Whether the frame's edge is one plain colour a product can be told from (white, grey, coloured)."""
        near = np.abs(self.ring.astype(np.int16) - self.backdrop).max(axis=1) <= BACKDROP_TOLERANCE
        # Texture along the edge (steps between neighbours on the edge line, not across it into a product).
        gray = self.gray
        along = np.concatenate([np.abs(np.diff(line)) for line in (gray[0], gray[-1], gray[:, 0], gray[:, -1])])
        textured = float((along >= DETAIL_STEP / 2).mean()) if along.size else 0.0  # a 1×1 edge has no steps
        return float(near.mean()) >= PLAIN_BACKDROP_SHARE and textured < 0.1

    @cached_property
    def distance(self) -> np.ndarray:
        """Largest channel difference from the backdrop's colour, per pixel."""
        t = self.thumb.astype(np.int16)
        b = self.backdrop
        return np.maximum(np.maximum(np.abs(t[..., 0] - b[0]), np.abs(t[..., 1] - b[1])), np.abs(t[..., 2] - b[2]))

    @cached_property
    def differs(self) -> np.ndarray:
        """Pixels that stand out from the backdrop's colour."""
        return self.distance > BACKDROP_TOLERANCE

    @cached_property
    def subject(self) -> np.ndarray:
        """The product: the largest object that stands out from the backdrop, with the objects nearly as large
        (parts of a set) and those a faint face joins to it, holes filled. Empty when the backdrop is not plain."""
        from scipy import ndimage

        if not self.plain_backdrop:
            return np.zeros(self.thumb.shape[:2], dtype=bool)
        differs = self.differs
        join = max(1, round(JOIN_FRACTION * max(differs.shape)))
        labels, count = ndimage.label(ndimage.maximum_filter(differs, 2 * join + 1))
        if count == 0:
            return differs
        areas = np.bincount(labels.ravel(), minlength=count + 1)
        areas[0] = 0
        detailed = np.bincount(labels.ravel(), weights=(self.steps >= DETAIL_STEP).ravel(), minlength=count + 1)
        # Parts of a set are nearly as large as the product and, unlike a floor patch or a shadow, have edges.
        keep = (areas >= PRODUCT_PART_SHARE * areas.max()) & (detailed > 0)
        keep[int(np.argmax(areas))] = True
        keep[0] = False
        # Parts of one product that only a faint, near-backdrop face joins (a white frame's grey bevels around its
        # print) belong to it too: they are connected to it through pixels a little off the backdrop.
        faint_labels, faint_count = ndimage.label((self.distance > FAINT_TOLERANCE) | (labels > 0))
        joined = np.zeros(faint_count + 1, dtype=bool)
        joined[faint_labels[keep[labels]]] = True
        joined[0] = False
        keep[labels[joined[faint_labels]]] = True
        keep[0] = False
        member = keep[labels]
        # The joined silhouette shrunk back by the join (nothing beyond the frame, so a margin stays the margin it
        # is), plus the product's own pixels, holes filled (what the backdrop cannot reach from the frame's edge).
        product = ndimage.minimum_filter(member, 2 * join + 1, mode="constant", cval=0) | (differs & member)
        outside, _ = ndimage.label(~product)
        edge_labels = np.unique(np.concatenate([outside[0], outside[-1], outside[:, 0], outside[:, -1]]))
        reached = np.zeros(int(outside.max()) + 1, dtype=bool)
        reached[edge_labels] = True
        reached[0] = False
        return ~reached[outside]

    @cached_property
    def background(self) -> np.ndarray:
        """Where the backdrop should be: everything but the product and a halo for its outline and contact shadow;
        when the backdrop is not plain, the outer band of the frame."""
        from scipy import ndimage

        height, width = self.thumb.shape[:2]
        if not self.plain_backdrop:
            band = max(2, round(OUTER_BAND_FRACTION * min(height, width)))
            background = np.ones((height, width), dtype=bool)
            background[band:-band, band:-band] = False
            return background
        halo = max(1, round(PRODUCT_HALO_FRACTION * max(height, width)))
        return ~ndimage.maximum_filter(self.subject, 2 * halo + 1)


def _layout(ctx: JudgeContext) -> Layout:
    return ctx.memo("layout", lambda: Layout(_thumbnail(ctx.decoded.rgb)))


#: Fewest pixels across and down the layout copy needs for a product and its background to be told apart: one
#: background cell (below), a 16th of the copy's side.
LAYOUT_MIN_SIDE = LAYOUT_SIDE // 16


def _too_small(ctx: JudgeContext, layout: Layout, threshold: float | None, what: str) -> Outcome | None:
    """The pass of a check on an image too small or too thin to tell a product from its background; the size
    criteria (``size``, ``min_size``) are the ones that fail it."""
    height, width = layout.thumb.shape[:2]
    if min(height, width) >= LAYOUT_MIN_SIDE:
        return None
    decoded = ctx.decoded
    at = f" (analysed at {width}×{height} px)" if (width, height) != (decoded.width, decoded.height) else ""
    detail = (
        f"image is {decoded.width}×{decoded.height} px{at}: too small to {what}; a product is told from its "
        f"background at {LAYOUT_MIN_SIDE}×{LAYOUT_MIN_SIDE} px or more"
    )
    return Outcome(True, None, threshold, detail)


class CutOffSettings(CheckSettings):
    min_contact: float = Field(
        0.02,
        ge=0,
        le=1,
        description="share of the product's side that must lie on the frame's edge before it counts as cut",
    )


@dataclass(frozen=True)
class Contact:
    side: str
    #: Share of the product's extent along that side that lies on the frame's edge.
    share: float


#: A line along the frame's edge is a flat band (a floor, a backdrop's edge, a truncated generation's fill), not
#: the product, when the silhouette covers EDGE_BAND_COVER of it and EDGE_BAND_EVEN of it is one colour (within
#: EDGE_BAND_LEVELS of the line's median in every channel): the product standing in front of the band is the rest.
EDGE_BAND_COVER = 0.98
EDGE_BAND_EVEN = 0.6
EDGE_BAND_LEVELS = 4


def without_edge_bands(layout: Layout) -> np.ndarray:
    """The product's silhouette without the flat bands it meets at the frame's edges: rows (columns) from an edge
    inward that the silhouette spans from side to side in one even colour (a grey floor band under a bottle). Such
    a band is the background criteria's to fail; the product standing on it is not cut off by the frame."""
    subject = layout.subject.copy()
    if not subject.any():
        return subject
    thumb = layout.thumb.astype(np.int16)
    covered_rows = subject.mean(axis=1) >= EDGE_BAND_COVER
    covered_cols = subject.mean(axis=0) >= EDGE_BAND_COVER

    def even(line: np.ndarray) -> bool:
        # EDGE_BAND_EVEN of the line (pixels × channels) within EDGE_BAND_LEVELS of its median colour.
        median = np.median(line, axis=0)
        return float((np.abs(line - median).max(axis=1) <= EDGE_BAND_LEVELS).mean()) >= EDGE_BAND_EVEN

    # Only the lines the silhouette spans, from each edge inward (most products span none: nothing is read).
    for covered, line in ((covered_rows, lambda i: thumb[i]), (covered_cols, lambda i: thumb[:, i])):
        length = covered.size
        for order in (range(length), range(length - 1, -1, -1)):
            for index in order:
                if not covered[index] or not even(line(index)):
                    break
                if covered is covered_rows:
                    subject[index] = False
                else:
                    subject[:, index] = False
    return subject


#: Shading on the backdrop (a floor shadow, a vignette) is the backdrop's colour made darker: every channel within
#: SHADE_TINT levels of the backdrop scaled to the pixel's brightness (grey on white). A product is coloured, or
#: bounded by a crisp outline.
SHADE_TINT = 12
#: A pixel lies on a crisp edge when its largest step to a neighbour is at least CRISP_EDGE_SHARE of the luminance
#: range within EDGE_WINDOW_RADIUS pixels of it (and that range is at least EDGE_MIN_RANGE levels, above JPEG noise):
#: a hard outline takes half its contrast or more in one step of the layout copy, a soft shadow's edge fades over
#: several steps (a quarter of it or less per step).
CRISP_EDGE_SHARE = 0.4
EDGE_WINDOW_RADIUS = 3
EDGE_MIN_RANGE = 8
#: Pixels of shading this close to the backdrop (layout pixels) form its outline against the backdrop.
SHADE_OUTLINE_REACH = 3
#: Shading reaching the frame's edge is background when at most this share of its outline against the backdrop lies
#: on a crisp edge (where it meets the product it lies under counts neither way), and that outline is at least
#: SHADE_MIN_OUTLINE pixels long: a soft floor shadow fades into the backdrop; a grey product cut by the frame, or
#: a white one's face, is bounded by a hard outline.
SHADE_CRISP_OUTLINE = 0.25
SHADE_MIN_OUTLINE = 8
#: Bits of the silhouette left at the frame's edge beside removed shading, smaller than this share of the product's
#: area, are the shading's fringe (pixels its colour test missed), not the product.
SHADE_FRINGE_SHARE = 0.02


def _touches_frame(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def without_edge_shading(layout: Layout, subject: np.ndarray) -> np.ndarray:
    """``subject`` without the soft shading it meets at the frame's edges: regions of the backdrop's colour made
    darker (a grey floor shadow under a product on white, a vignette's dark corner) that reach the frame's edge and
    fade into the backdrop without a crisp outline. Such shading is the background criteria's to fail; the product it
    lies under is not cut off by the frame. A product running off the frame (coloured, textured or outlined) stays."""
    if not subject.any() or not _touches_frame(subject):
        return subject  # most products keep a margin: nothing more is read
    return _without_soft_shading(layout, subject, at_frame_only=True)


def _without_soft_shading(layout: Layout, subject: np.ndarray, *, at_frame_only: bool) -> np.ndarray:
    """``subject`` without its regions of soft shading (the backdrop's colour made darker, fading into the backdrop
    without a crisp outline): those reaching the frame's edge, or with ``at_frame_only`` off, anywhere (a contact
    shadow on the floor under a product)."""
    import cv2
    from scipy import ndimage

    backdrop = layout.backdrop.astype(np.float32)
    backdrop_luma = float(backdrop @ LUMA)
    if backdrop_luma < EDGE_MIN_RANGE:
        return subject  # nothing is darker than a black backdrop
    gray = layout.gray
    thumb = layout.thumb.astype(np.float32)
    expected = (gray / backdrop_luma)[..., None] * backdrop
    off = np.abs(thumb - expected)
    tint = np.maximum(np.maximum(off[..., 0], off[..., 1]), off[..., 2])
    shade = subject & (tint <= SHADE_TINT) & (gray <= backdrop_luma + FAINT_TOLERANCE)
    if not (_touches_frame(shade) if at_frame_only else shade.any()):
        return subject
    # The largest step from each pixel to a 4-neighbour, against the luminance range around it.
    padded = np.pad(gray, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    step = np.maximum(
        np.maximum(np.abs(centre - padded[:-2, 1:-1]), np.abs(centre - padded[2:, 1:-1])),
        np.maximum(np.abs(centre - padded[1:-1, :-2]), np.abs(centre - padded[1:-1, 2:])),
    )
    # OpenCV's dilate and erode: the same max and min filters as scipy's, several times faster on a 256² copy.
    window = np.ones((2 * EDGE_WINDOW_RADIUS + 1,) * 2, np.uint8)
    spread = cv2.dilate(gray, window) - cv2.erode(gray, window)
    crisp = (step >= CRISP_EDGE_SHARE * spread) & (spread >= EDGE_MIN_RANGE)
    # Shading is cut from the product by the product's crisp outline (where it lies under it).
    labels, count = ndimage.label(shade & ~crisp)
    if count == 0:
        return subject
    if at_frame_only:
        candidates = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        candidates = candidates[candidates > 0]
    else:
        candidates = np.arange(1, count + 1)
    reach = np.ones((2 * SHADE_OUTLINE_REACH + 1,) * 2, np.uint8)
    near_backdrop = cv2.dilate((~subject).view(np.uint8), reach, borderType=cv2.BORDER_REPLICATE) > 0
    near_crisp = cv2.dilate(crisp.view(np.uint8), np.ones((5, 5), np.uint8)) > 0
    # Outline lengths per region at once: a product's surface can hold many small patches of shade.
    lengths = np.bincount(labels[near_backdrop], minlength=count + 1)
    crisp_lengths = np.bincount(labels[near_backdrop & near_crisp], minlength=count + 1)
    soft = (lengths >= SHADE_MIN_OUTLINE) & (crisp_lengths <= SHADE_CRISP_OUTLINE * lengths)
    darkness = backdrop_luma - gray
    removed = np.zeros_like(subject)
    for index in candidates[soft[candidates]]:
        region = labels == index
        if float(np.percentile(darkness[region], 90)) <= BACKDROP_TOLERANCE:
            continue  # backdrop-coloured: a white product's face, not a shade
        removed |= region
    if not removed.any():
        return subject
    rest = subject & ~removed
    # The shading's fringe left beside it (a few pixels its tint test missed) goes with it.
    parts, part_count = ndimage.label(rest)
    if part_count:
        areas = np.bincount(parts.ravel(), minlength=part_count + 1)
        areas[0] = 0
        beside = np.unique(parts[cv2.dilate(removed.view(np.uint8), np.ones((3, 3), np.uint8)) > 0])
        if at_frame_only:
            beside = np.intersect1d(beside, np.unique(np.concatenate([parts[0], parts[-1], parts[:, 0], parts[:, -1]])))
        for index in beside:
            if index and areas[index] < SHADE_FRINGE_SHARE * areas.max():
                rest[parts == index] = False
    return rest


def _soft_shading(ctx: JudgeContext) -> np.ndarray | None:
    """The full-size image's pixels of soft shading on a plain backdrop (a floor or contact shadow, wherever it
    lies), with a layout pixel's margin for the shadow's faint fringe but none into the product; None without any."""
    import cv2

    layout = _layout(ctx)
    height, width = layout.thumb.shape[:2]
    if min(height, width) < LAYOUT_MIN_SIDE or not layout.plain_backdrop or not layout.subject.any():
        return None
    subject = layout.subject
    rest = _without_soft_shading(layout, subject, at_frame_only=False)
    removed = subject & ~rest
    if not removed.any():
        return None
    near = np.ones((3, 3), np.uint8)
    drop = (cv2.dilate(removed.view(np.uint8), near) > 0) & ~(cv2.dilate(rest.view(np.uint8), near) > 0)
    full_height, full_width = ctx.decoded.rgb.shape[:2]
    # The layout copy is a box average over factor² blocks (see _thumbnail): each of its pixels stands for one.
    factor = max(1, int(np.ceil(max(full_height, full_width) / LAYOUT_SIDE)))
    return np.repeat(np.repeat(drop, factor, axis=0), factor, axis=1)[:full_height, :full_width]


def contacts(layout: Layout, min_contact: float, subject: np.ndarray | None = None) -> list[Contact]:
    """Sides of the frame the product (``subject``, default the layout's) runs into."""
    subject = layout.subject if subject is None else subject
    rows, cols = np.flatnonzero(subject.any(axis=1)), np.flatnonzero(subject.any(axis=0))
    if rows.size == 0:
        return []
    tall, wide = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    edges = {
        "top": (subject[0], wide),
        "bottom": (subject[-1], wide),
        "left": (subject[:, 0], tall),
        "right": (subject[:, -1], tall),
    }
    found = []
    for side, (edge, extent) in edges.items():
        touching = int(np.count_nonzero(edge))
        share = touching / extent
        if touching >= 2 and share >= min_contact:
            found.append(Contact(side, min(1.0, share)))
    return found


#: The margin on the side opposite an edge the product runs into: how far it sits off-centre, which bounds how much
#: of it can lie outside the picture (a centred product that fits has none).
_OPPOSITE = {"top": "bottom", "bottom": "top", "left": "right", "right": "left"}


def _margins(subject: np.ndarray) -> dict[str, float]:
    height, width = subject.shape
    rows, cols = np.flatnonzero(subject.any(axis=1)), np.flatnonzero(subject.any(axis=0))
    return {
        "top": rows[0] / height,
        "bottom": (height - 1 - rows[-1]) / height,
        "left": cols[0] / width,
        "right": (width - 1 - cols[-1]) / width,
    }


@kind.check(
    "subject_cut_off",
    CutOffSettings,
    bands=Bands(
        0.2, 0.33, higher_is_better=False, measure="how far the cut product sits off-centre, share of the side"
    ),
    fix="Show the whole product inside the frame: centre it and leave a small even white margin on every side"
    "{% if facts.sides %}, especially at the {{ facts.sides }}{% endif %}.",
)
def subject_cut_off(ctx: JudgeContext, s: CutOffSettings) -> Outcome:
    """Whether the frame's edge cuts the product: the product (the largest object standing out from a plain
    backdrop, and objects nearly as large) touching an edge along part of its side. Graded on how far it sits
    off-centre, the margin on the opposite side: up to that much of it may lie outside (3% of a print cut shows a
    15% opposite margin, 30% cut a 38% one); a product too large for the frame, touching both opposite edges,
    grades as half its contact there."""
    layout = _layout(ctx)
    if too_small := _too_small(ctx, layout, s.min_contact, "tell whether the frame cuts the product"):
        return too_small
    if not layout.plain_backdrop:
        return Outcome(True, None, None, "the background is not plain, so the product's outline cannot be told from it")
    if not layout.subject.any():
        return Outcome(True, None, None, "no product stands out from the background")
    product = without_edge_shading(layout, without_edge_bands(layout))
    if not product.any():
        return Outcome(True, None, None, "no product stands out from the background")
    touching = contacts(layout, s.min_contact, product)
    margins = _margins(product)
    if not touching:
        smallest = min(margins.values())
        return Outcome(True, 0.0, s.min_contact, f"the product keeps a margin on every side (at least {pct(smallest)})")
    sides = {c.side: c for c in touching}
    cut = 0.0
    for contact in touching:
        opposite = _OPPOSITE[contact.side]
        if opposite in sides:  # larger than the frame on this axis
            cut = max(cut, 0.5 * min(contact.share, sides[opposite].share))
        else:
            cut = max(cut, margins[opposite])
    names = " and ".join(
        f"{c.side} ({pct(c.share)} of its {'width' if c.side in ('top', 'bottom') else 'height'})" for c in touching
    )
    detail = f"the product is cut off by the frame: it runs into the {names}"
    lone = [c for c in touching if _OPPOSITE[c.side] not in sides]
    if lone:
        detail += f"; it sits off-centre with {pct(cut)} of empty space on the opposite side"
    facts = {"sides": " and ".join(f"{c.side} edge" for c in touching)}
    return Outcome(
        False, round(float(max(c.share for c in touching)), 4), s.min_contact, detail, graded=cut, facts=facts
    )


class BusyBackgroundSettings(CheckSettings):
    max_busy: float = Field(
        0.08, gt=0, le=1, description="share of the background's cells with texture, edges or objects, at most"
    )
    max_prop: float = Field(
        0.05,
        gt=0,
        le=1,
        description="largest separate object beside the product (a prop, a second item) allowed, as a share of the "
        "product's area; only objects with a crisp outline count (a detached soft shadow has none)",
    )
    max_prop_frame: float = Field(
        0.01,
        gt=0,
        le=1,
        description="largest separate object beside the product allowed, as a share of the frame's area: a cup a "
        "tenth of the frame across beside a large product is a prop however small next to it",
    )


#: Share of a separate object's outline that must be a crisp step (DETAIL_STEP) for it to be an object, not a
#: shadow or a floor patch fading into the backdrop.
PROP_CRISP_OUTLINE = 0.5


@dataclass(frozen=True)
class Prop:
    #: Area as a share of the product's.
    share: float
    #: Area as a share of the frame's.
    frame_share: float
    #: Bounding box (left, top, right, bottom) at LAYOUT_SIDE.
    box: tuple[int, int, int, int]


def largest_prop(layout: Layout) -> Prop | None:
    """The largest object standing apart from the product on a plain backdrop with a crisp outline of its own (a
    lemon, a cube, a second bottle beside the product), not touching the frame's edge (a floor or a band is the
    background criteria's); None when there is none."""
    from scipy import ndimage

    subject = layout.subject
    area = int(np.count_nonzero(subject))
    if not layout.plain_backdrop or area == 0:
        return None
    apart = layout.differs & ~subject
    if not apart.any():
        return None
    join = max(1, round(JOIN_FRACTION * max(apart.shape)))
    labels, count = ndimage.label(ndimage.maximum_filter(apart, 2 * join + 1) & ~subject)
    if count == 0:
        return None
    crisp = layout.steps >= DETAIL_STEP
    best: Prop | None = None
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        piece = (labels[found] == index) & apart[found]
        share = int(np.count_nonzero(piece)) / area
        if share <= (best.share if best else 0.0):
            continue
        rows, cols = found
        height, width = apart.shape
        if rows.start == 0 or cols.start == 0 or rows.stop == height or cols.stop == width:
            continue
        outline = piece & ~ndimage.binary_erosion(piece)
        sharp = ndimage.maximum_filter(crisp[found], 3) & outline
        if np.count_nonzero(sharp) < PROP_CRISP_OUTLINE * max(1, np.count_nonzero(outline)):
            continue
        frame_share = int(np.count_nonzero(piece)) / apart.size
        best = Prop(round(share, 4), round(frame_share, 4), (cols.start, rows.start, cols.stop, rows.stop))
    return best


#: The background is judged in square cells this many pixels wide at LAYOUT_SIDE (a 16×16 grid): a prop a tenth of
#: the frame across marks a few cells, texture marks them all.
CELL = LAYOUT_SIDE // 16
#: A cell is busy when this share of its background pixels is detail or an object.
BUSY_CELL_SHARE = 0.04


def busy_share(layout: Layout) -> float | None:
    """Share of the background's cells (at least half background) that hold detail (a step of DETAIL_STEP) or,
    on a plain backdrop, something that stands out from it; None when there is no background."""
    background = layout.background
    clutter = layout.steps >= DETAIL_STEP
    if layout.plain_backdrop:
        clutter = clutter | layout.differs
    height, width = background.shape
    rows, cols = height // CELL, width // CELL
    if rows == 0 or cols == 0:
        return None

    def per_cell(region: np.ndarray) -> np.ndarray:
        return region[: rows * CELL, : cols * CELL].reshape(rows, CELL, cols, CELL).sum(axis=(1, 3))

    room = per_cell(background)
    busy = per_cell(clutter & background)
    judged = room >= CELL * CELL // 2
    if not judged.any():
        return None
    return float(np.count_nonzero(judged & (busy >= BUSY_CELL_SHARE * room))) / int(np.count_nonzero(judged))


BUSY_BANDS = Bands(0.3, 0.5, higher_is_better=False, measure="share of the background's cells that are busy")


@kind.check(
    "busy_background",
    BusyBackgroundSettings,
    bands=BUSY_BANDS,
    fix="{% if facts.prop_at %}Remove the separate object at the {{ facts.prop_at }} of the frame, beside the "
    "product. {% endif %}Put the product alone on a plain, seamless backdrop: no props, surfaces, patterns, texture "
    "or other objects around it.",
)
def busy_background(ctx: JudgeContext, s: BusyBackgroundSettings) -> Outcome:
    """Texture or clutter in the background around the product, not only at the border: the background
    (everything but the product and a halo for its outline and contact shadow; the outer band of the frame when the
    backdrop is not plain) is cut into cells, and a cell is busy when detail (a luminance step of DETAIL_STEP at
    LAYOUT_SIDE) or, on a plain backdrop, anything standing out from it covers BUSY_CELL_SHARE of it. Smooth shading
    and soft shadows do not; brick, gravel, wood grain, props and scattered objects do."""
    layout = _layout(ctx)
    if too_small := _too_small(ctx, layout, s.max_busy, "judge the background around the product"):
        return too_small
    busy = busy_share(layout)
    if busy is None:
        return Outcome(True, None, s.max_busy, "the product fills the whole frame: no background to judge")
    where = "around the product" if layout.plain_backdrop else "at the edges of the frame"
    prop = largest_prop(layout)
    if prop is not None and prop.share <= s.max_prop and prop.frame_share <= s.max_prop_frame:
        prop = None
    height, width = layout.subject.shape
    if busy <= s.max_busy:
        if prop is not None:
            at = region_name(prop.box, width, height)
            detail = (
                f"a separate object stands beside the product at the {at} ({pct(prop.share)} of the product's "
                f"size, {pct(prop.frame_share)} of the frame; allowed {pct(s.max_prop)} of the product or "
                f"{pct(s.max_prop_frame)} of the frame): a prop or second item on an otherwise plain background "
                f"({pct(busy)} busy)"
            )
            facts = {"prop": True, "prop_at": at}
            return Outcome(False, round(busy, 4), s.max_busy, detail, severity="moderate", facts=facts)
        return Outcome(True, round(busy, 4), s.max_busy, f"the background {where} is plain ({pct(busy)} busy)")
    detail = (
        f"the background {where} is busy: {pct(busy)} of it holds texture, edges or objects (allowed {pct(s.max_busy)})"
    )
    if prop is not None and busy < BUSY_BANDS.moderate:
        # A second object beside the product is a prop however few cells it marks: never only mild.
        at = region_name(prop.box, width, height)
        detail += f"; a separate object stands beside the product at the {at} ({pct(prop.share)} of the product's size)"
        facts = {"prop": True, "prop_at": at}
        return Outcome(False, round(busy, 4), s.max_busy, detail, severity="moderate", facts=facts)
    return Outcome(False, round(busy, 4), s.max_busy, detail)
