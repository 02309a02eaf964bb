"""The review queue's JSON API (the pages build on the same service)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from sentinel.api.requests import parse_body
from sentinel.api.responses import JSONResponse
from sentinel.review.service import ReviewService

router = APIRouter(tags=["review"])


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: str = Field(pattern="^(approve|reject)$")
    reviewer: str = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=4000)
    #: Rejecting a job's image can ask for one more attempt (with the note and failing criteria as guidance).
    regenerate: bool = False


def _service(request: Request) -> ReviewService:
    return request.app.state.review


@router.get("/v1/review", summary="Amber results waiting for a person, oldest first")
async def review_queue(
    request: Request, task: str | None = Query(None, max_length=100), limit: int = Query(50, ge=1, le=500)
) -> JSONResponse:
    items = await run_in_threadpool(_service(request).queue, task, limit)
    return JSONResponse({"object": "list", "data": items})


@router.post(
    "/v1/review/{evaluation_id}/decision",
    summary="Approve (green) or reject (red) an amber result; a second decision is refused with 409",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": DecisionIn.model_json_schema()}}}
    },
)
async def decide(evaluation_id: str, request: Request) -> JSONResponse:
    body = parse_body(DecisionIn, await request.body())
    result = await run_in_threadpool(
        _service(request).decide, evaluation_id, body.decision, body.reviewer, body.note, body.regenerate
    )
    return JSONResponse(result)


@router.get("/v1/review/stats", summary="Per judge: agreement with reviewers and Cohen's kappa")
async def review_stats(request: Request) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(_service(request).stats))
