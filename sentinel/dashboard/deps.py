"""The dashboard domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.dashboard.service import DashboardService
from sentinel.providers.router import Router


async def dashboard_service(request: Request) -> DashboardService:
    return request.app.state.dashboard


Dashboard = Annotated[DashboardService, Depends(dashboard_service)]


async def routing(request: Request) -> Router:
    """The gateway's router: what it has parked is shown beside the recorded numbers."""
    return request.app.state.gateway.router


Routing = Annotated[Router, Depends(routing)]
