"""Wrapping an endpoint's work so that a request with an Idempotency-Key is done once and replayed after."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from sentinel.http.responses import JSONResponse, plain_json
from sentinel.idempotency.service import AnsweredMeanwhile, Claim, IdempotencyService, RecordedAnswer
from sentinel.keys.http import scope_of

logger = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any], dict[str, str]]
#: A claim older than this with no answer was left by a request that died: a retry takes it over. On an endpoint
#: that stores its answer with its work, the work was not done either; on one that does not (a generation), a
#: live request keeps its claim fresh (CLAIM_HEARTBEAT_SECONDS), so only a dead one's claim grows this old.
STALE_CLAIM_SECONDS = 30.0
#: How often a request still working on a claim says so; well under STALE_CLAIM_SECONDS.
CLAIM_HEARTBEAT_SECONDS = 5.0


#: The claim the request being produced holds (None without an Idempotency-Key): a request that starts a job reads
#: it to write the job on it, or, having taken over a dead request's claim, to wait for that request's job.
HELD_CLAIM: ContextVar[Claim | None] = ContextVar("held_claim", default=None)


def _replay(claim: Claim, refresh: Callable[[dict[str, Any]], dict[str, Any]] | None) -> JSONResponse:
    headers = dict(claim.headers or {}) | {"Idempotent-Replayed": "true"}
    replayed = claim.response if refresh is None or claim.response is None else refresh(claim.response)
    return JSONResponse(replayed, status_code=claim.status_code, headers=headers)


async def idempotent(
    request: Request,
    service: IdempotencyService,
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
    claim = await run_in_threadpool(
        service.claim, scope_of(request), endpoint, key, digest(), stale_after_seconds=STALE_CLAIM_SECONDS
    )
    if claim.record_id is None:
        return _replay(claim, refresh)
    # Without the heartbeat a server killed mid-request (OOM, a node lost) would leave the key claimed forever,
    # every retry a 409; with it, only a claim nobody renews is taken over.
    heartbeat = asyncio.create_task(_keep_claimed(service, claim.record_id))
    held = HELD_CLAIM.set(claim)
    try:
        status, body, headers = await produce()
    except BaseException:
        heartbeat.cancel()
        await _release(service, claim.record_id)
        raise
    finally:
        HELD_CLAIM.reset(held)
    heartbeat.cancel()
    await run_in_threadpool(service.complete, claim.record_id, status, plain_json(body), headers)
    return JSONResponse(body, status_code=status, headers=headers)


async def _release(service: IdempotencyService, record_id: int) -> None:
    """Releases the claim of a request that failed; a release that fails too (the database is away, often the
    very failure) leaves the claim to go stale, and the request's own error is the one answered."""
    try:
        await run_in_threadpool(service.release, record_id)
    except Exception as exc:
        logger.warning("Idempotency-Key claim %s not released (%s); it is taken over once stale", record_id, exc)


async def _keep_claimed(service: IdempotencyService, record_id: int) -> None:
    while True:
        await asyncio.sleep(CLAIM_HEARTBEAT_SECONDS)
        await run_in_threadpool(service.renew, record_id)


async def idempotent_in_transaction(
    request: Request,
    service: IdempotencyService,
    endpoint: str,
    digest: Callable[[], str],
    produce: Callable[[RecordedAnswer | None], Awaitable[Answer]],
) -> JSONResponse:
    """:func:`idempotent` for work that stores its answer in its own transaction (``RecordedAnswer.store``): the
    work and the stored answer commit together, so no crash or retry can do the work twice."""
    key = request.headers.get("idempotency-key")
    if key is None:
        status, body, headers = await produce(None)
        return JSONResponse(body, status_code=status, headers=headers)
    scope = scope_of(request)
    claim = await run_in_threadpool(
        service.claim, scope, endpoint, key, digest(), stale_after_seconds=STALE_CLAIM_SECONDS
    )
    if claim.record_id is None:
        return _replay(claim, None)
    try:
        status, body, headers = await produce(RecordedAnswer(claim.record_id))
    except AnsweredMeanwhile:
        # A request that was taken for dead answered after all: its answer is the one.
        claim = await run_in_threadpool(service.claim, scope, endpoint, key, digest())
        return _replay(claim, None)
    except BaseException:
        await _release(service, claim.record_id)
        raise
    return JSONResponse(body, status_code=status, headers=headers)
