"""The review queue's JSON API (the pages build on the same service)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from sentinel.http.requests import parse_body
from sentinel.http.responses import JSONResponse
from sentinel.http.schemas import BODY_ERRORS, V1_ERRORS, ListOut, errors, json_schema
from sentinel.keys.http import caller_of
from sentinel.review.deps import Reviews
from sentinel.review.schemas import DecisionOut, ReviewItemOut, ReviewStatsOut

router = APIRouter(tags=["review"])

#: Who a decision is recorded as on a server running open (loopback, no API keys yet): nobody signed in.
ANONYMOUS_REVIEWER = "anonymous"


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: str = Field(pattern="^(approve|reject)$")
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


@router.get(
    "/v1/review",
    summary="Amber results waiting for a person, oldest first",
    response_model=ListOut[ReviewItemOut],
    responses=V1_ERRORS | errors(400, 422),
)
async def review_queue(
    request: Request,
    service: Reviews,
    task: str | None = Query(None, max_length=100),
    limit: int = Query(50, ge=1, le=500),
) -> JSONResponse:
    items = await run_in_threadpool(service.queue, task, limit, caller_of(request))
    return JSONResponse({"object": "list", "data": items})


@router.post(
    "/v1/review/{evaluation_id}/decision",
    summary="Approve (green) or reject (red) an amber result; a second decision is refused with 409",
    response_model=DecisionOut,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 404, 409, 422),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": json_schema(DecisionIn)}}}
    },
)
async def decide(evaluation_id: str, request: Request, service: Reviews) -> JSONResponse:
    body = parse_body(DecisionIn, await request.body())
    caller = caller_of(request)
    # The reviewer is who authenticated, never what the body claims: one key cannot sign as another reviewer.
    reviewer = caller.name if caller is not None else ANONYMOUS_REVIEWER
    result = await run_in_threadpool(
        service.decide,
        evaluation_id,
        body.decision,
        reviewer,
        body.note,
        body.regenerate,
        caller=caller,
    )
    return JSONResponse(result)


@router.get(
    "/v1/review/stats",
    summary="Per judge: agreement with reviewers and Cohen's kappa",
    response_model=ReviewStatsOut,
    responses=V1_ERRORS,
)
async def review_stats(request: Request, service: Reviews) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(service.stats, caller_of(request)))
