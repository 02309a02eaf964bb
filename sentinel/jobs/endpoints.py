"""Job endpoints: parse, call the service, map errors."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from sentinel.api.requests import long_poll, parse_body
from sentinel.api.responses import JSONResponse
from sentinel.api.schemas import BODY_ERRORS, V1_ERRORS, ListOut, errors, json_schema
from sentinel.idempotency.http import Answer, idempotent
from sentinel.idempotency.service import fingerprint
from sentinel.jobs.schemas import JobCreate, JobOut
from sentinel.jobs.service import JobService
from sentinel.keys.http import caller_of
from sentinel.models import JobState
from sentinel.ops.finished import job_key

router = APIRouter(tags=["jobs"])


def _service(request: Request) -> JobService:
    return request.app.state.jobs


@router.post(
    "/v1/jobs",
    status_code=202,
    summary="Generate images for a task, judge them, regenerate red ones within a budget",
    response_model=JobOut,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 404, 409, 410, 422),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": json_schema(JobCreate)}}}
    },
)
async def create_job(request: Request) -> JSONResponse:
    body = parse_body(JobCreate, await request.body())
    service = _service(request)

    async def produce() -> Answer:
        job = await run_in_threadpool(service.create, body, caller_of(request))
        return 202, service.view(job, []), {"Location": f"/v1/jobs/{job.id}"}

    return await idempotent(request, "POST /v1/jobs", lambda: fingerprint(body.model_dump()), produce)


@router.get(
    "/v1/jobs/{job_id}",
    summary="A job's state, every attempt, and the chosen images with verdicts",
    response_model=JobOut,
    responses=V1_ERRORS | errors(400, 404, 422),
)
async def read_job(
    job_id: str,
    request: Request,
    wait: float = Query(0, ge=0, le=60, description="long-poll: wait up to this many seconds for the job to finish"),
) -> JSONResponse:
    service = _service(request)
    caller = caller_of(request)
    job, attempts = await long_poll(
        request, job_key(job_id), lambda: service.get(job_id, caller), lambda v: v[0].state in JobState.FINAL, wait
    )
    return JSONResponse(service.view(job, attempts))


@router.get(
    "/v1/jobs",
    summary="Recent jobs, newest first",
    response_model=ListOut[JobOut],
    responses=V1_ERRORS | errors(400, 422),
)
async def list_jobs(
    request: Request,
    task: str | None = Query(None, max_length=100),
    verdict: str | None = Query(None, pattern="^(green|amber|red)$"),
    state: str | None = Query(None, pattern="^(queued|generating|judging|regenerating|done|failed|expired)$"),
    limit: int = Query(50, ge=1, le=500),
) -> JSONResponse:
    service = _service(request)
    jobs = await run_in_threadpool(service.list, task, verdict, state, limit, caller_of(request))
    return JSONResponse({"object": "list", "data": [service.view(job, []) | {"attempts": None} for job in jobs]})
