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


class SentinelUnexpectedAnswer(SentinelError):
    """Something answered with a success status but not with Sentinel's JSON: a proxy's login page, a web app that
    answers every path, a base URL with a wrong prefix, or a server of another version. ``status_code`` and
    ``content_type`` are the answer's; the message quotes the start of its body."""

    def __init__(self, message: str, status_code: int, content_type: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.content_type = content_type

    @classmethod
    def of(cls, response: httpx.Response, problem: str) -> SentinelUnexpectedAnswer:
        content_type = response.headers.get("content-type", "")
        text = " ".join(response.text[:120].split()) or "an empty body"
        where = f"{response.request.method} {response.request.url}"
        message = (
            f"{where} answered {response.status_code} ({content_type or 'no content type'}) but {problem}: "
            f"{text!r}; is this the address of a Sentinel server?"
        )
        return cls(message, response.status_code, content_type)


def answer_json(response: httpx.Response) -> dict[str, Any]:
    """A success answer's JSON object, or :class:`SentinelUnexpectedAnswer` naming what came instead."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SentinelUnexpectedAnswer.of(response, "not JSON") from None
    if not isinstance(body, dict):
        raise SentinelUnexpectedAnswer.of(response, f"its JSON is a {type(body).__name__}, not an object")
    return body


class SentinelTimeout(SentinelError):
    """A wait for a verdict or a finished job ran out. ``last`` is the resource as last seen (still running)."""

    def __init__(self, message: str, last: Any = None) -> None:
        super().__init__(message)
        self.last = last


class SentinelConnectionError(SentinelError):
    """Sentinel could not be reached (refused, reset, timed out), every retry included."""
