"""What the client raises: the API's own errors (OpenAI's error shape, parsed), waits that ran out, and a server
that could not be reached after every retry."""

from __future__ import annotations

import json
from typing import Any

import httpx

#: How much of a non-JSON error answer (its body, else its status text) an error quotes.
MAX_QUOTED_CHARS = 500


class SentinelError(Exception):
    """Base class of everything :mod:`sentinel.client` raises on purpose."""


class SentinelAPIError(SentinelError):
    """Sentinel (or a proxy in front of it) answered with an error status.

    ``type``, ``message``, ``param`` and ``code`` come from the body ``{"error": {...}}``; ``error`` is that whole
    object, extra fields included (a 409 on a decision names ``decided_by``, ``decided_at`` and ``decision``).
    """

    def __init__(
        self,
        status_code: int,
        type: str,  # the API's own name for it, as in OpenAI's SDK
        message: str,
        param: str | None = None,
        code: str | None = None,
        error: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status_code} {type}: {message}" + (f" (param: {param})" if param else ""))
        self.status_code = status_code
        self.type = type
        self.message = message
        self.param = param
        self.code = code
        self.error = error or {}
        self.headers = headers or {}

    @classmethod
    def from_response(cls, response: httpx.Response) -> SentinelAPIError:
        """The error a response carries, in our shape when it has it, else its status and text (a proxy's own
        HTML page for a 502, say)."""
        headers = dict(response.headers)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            param = error.get("param") or error.get("field")
            return cls(
                response.status_code,
                str(error.get("type") or "http_error"),
                error["message"],
                param if isinstance(param, str) else None,
                error.get("code") if isinstance(error.get("code"), str) else None,
                error,
                headers,
            )
        # A proxy's page or status line can be long; the start says what happened.
        text = response.text.strip()[:MAX_QUOTED_CHARS] or response.reason_phrase[:MAX_QUOTED_CHARS] or "no body"
        return cls(response.status_code, "http_error", text, headers=headers)


class SentinelTimeout(SentinelError):
    """A wait for a verdict or a finished job ran out. ``last`` is the resource as last seen (still running)."""

    def __init__(self, message: str, last: Any = None) -> None:
        super().__init__(message)
        self.last = last


class SentinelConnectionError(SentinelError):
    """Sentinel could not be reached (refused, reset, timed out), every retry included."""
