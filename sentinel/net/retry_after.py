"""The wait an HTTP answer asks for before the next call, read the same way for image providers and vision judges."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: The longest wait believed: a larger one (or a date far ahead) is a misconfigured server, not a plan.
MAX_WAIT_SECONDS = 3600.0
#: OpenAI's rate-limit budgets (platform.openai.com/docs/guides/rate-limits, "Rate limits in headers"): each has a
#: ``x-ratelimit-remaining-<budget>`` and a ``x-ratelimit-reset-<budget>``, a duration such as ``1s``, ``6m0s`` or
#: ``20ms`` until it is full again. Azure OpenAI and many OpenAI-compatible servers send the same headers.
RATE_LIMIT_BUDGETS = ("requests", "tokens")
#: One part of a Go-style duration (``1h2m3.5s``, ``20ms``), as OpenAI writes its reset headers.
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Where two HTTP dates joined into one header value (``Wed, 21 Oct 2026 07:28:00 GMT, Thu, …``) part.
_DATE_JOIN = re.compile(r"(?<=GMT)\s*,\s*", re.IGNORECASE)


def asked_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` (OpenAI and Azure OpenAI send it, more precise than Retry-After),
    ``Retry-After`` as delta-seconds or an HTTP date (RFC 9110 allows both; proxies and gateways send dates), else
    OpenAI's ``x-ratelimit-reset-requests`` / ``-tokens`` of the budgets the answer says are used up (see
    :func:`rate_limit_reset`). None when no header holds a usable value. ``headers`` must look names up
    case-insensitively.

    A header sent twice reaches us joined by a comma (``1, 3600``): the longest wait is taken, since calling before
    it is over is certain to be refused again."""
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return _bounded(milliseconds / 1000.0)
    value = headers.get("retry-after")
    seconds = _retry_after(value) if value else None
    if seconds is None:
        seconds = rate_limit_reset(headers)
    return None if seconds is None else _bounded(seconds)


def rate_limit_reset(headers: Mapping[str, str]) -> float | None:
    """Seconds until the used-up rate-limit budgets (``x-ratelimit-remaining-<budget>: 0``) are full again, the
    longest of them; a reset whose budget's remaining is not given counts too (a gateway that sends only resets).
    A budget with something left says nothing about the wait: OpenAI sends these headers on every answer, a 500's
    too, and its token budget's reset is often minutes away while requests may go on."""
    waits: list[float] = []
    for budget in RATE_LIMIT_BUDGETS:
        reset = _duration(headers.get(f"x-ratelimit-reset-{budget}"))
        if reset is None:
            continue
        remaining = _number(headers.get(f"x-ratelimit-remaining-{budget}"))
        if remaining is None or remaining <= 0:
            waits.append(reset)
    return max(waits, default=None)


def _retry_after(value: str) -> float | None:
    parts = value.split(",")
    seconds = [_number(part) for part in parts]
    if all(second is not None for second in seconds):
        return max(second for second in seconds if second is not None)
    dates = [_until(part) for part in _DATE_JOIN.split(value.strip())]
    if dates and all(date is not None for date in dates):
        return max(date for date in dates if date is not None)
    return None


def _until(value: str) -> float | None:
    """Seconds from now until the HTTP date ``value``; None when it is no date."""
    try:
        return (parsedate_to_datetime(value.strip()) - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _duration(value: str | None) -> float | None:
    """A Go-style duration (``6m0s``, ``20ms``, ``1.5s``) or plain seconds as seconds; None when it is neither."""
    if value is None:
        return None
    text = value.strip()
    plain = _number(text)
    if plain is not None:
        return plain
    if not text or _DURATION_PART.sub("", text):
        return None
    seconds = sum(float(amount) * _DURATION_UNITS[unit] for amount, unit in _DURATION_PART.findall(text))
    return seconds if math.isfinite(seconds) else None


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
