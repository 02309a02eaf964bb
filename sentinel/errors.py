"""The error hierarchy shared by every domain.

Services raise these; one handler in :mod:`sentinel.api.app` turns them into
``{"error": {"type", "message", "field"?, "param", "code"}}`` with the class's status code (``param``
and ``code`` make it the OpenAI error shape too, so the OpenAI SDK raises the right exception), and
the CLI prints the message and exits with code 2.
"""

from __future__ import annotations


def format_size(size: int) -> str:
    """Bytes in the binary units people expect of a limit: 20 MB is 20 × 1024 × 1024 bytes."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def over_the_limit(size: int, limit: int) -> str:
    """ "<size>; the limit is <limit>", in bytes where the rounded sizes would read the same ("20 MB; the limit is
    20 MB" for one byte too many)."""
    shown, allowed = format_size(size), format_size(limit)
    if shown == allowed:
        shown, allowed = f"{size:,} bytes", f"{limit:,} bytes"
    return f"{shown}; the limit is {allowed}"


class SentinelError(Exception):
    """Base class: a problem we can explain to the caller."""

    #: HTTP status used when this error reaches the API.
    status_code: int = 400
    #: Stable machine-readable error type (OpenAI's ``invalid_request_error`` for a request the caller must change).
    error_type: str = "invalid_request_error"
    #: Finer machine-readable code where one helps (e.g. "model_not_found").
    code: str | None = None

    def __init__(self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        #: Extra response headers (e.g. Retry-After).
        self.headers = headers
        #: Extra fields of the error object that a client can act on (e.g. who decided an item already).
        self.details: dict[str, object] = {}

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"type": self.error_type, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        body["param"] = self.field
        body["code"] = self.code
        return {"error": self.details | body}


class InvalidInput(SentinelError):
    """The caller sent something we cannot accept (bad param, missing file...)."""


class UnsupportedMediaType(SentinelError):
    """A body in a content type the endpoint does not read."""

    status_code = 415
    error_type = "unsupported_media_type"


class NotFound(SentinelError):
    status_code = 404
    error_type = "not_found"


class UnknownTask(SentinelError):
    """A task no rubric defines. Named in a request's body or query it is a 400 naming the field, as any refused
    value is (an SDK reads a 404 as a wrong URL: OpenAI's raises NotFoundError); ``GET /v1/rubrics/{task}``, where
    the task is the path, answers 404."""

    status_code = 400
    error_type = "unknown_task"


class BadImage(SentinelError):
    """Bytes that are not an image we accept: wrong format, truncated, a bomb."""

    status_code = 422
    error_type = "bad_image"


class ImageTooLarge(SentinelError):
    status_code = 413
    error_type = "image_too_large"


class DisallowedURL(SentinelError):
    """A URL we refuse to fetch: wrong scheme, private address, too many redirects."""

    status_code = 400
    error_type = "disallowed_url"


class FetchFailed(SentinelError):
    """A permitted URL that could not be fetched (timeout, HTTP error, too big)."""

    status_code = 422
    error_type = "fetch_failed"


class ConfigError(SentinelError):
    """A rubric, judge or settings file that does not validate."""

    status_code = 500
    error_type = "config_error"


class DecodeBusy(SentinelError):
    """Decoding an image would pass the process's memory budget for decodes, and room did not free up in time."""

    status_code = 503
    error_type = "busy"
