"""Shapes every endpoint shares in the API description: the error body, and the lists."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class ErrorBody(BaseModel):
    type: str = Field(description="stable machine-readable kind, e.g. `unknown_task`, `rate_limit_error`")
    message: str = Field(description="what is wrong and what to do, in words")
    field: str | None = Field(default=None, description="the request field at fault, when there is one")
    param: str | None = Field(default=None, description="the same as `field` (OpenAI's name)")
    code: str | None = Field(default=None, description="a finer code where one helps, e.g. `model_not_found`")


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer (the OpenAI error shape, so the OpenAI SDK raises the right exception)."""

    error: ErrorBody


class ListOut(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]


#: What each error status means on this API (the same for every endpoint that can answer it).
ERROR_MEANINGS = {
    400: "invalid request: a body, parameter or header that cannot be accepted (the message names it)",
    401: "no API key, or a key that is not valid",
    402: "a spend cap would be exceeded",
    403: "the key lacks the scope this call needs, or the signed URL is not valid",
    404: "no such resource (or not one of the caller's)",
    405: "method not allowed; the `Allow` header lists the allowed ones",
    408: "the request body did not arrive in time",
    409: "conflict: already decided, or a request with the same Idempotency-Key is still running",
    410: "the model is parked: it was retired or replaced (the message says by what)",
    413: "the request body or an image is larger than the limit",
    415: "unsupported content type",
    422: "well-formed but unusable: an image that does not decode, a URL that could not be fetched, an "
    "Idempotency-Key reused with a different request",
    429: "rate limit reached; `Retry-After` says when to try again",
    502: "the provider refused Sentinel's credentials",
    503: "a dependency (database, broker, providers) is unavailable right now; try again shortly",
    504: "the provider did not answer in time",
}

#: Answers that may come with Retry-After.
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}}
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with its meaning and the error body."""
    declared: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorOut, "description": ERROR_MEANINGS[code]}
        if code in (409, 429, 503):
            entry["headers"] = _RETRY_AFTER
        declared[code] = entry
    return declared


#: What any /v1 call may be refused with before its endpoint runs (keys, scopes, rate limits, the key store).
V1_ERRORS = errors(401, 403, 429, 503)
#: What any call with a body may be refused with while the body is read (size cap, slow upload).
BODY_ERRORS = errors(408, 413)


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its nested models written in place: a request body declared by hand (the
    endpoints read raw bodies) carries no ``$defs`` of its own that its ``$ref``s could point to."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {key: value for key, value in node.items() if key != "$ref"}
                return inline(defs[ref.removeprefix("#/$defs/")]) | inline(rest)
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)
