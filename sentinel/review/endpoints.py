"""The review queue's JSON API (the pages build on the same service)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from sentinel.db.keyset import MAX_CURSOR_CHARS
from sentinel.http.requests import declared_query_only, parse_body
from sentinel.http.responses import JSONResponse
from sentinel.http.schemas import BODY_ERRORS, V1_ERRORS, ListOut, errors, json_schema
from sentinel.keys.caller import Caller
from sentinel.keys.http import caller_of
from sentinel.review.deps import Reviews
from sentinel.review.filters import QueueFilter
from sentinel.review.schemas import (
    BulkResultOut,
    ClaimOut,
    DecisionOut,
    FacetsOut,
    ReviewerProgressOut,
    ReviewItemOut,
    ReviewPage,
    ReviewStatsOut,
    UndoOut,
)

router = APIRouter(tags=["review"])

#: Who a decision is recorded as on a server running open (loopback, no API keys yet): nobody signed in.
ANONYMOUS_REVIEWER = "anonymous"


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    #: Ignored: a decision is recorded under the key that sent it. Accepted so older clients keep working.
    reviewer: str | None = Field(
        default=None,
        max_length=200,
        deprecated=True,
        description="Ignored: the decision is recorded under the name of the API key that sends it.",
    )
    note: str | None = Field(default=None, max_length=4000)
    #: Rejecting a job's image can ask for one more attempt (with the note and failing criteria as guidance).
    regenerate: bool = False
    #: Decide an item another reviewer holds (claimed, not expired); without it that is refused with 409.
    force: bool = False


class BulkDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evaluation_ids: list[str] = Field(min_length=1, max_length=200)
    decision: Literal["approve", "reject"]
    note: str | None = Field(default=None, max_length=4000)


class NextIn(BaseModel):
    """Which item to claim next: the queue's filters (as on ``GET /v1/review``), and the item to move past."""

    model_config = ConfigDict(extra="forbid")

    task: str | None = Field(default=None, max_length=100)
    judge: str | None = Field(default=None, max_length=100)
    criterion: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=300, description="provider:model")
    older_than: str | None = Field(default=None, max_length=20, description="like 30m, 2h, 1d, or seconds")
    newer_than: str | None = Field(default=None, max_length=20)
    after: str | None = Field(default=None, max_length=64, description="skip items up to this one in queue order")


def reviewer_of(request: Request) -> tuple[str, Caller | None]:
    """Who acts: the authenticated key's name, never a name the body claims."""
    caller = caller_of(request)
    return (caller.name if caller is not None else ANONYMOUS_REVIEWER), caller


@router.get(
    "/v1/review",
    dependencies=[Depends(declared_query_only)],
    summary="Amber results waiting for a person, oldest first, with their failing criteria and who holds them",
    description="Oldest first by when each item joined the queue (its verdict's time), a page at a time. Follow "
    "`next_cursor` for the next page, sending the same filters with it (a cursor of another list, or with other "
    "filters, is a 400): items decided or turned amber meanwhile neither shift nor repeat the others, and one that "
    "turns amber while you page joins the end.",
    response_model=ReviewPage,
    responses=V1_ERRORS | errors(400, 422),
)
async def review_queue(
    request: Request,
    service: Reviews,
    task: str | None = Query(None, max_length=100),
    judge: str | None = Query(None, max_length=100, description="a judge that objected"),
    criterion: str | None = Query(None, max_length=100, description="a criterion that failed"),
    model: str | None = Query(None, max_length=300, description="provider:model that made the image"),
    older_than: str | None = Query(None, max_length=20, description="waiting at least this long: 30m, 2h, 1d"),
    newer_than: str | None = Query(None, max_length=20, description="waiting at most this long"),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(
        None, description="the previous page's next_cursor, with the same filters", max_length=MAX_CURSOR_CHARS
    ),
) -> JSONResponse:
    filters = QueueFilter.from_query(task, judge, criterion, model, older_than, newer_than)
    reviewer, caller = reviewer_of(request)
    items, next_cursor = await run_in_threadpool(service.queue_page, filters, limit, cursor, caller, reviewer)
    return JSONResponse({"object": "list", "data": items, "next_cursor": next_cursor})


@router.get(
    "/v1/review/facets",
    dependencies=[Depends(declared_query_only)],
    summary="Tasks, objecting judges, failing criteria and provider:models among waiting items",
    response_model=FacetsOut,
    responses=V1_ERRORS,
)
async def review_facets(request: Request, service: Reviews) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(service.facets, caller_of(request)))


@router.post(
    "/v1/review/next",
    summary="Claim the oldest waiting item matching the filters that nobody else holds; 204 when none is left",
    response_model=ReviewItemOut,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 422) | {204: {"description": "no item is waiting"}},
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": json_schema(NextIn)}}}},
)
async def claim_next(request: Request, service: Reviews) -> Response:
    raw = await request.body()
    # No body at all means no filters; anything else must be a JSON object (whitespace alone is not JSON).
    body = parse_body(NextIn, raw, strict=True) if raw else NextIn()
    filters = QueueFilter.from_query(
        body.task, body.judge, body.criterion, body.model, body.older_than, body.newer_than
    )
    reviewer, caller = reviewer_of(request)
    claimed = await run_in_threadpool(service.claim_next, filters, reviewer, caller, body.after)
    if claimed is None:
        return Response(status_code=204)
    return JSONResponse(await run_in_threadpool(service.item, claimed, caller, reviewer))


@router.post(
    "/v1/review/decisions",
    summary="Approve or reject many items with one note; each item is reported (decided, or why not)",
    response_model=ListOut[BulkResultOut],
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 422),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": json_schema(BulkDecisionIn)}}}
    },
)
async def decide_many(request: Request, service: Reviews) -> JSONResponse:
    body = parse_body(BulkDecisionIn, await request.body(), strict=True)
    reviewer, caller = reviewer_of(request)
    results = await run_in_threadpool(
        service.decide_many, body.evaluation_ids, body.decision, reviewer, body.note, caller
    )
    return JSONResponse({"object": "list", "data": results})


@router.get(
    "/v1/review/progress",
    dependencies=[Depends(declared_query_only)],
    summary="Per reviewer: decided today, decided in all, median time per item",
    response_model=ListOut[ReviewerProgressOut],
    responses=V1_ERRORS,
)
async def review_progress(request: Request, service: Reviews) -> JSONResponse:
    data = await run_in_threadpool(service.progress, caller_of(request))
    return JSONResponse({"object": "list", "data": data})


@router.post(
    "/v1/review/{evaluation_id}/claim",
    summary="Hold an item for a few minutes (or extend one's hold); if another reviewer holds it, says who",
    response_model=ClaimOut,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 404, 409, 422),
)
async def claim(evaluation_id: str, request: Request, service: Reviews) -> JSONResponse:
    reviewer, caller = reviewer_of(request)
    return JSONResponse(await run_in_threadpool(service.claim, evaluation_id, reviewer, caller))


@router.delete(
    "/v1/review/{evaluation_id}/claim",
    summary="Give an item back to the team (one's own claim only)",
    status_code=204,
    responses=V1_ERRORS | errors(400, 404, 422),
)
async def release(evaluation_id: str, request: Request, service: Reviews) -> Response:
    reviewer, caller = reviewer_of(request)
    await run_in_threadpool(service.release, evaluation_id, reviewer, caller)
    return Response(status_code=204)


@router.post(
    "/v1/review/{evaluation_id}/undo",
    summary="Take back one's own decision within 5 minutes: the item waits for review again",
    response_model=UndoOut,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 404, 409, 422),
)
async def undo(evaluation_id: str, request: Request, service: Reviews) -> JSONResponse:
    reviewer, caller = reviewer_of(request)
    return JSONResponse(await run_in_threadpool(service.undo, evaluation_id, reviewer, caller))


@router.post(
    "/v1/review/{evaluation_id}/decision",
    summary="Approve (green) or reject (red) an amber result; a second decision is refused with 409 naming who "
    "decided (error.decided_by, error.decided_at), and so is one on an item another reviewer holds "
    "(error.claimed_by, unless force: true)",
    response_model=DecisionOut,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 404, 409, 422),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": json_schema(DecisionIn)}}}
    },
)
async def decide(evaluation_id: str, request: Request, service: Reviews) -> JSONResponse:
    # Strict, as every JSON body: "regenerate": "yes" or "force": 1 is refused naming the field, not read as true.
    body = parse_body(DecisionIn, await request.body(), strict=True)
    # The reviewer is who authenticated, never what the body claims: one key cannot sign as another reviewer.
    reviewer, caller = reviewer_of(request)
    result = await run_in_threadpool(
        service.decide,
        evaluation_id,
        body.decision,
        reviewer,
        body.note,
        body.regenerate,
        caller=caller,
        force=body.force,
    )
    return JSONResponse(result)


@router.get(
    "/v1/review/stats",
    dependencies=[Depends(declared_query_only)],
    summary="Per judge: agreement with reviewers and Cohen's kappa",
    response_model=ReviewStatsOut,
    responses=V1_ERRORS,
)
async def review_stats(request: Request, service: Reviews) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(service.stats, caller_of(request)))
