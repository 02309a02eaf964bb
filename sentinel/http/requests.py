"""What every endpoint does the same way: parsing a JSON body into a model, and long-polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from sentinel.errors import InvalidInput
from sentinel.http.errors import validation_code
from sentinel.http.threads import in_thread
from sentinel.telemetry.finished import FinishedSignals

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


def parse_body(model: type[ModelT], raw: bytes, *, strict: bool = False) -> ModelT:
    """The body as ``model``, or a 400 naming the first field that is wrong (OpenAI's wording for extras).
    ``strict``: a JSON value of the wrong type (``"n": "2"``, ``"seed": 1.5``) is refused, as OpenAI's API refuses
    it, instead of being coerced; a JSON integer still passes for a float field."""
    try:
        parsed = model.model_validate_json(raw, strict=strict)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            error = InvalidInput(f"Unknown parameter: '{field}'.", field=field)
        else:
            error = InvalidInput(f"Invalid '{field or 'body'}': {first['msg']}", field=field)
        # OpenAI's code for the rule broken (unknown_parameter, missing_required_parameter, invalid_value).
        error.code = validation_code(first["type"]) if field else None
        raise error from exc
    # JSON can carry a NUL only as the escape \u0000 (a raw control character is refused by the parser): without
    # that text in the body there is nothing to look for, and walking the whole model costs every request.
    if b"\\u0000" in raw:
        reject_nul(parsed.model_dump(), "")
    return parsed


def reject_nul(value: Any, field: str) -> None:
    """Refuse text holding a NUL character (``\\u0000``): valid JSON, but PostgreSQL cannot store it in any text
    column, so it would fail later, as a 500 or a worker retrying for ever (a judge quoting it in its reasoning)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(
                f"Invalid '{field or 'body'}': text may not contain NUL characters (\\u0000)", field=field or None
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            reject_nul(key, name)
            reject_nul(item, name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            reject_nul(item, f"{field}.{index}" if field else str(index))


async def long_poll(
    request: Request,
    key: str,
    load: Callable[[], T],
    finished: Callable[[T], bool],
    wait: float,
    signals: FinishedSignals,
) -> T:
    """Read (in a thread) until ``finished``, ``wait`` seconds pass or the client goes away. Between reads it
    waits for ``key`` to be announced on ``signals`` (see :mod:`sentinel.telemetry.finished`), not for a timer.
    ``signals`` is ``services.finished``; the ``request`` tells when the client went away.
    """
    give_up = time.monotonic() + wait
    with signals.waiting(key) as waiter:
        while True:
            value = await in_thread(load)
            remaining = give_up - time.monotonic()
            if finished(value) or remaining <= 0 or await request.is_disconnected():
                return value
            await waiter.wait(min(remaining, signals.interval()))
