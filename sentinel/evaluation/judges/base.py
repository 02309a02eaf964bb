"""What every offline judge kind is made of: checks with typed settings, and their results."""

from __future__ import annotations

import threading
import time
import types
import typing
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from sentinel.evaluation.rubric import Criterion, Severity, SeverityBands
from sentinel.store.images import Decoded, decoded_pixels

if TYPE_CHECKING:
    from sentinel.store.service import ImageService


def _scalar_kind(annotation: Any) -> type | None:
    """int, float or bool when a settings field holds one of them (or None besides); None for any other type."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [kind for kind in typing.get_args(annotation) if kind is not type(None)]
    else:
        kinds = [annotation]
    return kinds[0] if len(kinds) == 1 and kinds[0] in (int, float, bool) else None


class CheckSettings(BaseModel):
    """Base of every check's settings; unknown keys are a rubric error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _as_written(cls, value: Any, info: ValidationInfo) -> Any:
        """A number or a flag as YAML writes it: ``min_sharpness: true`` is not the number 1, nor ``'yes'`` a flag
        (coerced, a typo made a check that nearly never fails, and the rubric validated)."""
        field = cls.model_fields.get(info.field_name or "")
        kind = _scalar_kind(field.annotation) if field is not None else None
        if kind in (int, float) and isinstance(value, bool | str):
            raise ValueError(f"must be a number, not {value!r}")
        if kind is bool and not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {value!r}")
        return value


@dataclass(frozen=True)
class CriterionResult:
    id: str
    passed: bool
    measured: float | str | None
    threshold: float | str | None
    detail: str
    critical: bool = False
    #: How bad a failure is (None when the criterion passed).
    severity: Severity | None = None
    #: Named measurements the criterion's fix template may use (the text read, the background's colour, …).
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body = {
            "id": self.id,
            "passed": self.passed,
            "measured": self.measured,
            "threshold": self.threshold,
            "detail": self.detail,
            "critical": self.critical,
            "severity": self.severity,
        }
        if self.facts:
            body["facts"] = self.facts
        return body


def reasoning_for(results: list[CriterionResult]) -> str:
    """A vote's reasoning: one line per criterion, failing or passing, with what was measured."""
    return "\n".join(f"{'PASS' if r.passed else 'FAIL'} {r.id}: {r.detail}" for r in results)


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; the runner adds the criterion id, criticality and the failure's severity."""

    passed: bool
    measured: float | str | None
    threshold: float | str | None
    detail: str
    #: The value the check's severity bands grade (its documented measure); default: ``measured`` when a number.
    graded: float | None = None
    #: A failure whose severity the check knows without bands (a blank image is severe, a text that differs only
    #: in letter case is mild). A rubric's fixed ``severity`` still wins.
    severity: Severity | None = None
    #: Named measurements for the criterion's fix template.
    facts: dict[str, Any] = field(default_factory=dict)

    def graded_value(self) -> float | None:
        if self.graded is not None:
            return self.graded
        if isinstance(self.measured, int | float) and not isinstance(self.measured, bool):
            return float(self.measured)
        return None


@dataclass(frozen=True)
class Bands:
    """Where a check's failures turn moderate and severe, on its graded measure (a failure short of both is mild).

    ``higher_is_better``: the measure falls as images get worse (sharpness, white share), so a failure is
    severe at or below ``severe``; otherwise it rises (noise, blockiness) and is severe at or above it.
    """

    moderate: float | None
    severe: float | None
    higher_is_better: bool = True
    #: What is graded, in words for the rubric reference ("detail score", "share of the border that is white").
    measure: str = ""

    def with_overrides(self, moderate: float | None, severe: float | None) -> Bands:
        return Bands(
            self.moderate if moderate is None else moderate,
            self.severe if severe is None else severe,
            self.higher_is_better,
            self.measure,
        )

    def grade(self, value: float) -> Severity:
        def past(limit: float | None) -> bool:
            if limit is None:
                return False
            return value <= limit if self.higher_is_better else value >= limit

        if past(self.severe):
            return "severe"
        if past(self.moderate):
            return "moderate"
        return "mild"

    def ordered(self) -> bool:
        """Whether the severe band lies beyond the moderate one."""
        if self.moderate is None or self.severe is None:
            return True
        return self.severe <= self.moderate if self.higher_is_better else self.severe >= self.moderate


#: ITU-R 601 luminance weights.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


#: Pixels whose luminance is computed at a time: the float32 temporaries of a strip stay about a megabyte, where the
#: whole frame's (its three planes split, a second float32 frame) held 63 MiB above a 6 MP image's luminance.
LUMINANCE_STRIP_PIXELS = 1 << 18


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Luminance (ITU-R 601) of an HxWx3 array as float32 0..255, one channel at a time (no float copy of all
    three), a strip of rows at a time. The channels are split into planes first: numpy converts a contiguous plane
    to float about twice as fast as every third byte of the image."""
    import cv2

    height, width = rgb.shape[:2]
    gray = np.empty((height, width), dtype=np.float32)
    step = max(1, LUMINANCE_STRIP_PIXELS // max(1, width))
    for top in range(0, height, step):
        strip = rgb[top : top + step]
        red, green, blue = cv2.split(strip) if rgb.dtype == np.uint8 else (strip[..., 0], strip[..., 1], strip[..., 2])
        luminance_of_planes(red, green, blue, out=gray[top : top + step])
    return gray


def luminance_of_planes(
    red: np.ndarray, green: np.ndarray, blue: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """:func:`luminance` of an image already split into its colour planes (into ``out``, when given)."""
    height, width = red.shape[:2]
    gray = np.empty((height, width), dtype=np.float32) if out is None else out
    step = max(1, LUMINANCE_STRIP_PIXELS // max(1, width))
    term = np.empty((min(step, height), width), dtype=np.float32)
    # The same float32 products and sums, in the same order, as over the whole frame at once.
    for top in range(0, height, step):
        rows = slice(top, top + step)
        part, scratch = gray[rows], term[: min(step, height - top)]
        np.multiply(red[rows], LUMA[0], out=part, dtype=np.float32)
        part += np.multiply(green[rows], LUMA[1], out=scratch, dtype=np.float32)
        part += np.multiply(blue[rows], LUMA[2], out=scratch, dtype=np.float32)
    return gray


#: Pixels of an image split into its colour planes and weighed into its luminance at a time (64 rows of a 1024-px
#: image): the strip's planes are still in the processor's cache when the luminance reads them, where the whole
#: frame's planes, split first, had gone out to memory (a third of the two steps' time).
PLANES_STRIP_PIXELS = 1 << 16


def planes_and_luminance(rgb: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The colour planes of an HxWx3 uint8 array (as ``cv2.split`` gives them) and its :func:`luminance_of_planes`,
    computed a strip of rows at a time: the same numbers as splitting the whole frame first."""
    import cv2

    height, width = rgb.shape[:2]
    planes = tuple(np.empty((height, width), dtype=np.uint8) for _ in range(3))
    gray = np.empty((height, width), dtype=np.float32)
    step = max(1, PLANES_STRIP_PIXELS // max(1, width))
    for top in range(0, height, step):
        rows = slice(top, top + step)
        parts = [plane[rows] for plane in planes]
        for part, split in zip(parts, cv2.split(rgb[rows], parts), strict=True):
            if not np.shares_memory(part, split):  # OpenCV wrote arrays of its own
                np.copyto(part, split)
        luminance_of_planes(*parts, out=gray[rows])
    return planes, gray


#: Longest side up to which a decoded image keeps its colour planes (3 MB at 1024²) for the judges' measures.
KEEP_PLANES_SIDE = 1024


class DecodedImage:
    """Decoded pixels of one stored image, plus derived arrays computed once and shared.

    ``rgb`` and ``gray`` are the analysis copy: the image at full size, or past the analysis limit a box-averaged
    copy (see :class:`~sentinel.store.images.Decoded`). ``width`` and ``height`` are always the size delivered;
    ``detail_gray`` and ``line_grays`` are full-resolution, for the measures that read single pixels.
    """

    def __init__(self, sha256: str, decoded: Decoded) -> None:
        self.sha256 = sha256
        self.decoded = decoded
        self.rgb = decoded.rgb
        # The judges of one panel read these from their own threads: each array is computed once, the others
        # wait for it (functools.cached_property locks per class on 3.11 and not at all from 3.12).
        self._derived: dict[str, Any] = {}
        self._derived_lock = threading.RLock()

    def _once(self, name: str, compute: Callable[[], Any]) -> Any:
        with self._derived_lock:
            if name not in self._derived:
                self._derived[name] = compute()
            return self._derived[name]

    @property
    def height(self) -> int:
        return self.decoded.height

    @property
    def width(self) -> int:
        return self.decoded.width

    @property
    def reduced(self) -> bool:
        return self.decoded.reduced

    @property
    def _keeps_planes(self) -> bool:
        return self.rgb.dtype == np.uint8 and max(self.rgb.shape[:2]) <= KEEP_PLANES_SIDE

    @property
    def planes(self) -> tuple[np.ndarray, ...] | None:
        """``rgb``'s colour planes (uint8, each contiguous), split once for the luminance and the measures that read
        channels apart; None for an image longer than KEEP_PLANES_SIDE, whose planes are not worth their memory for
        the whole evaluation."""
        if not self._keeps_planes:
            return None

        def split() -> tuple[np.ndarray, ...]:
            import cv2

            return tuple(cv2.split(self.rgb))

        planes: tuple[np.ndarray, ...] = self._once("planes", split)
        return planes

    @property
    def gray(self) -> np.ndarray:
        """Luminance (ITU-R 601) as float32 0..255."""

        def compute() -> np.ndarray:
            if self._keeps_planes and "planes" not in self._derived:
                # Split and weighed together, a strip at a time (the lock held: ``planes`` waits for this).
                self._derived["planes"], gray = planes_and_luminance(self.rgb)
                return gray
            planes = self.planes
            return luminance(self.rgb) if planes is None else luminance_of_planes(*planes)

        gray: np.ndarray = self._once("gray", compute)
        return gray

    @property
    def detail_gray(self) -> np.ndarray:
        """Luminance at full resolution: the whole image, or its centre crop when ``rgb`` is reduced."""
        detail = self.decoded.detail
        if detail is None:
            return self.gray
        gray: np.ndarray = self._once("detail_gray", lambda: luminance(detail))
        return gray

    @property
    def line_grays(self) -> tuple[np.ndarray, np.ndarray]:
        """Luminance of every 8th full-resolution row (H/8 × W), and of every 8th column transposed (W/8 × H):
        views of ``gray``, or of a reduced image the uint8 lines kept by the decode (a float32 copy of them was
        40 MiB held beside a 40 MP image's; the measures convert the few lines they read at a time)."""
        rows, columns = self.decoded.rows, self.decoded.columns
        if rows is None or columns is None:
            return self.gray[::8], self.gray.T[::8]
        return rows, columns.T


@dataclass
class ImageSource:
    """A stored image the judges may read: its hash, declared type and a way to get its bytes."""

    sha256: str
    mime: str
    load_bytes: Callable[[], bytes]
    max_pixels: int
    #: Where Sentinel serves it (``/v1/images/{id}`` with a signed query, readable without a key), for judges
    #: that send a model endpoint a URL rather than the bytes; None: read its bytes instead.
    path: str | None = None
    #: Keep the first decode and hand it to every later reader: the offline judges of one panel share one decode
    #: and the arrays derived from it. Off by default, so a source held for long (a vision judge waiting on its
    #: model) pins no pixels; the process's decoded-pixel cache still serves it.
    keep_decoded: bool = False
    #: Stores bytes a judge made from this image (a mask as the plain coverage a model is shown) as an image of the
    #: store, and answers where Sentinel serves them, as ``path`` does; None where nothing is served (the CLI,
    #: benchmarks): a judge then sends those bytes themselves.
    publish: Callable[[bytes], str] | None = None
    _decoded: DecodedImage | None = field(default=None, init=False, repr=False, compare=False)
    _decode_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _published: dict[Hashable, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _publish_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @classmethod
    def stored(
        cls, images: ImageService, image_id: str, mime: str, publish: Callable[[bytes], str] | None = None
    ) -> ImageSource:
        """An image of the store (its id and type), read from its blob store when a judge first needs its bytes."""
        return cls(
            sha256=image_id,
            mime=mime,
            load_bytes=lambda: images.read(image_id),
            max_pixels=images.settings.max_image_pixels,
            path=images.url(image_id),
            publish=publish,
        )

    def published(self, key: Hashable, make: Callable[[], bytes]) -> str:
        """Where Sentinel serves the bytes ``make`` derives from this image (``key`` names the derivation), stored
        on the first call for ``key``: the judges of one message that send the same derivation store it once."""
        if self.publish is None:
            raise ValueError(f"image {self.sha256} is not served by this process: nothing derived from it can be")
        with self._publish_lock:
            path = self._published.get(key)
            if path is None:
                path = self._published[key] = self.publish(make())
            return path

    def published_already(self, key: Hashable) -> str | None:
        """:meth:`published` for ``key`` if it was stored already, without storing it; else None."""
        with self._publish_lock:
            return self._published.get(key)

    def decode(self) -> DecodedImage:
        if not self.keep_decoded:
            return self._decode()
        with self._decode_lock:
            if self._decoded is None:
                self._decoded = self._decode()
            return self._decoded

    def _decode(self) -> DecodedImage:
        return DecodedImage(self.sha256, decoded_pixels.get_or_decode(self.sha256, self.load_bytes, self.max_pixels))

    def shared(self) -> ImageSource:
        """The same image for judges that run together: decoded once, on first need, for all of them."""
        return ImageSource(
            self.sha256, self.mime, self.load_bytes, self.max_pixels, self.path, keep_decoded=True, publish=self.publish
        )


class OutOfTime(Exception):
    """The judge's time limit passed while it worked; it abstains."""


@dataclass
class JudgeContext:
    """Everything one judge needs to vote on one evaluation."""

    image: ImageSource
    params: dict[str, Any]
    source: ImageSource | None = None
    mask: ImageSource | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: ``time.monotonic()`` past which the judge's work stops (its ``timeout_seconds``); None: no limit.
    deadline: float | None = None
    _memo: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_deadline(self) -> None:
        """Raise OutOfTime once the judge's limit has passed, so a judge that overran stops at its next stage."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute a value once per judge run (decoded pixels, OCR words, SSIM map)."""
        if key not in self._memo:
            self.check_deadline()
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def decoded(self) -> DecodedImage:
        return self.memo("image", self.image.decode)

    def require(self, name: str) -> ImageSource:
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"this check needs the '{name}' image")
        return value


def failure_severity(criterion: Criterion, outcome: Outcome, check: Check[Any] | None = None) -> Severity:
    """How bad a failed criterion is: the rubric's fixed level, else what the check knows of this failure, else
    severe for a critical criterion, else the graded measure against the bands (the rubric's over the check's)."""
    if isinstance(criterion.severity, str):
        return criterion.severity
    if outcome.severity is not None:
        return outcome.severity
    if criterion.critical:
        return "severe"
    bands = check.bands if check is not None else None
    if isinstance(criterion.severity, SeverityBands) and bands is not None:
        bands = bands.with_overrides(criterion.severity.moderate, criterion.severity.severe)
    value = outcome.graded_value()
    if bands is None or value is None:
        return "moderate"
    return bands.grade(value)


def criterion_result(criterion: Criterion, outcome: Outcome, check: Check[Any] | None = None) -> CriterionResult:
    return CriterionResult(
        criterion.id,
        outcome.passed,
        outcome.measured,
        outcome.threshold,
        outcome.detail,
        criterion.critical,
        None if outcome.passed else failure_severity(criterion, outcome, check),
        outcome.facts,
    )


SettingsT = TypeVar("SettingsT", bound=CheckSettings)


@dataclass(frozen=True)
class Check(Generic[SettingsT]):
    name: str
    settings_model: type[SettingsT]
    run: Callable[[JudgeContext, SettingsT], Outcome]
    #: Inputs besides the image that this check reads (validated against the rubric's inputs).
    needs: tuple[str, ...] = ()
    #: Default severity bands on the check's graded measure (a rubric may move them); None: no graded measure.
    bands: Bands | None = None
    #: Default fix template, for criteria that do not write their own: what a generator must do instead.
    fix: str = ""


class JudgeKind:
    """A family of checks that one judge runs, registered under a kind name."""

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.description = description
        self.checks: dict[str, Check[Any]] = {}

    def check(
        self,
        name: str,
        settings_model: type[SettingsT] = CheckSettings,
        needs: tuple[str, ...] = (),
        *,
        bands: Bands | None = None,
        fix: str = "",
    ) -> Callable[[Callable[[JudgeContext, SettingsT], Outcome]], Callable[[JudgeContext, SettingsT], Outcome]]:
        def register(
            fn: Callable[[JudgeContext, SettingsT], Outcome],
        ) -> Callable[[JudgeContext, SettingsT], Outcome]:
            self.checks[name] = Check(name, settings_model, fn, needs, bands, fix)
            return fn

        return register


def pct(value: float) -> str:
    """0.912 → '91%'; keeps one decimal only where rounding would hide a miss."""
    text = f"{value * 100:.0f}%"
    return text if abs(round(value * 100) - value * 100) < 0.05 else f"{value * 100:.1f}%"


def region_name(box: tuple[int, int, int, int], width: int, height: int) -> str:
    """Where a box sits in words, on a 3×3 grid: 'lower right', 'centre', 'upper left'."""
    left, top, right, bottom = box
    cx = (left + right) / 2 / max(width, 1)
    cy = (top + bottom) / 2 / max(height, 1)
    row = "upper" if cy < 1 / 3 else ("lower" if cy > 2 / 3 else "middle")
    col = "left" if cx < 1 / 3 else ("right" if cx > 2 / 3 else "centre")
    if row == "middle" and col == "centre":
        return "centre"
    if row == "middle":
        return f"middle {col}"
    return f"{row} {col}"
