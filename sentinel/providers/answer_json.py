"""Reading a provider's answer as JSON, the one way every adapter reads one, error answers included.

A provider's body is untrusted input: it may be nested 200000 deep (``{"error": [[[[…]]]]}``), which the stdlib
parser meets with a RecursionError, not a ValueError. Every reader maps that to ValueError here, so an adapter's
``except ValueError`` files it as the provider's unreadable answer (the next candidate may serve), never a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson

from sentinel.net.untrusted import storable


class NestedTooDeeply(ValueError):
    """The answer is JSON nested deeper than any parser here reads."""


def json_body(response: httpx.Response) -> Any:
    """The answer's JSON, parsed from its bytes with orjson: an image answer is megabytes of base64, and
    ``response.json()`` would first decode it to a str and then parse it with the slower stdlib parser.
    Raises ValueError when it is not JSON, or is nested too deeply to read."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        # orjson refuses a lone surrogate's escape (``\\ud800``), which JSON allows: the stdlib reads it, and the
        # surrogates are dropped from every string (the adapter may log the answer's keys, or quote its words).
        # Anything else is not JSON there either. (orjson also refuses nesting past 1024, where the stdlib recurses.)
        try:
            return storable(json.loads(response.content))
        except RecursionError:
            raise NestedTooDeeply("the answer's JSON is nested too deeply to read") from None


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's JSON when it is an object; None when it is anything else or no readable JSON (an error answer
    read for its words, where an unreadable body simply has none)."""
    try:
        body = json_body(response)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
