"""Wrapping an endpoint's work so that a request with an Idempotency-Key is done once and replayed after."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from sentinel.api.responses import JSONResponse, plain_json
from sentinel.keys.http import scope_of

Answer = tuple[int, dict[str, Any], dict[str, str]]


async def idempotent(
    request: Request,
    endpoint: str,
    digest: Callable[[], str],
    produce: Callable[[], Awaitable[Answer]],
    refresh: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> JSONResponse:
    """Run ``produce`` once per Idempotency-Key; a retry with the same content gets the stored answer.

    ``refresh`` rewrites what must not be replayed as stored, such as presigned URLs that have expired.
    """
    key = request.headers.get("idempotency-key")
    if key is None:
        status, body, headers = await produce()
        return JSONResponse(body, status_code=status, headers=headers)
    service = request.app.state.idempotency
    claim = await run_in_threadpool(service.claim, scope_of(request), endpoint, key, digest())
    if claim.record_id is None:
        headers = dict(claim.headers or {}) | {"Idempotent-Replayed": "true"}
        replayed = claim.response if refresh is None or claim.response is None else refresh(claim.response)
        return JSONResponse(replayed, status_code=claim.status_code, headers=headers)
    try:
        status, body, headers = await produce()
    except BaseException:
        await run_in_threadpool(service.release, claim.record_id)
        raise
    await run_in_threadpool(service.complete, claim.record_id, status, plain_json(body), headers)
    return JSONResponse(body, status_code=status, headers=headers)
