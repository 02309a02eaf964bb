"""What every offline judge kind is made of: checks with typed settings, and their results."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from sentinel.store.images import decoded_pixels


class CheckSettings(BaseModel):
    """Base of every check's settings; unknown keys are a rubric error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class CriterionResult:
    id: str
    passed: bool
    measured: float | str | None
    threshold: float | str | None
    detail: str
    critical: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "passed": self.passed,
            "measured": self.measured,
            "threshold": self.threshold,
            "detail": self.detail,
            "critical": self.critical,
        }


def reasoning_for(results: list[CriterionResult]) -> str:
    """A vote's reasoning: one line per criterion, failing or passing, with what was measured."""
    return "\n".join(f"{'PASS' if r.passed else 'FAIL'} {r.id}: {r.detail}" for r in results)


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; the runner adds the criterion id and criticality."""

    passed: bool
    measured: float | str | None
    threshold: float | str | None
    detail: str


#: ITU-R 601 luminance weights.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class DecodedImage:
    """Decoded pixels of one stored image, plus derived arrays computed once and shared."""

    def __init__(self, sha256: str, rgb: np.ndarray) -> None:
        self.sha256 = sha256
        self.rgb = rgb

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @cached_property
    def gray(self) -> np.ndarray:
        """Luminance (ITU-R 601) as float32 0..255."""
        rgb = self.rgb.astype(np.float32)
        return rgb[..., 0] * LUMA[0] + rgb[..., 1] * LUMA[1] + rgb[..., 2] * LUMA[2]


@dataclass
class ImageSource:
    """A stored image the judges may read: its hash, declared type and a way to get its bytes."""

    sha256: str
    mime: str
    load_bytes: Callable[[], bytes]
    max_pixels: int

    def decode(self) -> DecodedImage:
        rgb = decoded_pixels.get_or_decode(self.sha256, self.load_bytes, self.max_pixels)
        return DecodedImage(self.sha256, rgb)


@dataclass
class JudgeContext:
    """Everything one judge needs to vote on one evaluation."""

    image: ImageSource
    params: dict[str, Any]
    source: ImageSource | None = None
    mask: ImageSource | None = None
    options: dict[str, Any] = field(default_factory=dict)
    _memo: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute a value once per judge run (decoded pixels, OCR words, SSIM map)."""
        if key not in self._memo:
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


SettingsT = TypeVar("SettingsT", bound=CheckSettings)


@dataclass(frozen=True)
class Check(Generic[SettingsT]):
    name: str
    settings_model: type[SettingsT]
    run: Callable[[JudgeContext, SettingsT], Outcome]
    #: Inputs besides the image that this check reads (validated against the rubric's inputs).
    needs: tuple[str, ...] = ()


class JudgeKind:
    """A family of checks that one judge runs, registered under a kind name."""

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.description = description
        self.checks: dict[str, Check[Any]] = {}

    def check(
        self, name: str, settings_model: type[SettingsT] = CheckSettings, needs: tuple[str, ...] = ()
    ) -> Callable[[Callable[[JudgeContext, SettingsT], Outcome]], Callable[[JudgeContext, SettingsT], Outcome]]:
        def register(
            fn: Callable[[JudgeContext, SettingsT], Outcome],
        ) -> Callable[[JudgeContext, SettingsT], Outcome]:
            self.checks[name] = Check(name, settings_model, fn, needs)
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
