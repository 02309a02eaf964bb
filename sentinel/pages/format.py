"""Jinja filters shared by the pages: ages, percentages, verdict badges, measurements."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from jinja2 import Environment

from sentinel.evaluation.numbers import number
from sentinel.models import as_utc, utcnow


def age(iso: str | None) -> str:
    """How long ago, in the largest unit that reads naturally ("4 min", "3 h", "2 d")."""
    if not iso:
        return ""
    seconds = max(0.0, (utcnow() - as_utc(datetime.fromisoformat(iso))).total_seconds())
    return duration(seconds)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def failed_criteria(judges: list[dict[str, Any]]) -> int:
    """Distinct failing criteria: two vision judges failing the same one is one issue. An abstaining judge's
    findings (text in the image addressed to the judges) count too."""
    failing = [judge for judge in judges if judge.get("passed") is not True]
    return len({c["id"] for judge in failing for c in judge["criteria"] if not c["passed"]})


def badge(verdict: str | None, judges: list[dict[str, Any]] | None = None) -> str:
    """The verdict as a person reads it: what was found, not the colour's name."""
    if verdict is None:
        return "Judging…"
    issues = failed_criteria(judges or [])
    if verdict == "green" and issues == 0:
        return "No quality issues found"
    if issues == 0:
        return "Not enough judges voted" if verdict == "amber" else "Failed"
    return f"{issues} quality issue{'s' if issues != 1 else ''} detected"


def measurement(value: Any) -> str:
    """A criterion's measured value or threshold, formatted as the judges' detail texts format it."""
    if value is None:
        return "–"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(value)
    return str(value)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def register_filters(env: Environment) -> None:
    env.filters.update(
        age=age, duration=duration, percent=percent, badge=badge, measurement=measurement, as_json=as_json
    )
