"""The dashboard's JSON API (the /dashboard page renders the same summary)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from sentinel.dashboard.deps import Dashboard, Routing
from sentinel.dashboard.service import DEFAULT_WINDOW, WINDOWS, parked_candidates, quality_routing
from sentinel.http.requests import declared_query_only
from sentinel.http.responses import JSONResponse
from sentinel.http.schemas import V1_ERRORS, errors

router = APIRouter(tags=["dashboard"])


class WindowOut(BaseModel):
    name: str
    start: str
    end: str
    seconds: float


class DashboardOut(BaseModel):
    """The window's numbers; the rows of each list are described in the README's dashboard section."""

    window: WindowOut
    totals: dict[str, Any] = Field(
        description="requests, ok, success_rate (ok over the requests that were not the caller's fault: "
        "invalid_request and content_filtered are left out), skipped, cost over all providers"
    )
    providers: list[dict[str, Any]] = Field(description="one row per provider:model")
    failure_classes: list[str]
    verdicts_by_model: list[dict[str, Any]]
    verdicts_by_task: list[dict[str, Any]]
    regeneration: dict[str, Any]
    review_queue: dict[str, Any]
    parked_candidates: list[dict[str, Any]] = Field(
        description="candidates skipped because their provider said the model does not exist: target, provider, "
        "model, the provider's reason, and the routes they belong to (until the routing file changes)"
    )
    quality_routing: list[dict[str, Any]] = Field(
        description="per model with `order: quality`: per task, the order its jobs try the candidates, each one's "
        "green share, sample and why, as GET /v1/models shows it"
    )


@router.get(
    "/v1/dashboard",
    dependencies=[Depends(declared_query_only)],
    summary="Reliability per provider:model, verdict mix, regeneration and review queue over a window",
    description=(
        f"Computed from the recorded provider calls, job attempts, evaluations and review decisions. "
        f"`window` is one of {', '.join(WINDOWS)}."
    ),
    response_model=DashboardOut,
    responses=V1_ERRORS | errors(400, 422),
)
async def dashboard(
    service: Dashboard, router: Routing, window: str = Query(DEFAULT_WINDOW, max_length=16)
) -> JSONResponse:
    summary = await run_in_threadpool(service.summary, window)
    extra = {"parked_candidates": await parked_candidates(router), "quality_routing": await quality_routing(router)}
    return JSONResponse(summary | extra)
