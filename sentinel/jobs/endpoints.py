"""Job endpoints: parse, call the service, map errors."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from sentinel.http.deps import AppServices
from sentinel.http.requests import long_poll, parse_body
from sentinel.http.responses import JSONResponse
from sentinel.http.schemas import BODY_ERRORS, V1_ERRORS, ListOut, errors, json_schema
from sentinel.idempotency.deps import Idempotency
from sentinel.idempotency.http import Answer, idempotent_in_transaction
from sentinel.idempotency.service import RecordedAnswer, fingerprint
from sentinel.jobs.deps import Jobs
from sentinel.jobs.schemas import JobCreate, JobOut
from sentinel.keys.http import caller_of
from sentinel.models import FINAL_JOB_STATES
from sentinel.telemetry.finished import job_key

router = APIRouter(tags=["jobs"])


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
async def create_job(request: Request, service: Jobs, idempotency: Idempotency) -> JSONResponse:
    body = parse_body(JobCreate, await request.body())

    async def produce(answered: RecordedAnswer | None) -> Answer:
        # The job, its first messages and (with an Idempotency-Key) this answer are one transaction.
        job = await run_in_threadpool(service.create, body, caller_of(request), answered)
        return service.answer(job)

    return await idempotent_in_transaction(
        request, idempotency, "POST /v1/jobs", lambda: fingerprint(body.model_dump()), produce
    )


@router.get(
    "/v1/jobs/{job_id}",
    summary="A job's state, every attempt, and the chosen images with verdicts",
    response_model=JobOut,
    responses=V1_ERRORS | errors(400, 404, 422),
)
async def read_job(
    job_id: str,
    request: Request,
    service: Jobs,
    services: AppServices,
    wait: float = Query(0, ge=0, le=60, description="long-poll: wait up to this many seconds for the job to finish"),
) -> JSONResponse:
    caller = caller_of(request)
    job, attempts = await long_poll(
        request,
        job_key(job_id),
        lambda: service.get(job_id, caller),
        lambda v: v[0].state in FINAL_JOB_STATES,
        wait,
        services.finished,
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
    service: Jobs,
    task: str | None = Query(None, max_length=100),
    verdict: str | None = Query(None, pattern="^(green|amber|red)$"),
    state: str | None = Query(None, pattern="^(queued|generating|judging|regenerating|done|failed|expired)$"),
    limit: int = Query(50, ge=1, le=500),
) -> JSONResponse:
    jobs = await run_in_threadpool(service.list, task, verdict, state, limit, caller_of(request))
    return JSONResponse({"object": "list", "data": [service.view(job, []) | {"attempts": None} for job in jobs]})
