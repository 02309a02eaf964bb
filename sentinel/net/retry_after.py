"""The wait an HTTP answer asks for before the next call, read the same way for image providers and vision judges."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: The longest wait believed: a larger one (or a date far ahead) is a misconfigured server, not a plan.
MAX_WAIT_SECONDS = 3600.0


def asked_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` (OpenAI and Azure OpenAI send it, more precise than Retry-After)
    or ``Retry-After`` as delta-seconds or an HTTP date (RFC 9110 allows both; proxies and gateways send dates).
    None when neither header holds a usable value. ``headers`` must look names up case-insensitively."""
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return _bounded(milliseconds / 1000.0)
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _number(value)
    if seconds is None:
        try:
            seconds = (parsedate_to_datetime(value.strip()) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return _bounded(seconds)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _bounded(seconds: float) -> float:
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)
