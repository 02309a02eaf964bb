"""A JSON value an answer sends only once something it stands for is done: a value a service may put in an answer
without knowing HTTP.

:class:`sentinel.http.responses.JSONResponse` renders it with the rest of the answer, and sends it after everything
before it, once its gate has opened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

#: What may stand in for a gated value whose gate failed, given the value and the failure: values in order of
#: preference, the first whose JSON fits in the gated value's length is sent instead (an answer's length was said in
#: its headers).
Instead = Callable[[Any, BaseException], Iterable[Any]]


class Gated:
    """A JSON value sent only once ``gate()`` returns, after everything before it in the answer (its length is
    counted in the answer's from the start). A gate that raises cuts the answer short there: its client sees a
    broken answer, never a complete one the server could not stand behind; unless ``instead`` gives a value, no
    longer than this one's JSON, that says what went wrong (sent padded with spaces to the same length)."""

    __slots__ = ("gate", "instead", "rendered", "value")

    def __init__(self, value: Any, gate: Callable[[], Awaitable[None]], instead: Instead | None = None) -> None:
        self.value = value
        self.gate = gate
        self.instead = instead
        #: ``value`` as JSON, once the answer holding it has been rendered.
        self.rendered = b""

    def rendered_instead(self, failure: BaseException) -> bytes | None:
        """What to send in this value's place now that its gate raised ``failure``, as long as its JSON: None when
        nothing may stand in (the answer is then cut short)."""
        if self.instead is None:
            return None
        for value in self.instead(self.value, failure):
            rendered = orjson.dumps(value)
            if len(rendered) <= len(self.rendered):
                return rendered.ljust(len(self.rendered))
        return None
