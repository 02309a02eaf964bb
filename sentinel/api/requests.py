"""What every endpoint does the same way: parsing a JSON body into a model, and long-polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from sentinel.errors import InvalidInput

#: How often a long-poll re-reads the thing it waits for.
POLL_INTERVAL_SECONDS = 0.05

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


def parse_body(model: type[ModelT], raw: bytes) -> ModelT:
    """The body as ``model``, or a 400 naming the first field that is wrong (OpenAI's wording for extras)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            raise InvalidInput(f"Unknown parameter: '{field}'.", field=field) from exc
        raise InvalidInput(f"Invalid '{field or 'body'}': {first['msg']}", field=field) from exc


async def long_poll(request: Request, load: Callable[[], T], finished: Callable[[T], bool], wait: float) -> T:
    """Re-read (in a thread) until ``finished``, ``wait`` seconds pass or the client goes away."""
    give_up = time.monotonic() + wait
    while True:
        value = await run_in_threadpool(load)
        if finished(value) or time.monotonic() >= give_up or await request.is_disconnected():
            return value
        await asyncio.sleep(POLL_INTERVAL_SECONDS)
