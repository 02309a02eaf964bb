"""The jobs domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.jobs.export import JobExport
from sentinel.jobs.service import JobService


async def job_service(request: Request) -> JobService:
    # Built in the lifespan (it needs the gateway's router), so it exists once the app has started.
    return request.app.state.jobs


Jobs = Annotated[JobService, Depends(job_service)]


async def job_export(request: Request) -> JobExport:
    return request.app.state.job_export


JobExports = Annotated[JobExport, Depends(job_export)]
