"""Words from a server we call (a provider's answer, a vision model's reply) made fit to keep.

Such text may hold NUL, which PostgreSQL's text refuses, and lone surrogates, which JSON's ``\\ud800`` escape decodes
to and which no UTF-8 encoder writes (the row, the log line or the answer holding one fails). Both are dropped where
the words enter, so every row, header, page and answer after that holds only what it can store."""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(value: str) -> str:
    """``value`` without NUL and lone surrogates (a surrogate pair decoded from JSON is one character, not two)."""
    return _UNSTORABLE.sub("", value) if _UNSTORABLE.search(value) else value


def storable(value: Any) -> Any:
    """A parsed JSON value with :func:`storable_text` applied to every string in it, keys too; other values as
    they are."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(key) if isinstance(key, str) else key: storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value
