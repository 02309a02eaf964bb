"""Which waiting items a reviewer wants to see: by task, objecting judge, failing criterion, provider:model, age."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from sentinel.errors import InvalidInput

#: "90", "90s", "30m", "2h", "1d", "1w": a number of seconds, minutes, hours, days or weeks.
AGE = re.compile(r"^\s*(\d{1,9})\s*([smhdw]?)\s*$", re.IGNORECASE)
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Longer than any item waits; a bigger number is a typo, not a filter.
MAX_AGE_SECONDS = 10 * 365 * 86400
#: Filter values are names (task ids, judge names, "provider:model"); longer ones cannot match anything stored.
MAX_VALUE = 300


def parse_age(value: str | None, field: str) -> int | None:
    """``"2h"`` → 7200; empty → None; anything else is refused naming the parameter and the accepted forms."""
    if value is None or not value.strip():
        return None
    match = AGE.match(value)
    if match is None:
        raise InvalidInput(
            f"{field} must be a number of seconds or a number with s, m, h, d or w (like 30m, 2h, 1d), not {value!r}",
            field=field,
        )
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2).lower()]
    if seconds > MAX_AGE_SECONDS:
        raise InvalidInput(f"{field} is longer than ten years: {value!r}", field=field)
    return seconds


def format_age(seconds: int) -> str:
    """The shortest exact way to write ``seconds`` in the form :func:`parse_age` reads."""
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % UNIT_SECONDS[unit] == 0:
            return f"{seconds // UNIT_SECONDS[unit]}{unit}"
    return str(seconds)


def _text(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    if "\x00" in value:
        raise InvalidInput(f"{field} may not contain NUL characters (\\u0000)", field=field)
    if len(value) > MAX_VALUE:
        raise InvalidInput(f"{field} is not a name Sentinel uses (at most {MAX_VALUE} characters)", field=field)
    return value.strip()


@dataclass(frozen=True)
class QueueFilter:
    task: str | None = None
    #: A judge that objected (its vote's passed is False).
    judge: str | None = None
    #: A criterion id that failed in any judge's vote.
    criterion: str | None = None
    #: "provider:model" of the job attempt that made the image.
    provider_model: str | None = None
    #: Waiting at least this long.
    min_age_seconds: int | None = None
    #: Waiting at most this long.
    max_age_seconds: int | None = None

    @classmethod
    def from_query(
        cls,
        task: str | None = None,
        judge: str | None = None,
        criterion: str | None = None,
        model: str | None = None,
        older_than: str | None = None,
        newer_than: str | None = None,
    ) -> QueueFilter:
        """Query-string values (empty ones mean "any"); a bad one is refused with InvalidInput naming it."""
        return cls(
            task=_text(task, "task"),
            judge=_text(judge, "judge"),
            criterion=_text(criterion, "criterion"),
            provider_model=_text(model, "model"),
            min_age_seconds=parse_age(older_than, "older_than"),
            max_age_seconds=parse_age(newer_than, "newer_than"),
        )

    def as_query(self) -> dict[str, str]:
        """Back to query-string parameters (only those set), for links that keep the reviewer's filters."""
        query = {
            "task": self.task,
            "judge": self.judge,
            "criterion": self.criterion,
            "model": self.provider_model,
            "older_than": format_age(self.min_age_seconds) if self.min_age_seconds is not None else None,
            "newer_than": format_age(self.max_age_seconds) if self.max_age_seconds is not None else None,
        }
        return {name: value for name, value in query.items() if value is not None}

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))
