"""A JSON value an answer sends only once something it stands for is done: a value a service may put in an answer
without knowing HTTP.

:class:`sentinel.http.responses.JSONResponse` renders it with the rest of the answer, and sends it after everything
before it, once its gate has opened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


class Gated:
    """A JSON value sent only once ``gate()`` returns, after everything before it in the answer (its length is
    counted in the answer's from the start). A gate that raises cuts the answer short there: its client sees a
    broken answer, never a complete one the server could not stand behind."""

    __slots__ = ("gate", "rendered", "value")

    def __init__(self, value: Any, gate: Callable[[], Awaitable[None]]) -> None:
        self.value = value
        self.gate = gate
        #: ``value`` as JSON, once the answer holding it has been rendered.
        self.rendered = b""
