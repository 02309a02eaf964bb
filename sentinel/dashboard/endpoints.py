"""The dashboard's JSON API (the /dashboard page renders the same summary)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from sentinel.api.responses import JSONResponse
from sentinel.dashboard.service import DEFAULT_WINDOW, WINDOWS, DashboardService

router = APIRouter(tags=["dashboard"])


@router.get(
    "/v1/dashboard",
    summary="Reliability per provider:model, verdict mix, regeneration and review queue over a window",
    description=(
        f"Computed from the recorded provider calls, job attempts, evaluations and review decisions. "
        f"`window` is one of {', '.join(WINDOWS)}."
    ),
)
async def dashboard(request: Request, window: str = Query(DEFAULT_WINDOW, max_length=16)) -> JSONResponse:
    service: DashboardService = request.app.state.dashboard
    return JSONResponse(await run_in_threadpool(service.summary, window))
