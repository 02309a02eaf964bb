"""Wrapping an endpoint's work so that a request with an Idempotency-Key is done once and replayed after."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sentinel.errors import SentinelError
from sentinel.http.responses import JSONResponse, plain_json
from sentinel.idempotency.kept import RETRY_AFTER_SECONDS, KeptAnswer, KeptImage
from sentinel.idempotency.service import AnsweredMeanwhile, Claim, IdempotencyService, KeyReused, RecordedAnswer
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


class AnswerNotRecorded(Exception):
    """Raised by the work of a request with an Idempotency-Key whose answer is paid for but names images the
    database could not record: ``answer`` is what a retry with the same key gets once they are (``images``, written
    with it), and ``error`` what this request answers."""

    def __init__(self, answer: Answer, images: list[KeptImage], error: SentinelError) -> None:
        super().__init__(error.message)
        self.answer = answer
        self.images = images
        self.error = error


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
    kept = await replay_kept(request, service, endpoint, key, digest, refresh)
    if kept is not None:
        return kept
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
    except AnswerNotRecorded as exc:
        heartbeat.cancel()
        kept = _kept_answer(request, endpoint, key, digest, exc.answer, exc.images)
        raise await _kept_for_retry(service, kept, exc.error) from None
    except BaseException:
        heartbeat.cancel()
        await _release(service, claim.record_id)
        raise
    finally:
        HELD_CLAIM.reset(held)
    heartbeat.cancel()
    try:
        await run_in_threadpool(service.complete, claim.record_id, status, plain_json(body), headers)
    except (OperationalError, PoolTimeout) as exc:
        # The work is done and paid for: its answer goes out, and is kept here for a retry with this key (which
        # would otherwise do the work, and pay, again) until the database can take it.
        kept = _kept_answer(request, endpoint, key, digest, (status, plain_json(body), headers), [])
        await _keep(service, kept, exc)
    return JSONResponse(body, status_code=status, headers=headers)


def _kept_answer(
    request: Request, endpoint: str, key: str, digest: Callable[[], str], answer: Answer, images: list[KeptImage]
) -> KeptAnswer:
    """``answer`` to this request's key, with the images whose rows a replay must write first."""
    status, response, headers = answer
    return KeptAnswer(scope_of(request), endpoint, key, digest(), status, response, headers, images)


async def _keep(service: IdempotencyService, kept: KeptAnswer, cause: Exception) -> bool:
    """Keep ``kept`` on this server's disk for its key's retry; False when it could not be kept."""
    logger.warning(
        "the database could not store the answer to Idempotency-Key '%s' (%s): it is kept on this server for the "
        "key's retry",
        kept.key,
        type(cause).__name__,
    )
    try:
        await run_in_threadpool(service.kept.keep, kept)
    except OSError as exc:
        logger.error("the answer to Idempotency-Key '%s' could not be kept either (%s)", kept.key, exc)
        return False
    writing = asyncio.create_task(_write_when_back(service, kept))
    _WRITING.add(writing)
    writing.add_done_callback(_WRITING.discard)
    return True


#: How long a server tries to write an answer it kept to the database itself, and how often: once there, a retry
#: that reaches another server replays it too (rather than take the claim over once stale, and pay again).
WRITE_KEPT_FOR_SECONDS = 600.0
WRITE_KEPT_EVERY_SECONDS = 1.0
#: The writes under way (a task nobody holds may be collected before it ends).
_WRITING: set[asyncio.Task[None]] = set()


async def _write_when_back(service: IdempotencyService, kept: KeptAnswer) -> None:
    """Write ``kept`` to the database as soon as it answers again (unless a retry did first); left on disk for a
    retry to write when the database stays away longer than :data:`WRITE_KEPT_FOR_SECONDS`."""
    loop = asyncio.get_running_loop()
    until = loop.time() + WRITE_KEPT_FOR_SECONDS
    while loop.time() < until:
        await asyncio.sleep(WRITE_KEPT_EVERY_SECONDS)
        if not service.kept.holds(kept.scope, kept.endpoint, kept.key):
            return  # a retry wrote it
        try:
            await run_in_threadpool(service.record_kept, kept)
        except (OperationalError, PoolTimeout):
            continue
        except Exception:
            logger.exception("the answer kept for Idempotency-Key '%s' could not be written", kept.key)
            return
        logger.info("the answer kept for Idempotency-Key '%s' is in the database now", kept.key)
        return


async def _kept_for_retry(service: IdempotencyService, kept: KeptAnswer, error: SentinelError) -> SentinelError:
    """The error of a request whose paid answer names images the database could not record: once kept for its key,
    the retry the error asks for answers them (written by then) instead of buying them again."""
    if not await _keep(service, kept, error):
        return error
    error.headers = {k: v for k, v in (error.headers or {}).items() if k.lower() != "x-should-retry"}
    error.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    error.message = (
        f"{error.message}; the answer is kept for this Idempotency-Key: retry with the same key once the database is "
        "back to get it (it is not paid for again)"
    )
    return error


async def replay_kept(
    request: Request,
    service: IdempotencyService,
    endpoint: str,
    key: str,
    digest: Callable[[], str],
    refresh: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> JSONResponse | None:
    """The answer this server kept for the key while the database was away, written to the database now and
    replayed; None when none was kept (one stat, no thread hop). While the database is still away, an answer that
    needs no row replays from disk, and one whose images have none yet is a 503 with Retry-After."""
    scope = scope_of(request)
    if not service.kept.holds(scope, endpoint, key):
        return None
    kept = await run_in_threadpool(service.kept.find, scope, endpoint, key)
    if kept is None:
        return None
    if kept.fingerprint != digest():
        raise KeyReused(
            f"Idempotency-Key '{key}' was already used with a different request; use a new key",
            field="Idempotency-Key",
        )
    try:
        claim = await run_in_threadpool(service.record_kept, kept)
    except (OperationalError, PoolTimeout):
        if kept.images:
            raise
        claim = Claim(None, kept.status_code, kept.response, kept.headers)
    return _replay(claim, refresh)


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
        try:
            await run_in_threadpool(service.renew, record_id)
        except (OperationalError, PoolTimeout) as exc:  # the database blinked: the next beat renews it
            logger.warning("Idempotency-Key claim %s not renewed (%s)", record_id, type(exc).__name__)


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
