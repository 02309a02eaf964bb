"""A repeated query parameter (``?window=24h&window=1h``) is refused naming it, as a repeated form field is.

Every query parameter of the API takes one value; a framework reading one of two takes the last without a word, so
the caller who sent both gets an answer for a value it may not have meant. Pure ASGI, before any route or body.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from sentinel.http.errors import INVALID_REQUEST, error_response

#: Query parameters that may be given more than once. None is so far: a list filter would be named here.
REPEATABLE: frozenset[str] = frozenset()


def repeated_parameter(query_string: bytes) -> tuple[str, int] | None:
    """The first query parameter given more than once, and how many times; None when each is given once."""
    if b"&" not in query_string:
        return None  # one parameter at most: the common case costs one scan of a short string
    names = Counter(name for name, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    for name, count in names.items():
        if count > 1 and name not in REPEATABLE:
            return name, count
    return None


class RefuseRepeatedQueryParameters:
    """A 400 naming a query parameter sent more than once (``param``: its name)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            repeated = repeated_parameter(scope.get("query_string", b""))
            if repeated is not None:
                name, count = repeated
                shown = name[:60]
                refusal = error_response(
                    400,
                    INVALID_REQUEST,
                    f"query parameter '{shown}' was sent {count} times; send it once",
                    shown,
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
