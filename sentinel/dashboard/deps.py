"""The dashboard domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.dashboard.service import DashboardService


async def dashboard_service(request: Request) -> DashboardService:
    return request.app.state.dashboard


Dashboard = Annotated[DashboardService, Depends(dashboard_service)]
