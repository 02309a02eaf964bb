"""Job endpoints: parse, call the service, map errors."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from sentinel.api.responses import JSONResponse
from sentinel.errors import InvalidInput
from sentinel.idempotency.http import Answer, idempotent
from sentinel.idempotency.service import fingerprint
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.models import JobState

router = APIRouter(tags=["jobs"])

#: How often a long-poll re-reads the job.
POLL_INTERVAL_SECONDS = 0.05


def _service(request: Request) -> JobService:
    return request.app.state.jobs


@router.post(
    "/v1/jobs",
    status_code=202,
    summary="Generate images for a task, judge them, regenerate red ones within a budget",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": JobCreate.model_json_schema()}}}
    },
)
async def create_job(request: Request) -> JSONResponse:
    try:
        body = JobCreate.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidInput(f"{field or 'body'}: {first['msg']}", field=field) from exc
    service = _service(request)

    async def produce() -> Answer:
        job = await run_in_threadpool(service.create, body)
        return 202, service.view(job, []), {"Location": f"/v1/jobs/{job.id}"}

    return await idempotent(request, "POST /v1/jobs", lambda: fingerprint(body.model_dump()), produce)


@router.get("/v1/jobs/{job_id}", summary="A job's state, every attempt, and the chosen images with verdicts")
async def read_job(
    job_id: str,
    request: Request,
    wait: float = Query(0, ge=0, le=60, description="long-poll: wait up to this many seconds for the job to finish"),
) -> JSONResponse:
    service = _service(request)
    give_up = time.monotonic() + wait
    while True:
        job, attempts = await run_in_threadpool(service.get, job_id)
        if job.state in JobState.FINAL or time.monotonic() >= give_up or await request.is_disconnected():
            return JSONResponse(service.view(job, attempts))
        await asyncio.sleep(POLL_INTERVAL_SECONDS)


@router.get("/v1/jobs", summary="Recent jobs, newest first")
async def list_jobs(
    request: Request,
    task: str | None = Query(None, max_length=100),
    verdict: str | None = Query(None, pattern="^(green|amber|red)$"),
    state: str | None = Query(None, pattern="^(queued|generating|judging|regenerating|done|failed|expired)$"),
    limit: int = Query(50, ge=1, le=500),
) -> JSONResponse:
    service = _service(request)
    jobs = await run_in_threadpool(service.list, task, verdict, state, limit)
    return JSONResponse({"object": "list", "data": [service.view(job, []) | {"attempts": None} for job in jobs]})
