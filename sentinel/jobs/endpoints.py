"""Job endpoints: parse, call the service, map errors."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from sentinel.db.keyset import MAX_CURSOR_CHARS
from sentinel.errors import InvalidInput, UnsupportedMediaType
from sentinel.evaluation.gate import admit_job
from sentinel.evaluation.inputs import named_as_urls
from sentinel.evaluation.listing import DEFAULT_LIMIT, MAX_LIMIT, ExportFormat
from sentinel.evaluation.rubric import json_typed_params
from sentinel.evaluation.schemas import KEY_FILTER, SINCE_FILTER, UNTIL_FILTER
from sentinel.http.deps import AppServices
from sentinel.http.downloads import EXPORT_RESPONSES, download
from sentinel.http.requests import declared_query_only, long_poll, parse_body, reject_repeated_keys
from sentinel.http.responses import JSONResponse
from sentinel.http.schemas import BODY_ERRORS, V1_ERRORS, errors, json_schema
from sentinel.http.threads import in_thread
from sentinel.http.uploads import fetch_images, parse_fields, read_form
from sentinel.idempotency.deps import Idempotency
from sentinel.idempotency.http import Answer, idempotent_in_transaction
from sentinel.idempotency.service import RecordedAnswer, fingerprint
from sentinel.jobs.deps import JobExports, Jobs
from sentinel.jobs.export import JobFilter
from sentinel.jobs.schemas import FORM_FIELDS, JobCreate, JobList, JobOut
from sentinel.keys.http import caller_of
from sentinel.models import FINAL_JOB_STATES
from sentinel.services import Services
from sentinel.store.images import sniff_mime
from sentinel.telemetry.finished import job_key

router = APIRouter(tags=["jobs"])

#: The edit inputs, as multipart files and as URL fields of a JSON body.
EDIT_FILES = ("source", "mask")

_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["task", "prompt", "source", "mask"],
    "properties": {
        "task": {"type": "string", "example": "object-removal"},
        "prompt": {"type": "string", "example": "remove the cup"},
        "source": {"type": "string", "format": "binary", "description": "the image to edit: PNG, JPEG, WebP or GIF"},
        "mask": {"type": "string", "format": "binary", "description": "the source's size; white marks the region"},
        "params": {"type": "string", "description": 'task params as JSON text, e.g. {"color": "#ffffff"}'},
        "model": {"type": "string"},
        "n": {"type": "integer"},
        "max_attempts": {"type": "integer"},
        "budget_seconds": {"type": "number"},
        "callback_url": {"type": "string"},
    },
}

#: Reads the edit inputs (none for a job that generates new images) once the request is known to be well formed.
FetchInputs = Callable[[], Awaitable[dict[str, bytes]]]


async def _job_from_form(request: Request, services: Services) -> tuple[JobCreate, dict[str, bytes]]:
    """A multipart job: its fields as form fields (``params`` as JSON text, or bracketed as ``params[color]``),
    ``source`` and ``mask`` as files."""
    form = await read_form(
        request,
        files=EDIT_FILES,
        fields=FORM_FIELDS,
        # Room for a file sent where text is due, so the answer names that field rather than a count.
        max_files=len(EDIT_FILES) + len(FORM_FIELDS),
        max_bytes=services.settings.max_image_bytes,
    )
    fields = dict(form.fields)
    if isinstance(fields.get("params"), str):
        try:
            text = fields["params"]
            fields["params"] = orjson.loads(text) if text else {}
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"'params' is not valid JSON: {exc}", field="params") from exc
        if not isinstance(fields["params"], dict):
            raise InvalidInput("'params' must be a JSON object", field="params")
        reject_repeated_keys(text, "params")
    # The JSON body's own checks and wording (numbers sent as form text are read as numbers).
    return parse_fields(JobCreate, fields), {name: files[0] for name, files in form.files.items()}


def _is_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


async def _fetch_inputs(body: JobCreate, services: Services) -> dict[str, bytes]:
    """``source_url`` and ``mask_url``, fetched as evaluations fetch theirs: public addresses only, capped."""
    urls = {name: url for name, url in (("source", body.source_url), ("mask", body.mask_url)) if url is not None}
    return await fetch_images(urls, services.settings, is_image=sniff_mime)


@router.post(
    "/v1/jobs",
    status_code=202,
    summary="Generate (or edit) images for a task, judge them, regenerate red ones within a budget",
    description=(
        "JSON for a task that generates new images. An edit task (`object-removal`, `background-replace`) also "
        "needs the image to edit and its mask: as multipart (`source` and `mask` files, the job's fields as form "
        "fields, `params` as JSON text) or as JSON with `source_url` and `mask_url`. While the judging queue holds "
        "more than the judges clear before the deadline (`SENTINEL_MAX_JUDGING_BACKLOG`), answers 503 `overloaded` "
        "with Retry-After, storing nothing: the job's images would wait past their evaluation's deadline."
    ),
    response_model=JobOut,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 404, 409, 410, 413, 415, 422),
    # Refused at the door, not per attempt: an accepted job's attempts are judged whatever the queue (its
    # regenerations are bounded by its budget, and failing it halfway would waste the images already paid for).
    dependencies=[Depends(admit_job)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": json_schema(JobCreate)},
                "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
            },
        }
    },
)
async def create_job(request: Request, service: Jobs, services: AppServices, idempotency: Idempotency) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fetch_inputs: FetchInputs
    if content_type == "multipart/form-data":
        body, uploads = await _job_from_form(request, services)
        # The same job sent again is the same request whatever its multipart boundary: the images by content.
        hashes = {name: hashlib.sha256(data).hexdigest() for name, data in uploads.items()}

        def digest() -> str:
            return fingerprint(body.model_dump(), hashes)

        async def fetch_inputs() -> dict[str, bytes]:
            return uploads

    else:  # JSON, whatever the content type says (as before multipart was taken)
        raw = await request.body()
        if content_type not in ("", "application/json") and not _is_json(raw):
            # Not JSON mislabelled (``curl -d``) but another kind of body: its type is the problem, not its JSON.
            raise UnsupportedMediaType(
                f"unsupported content type '{content_type}': send application/json, or multipart/form-data for an "
                "edit task's source and mask files"
            )
        body = parse_body(JobCreate, raw, strict=True)
        json_typed_params(services.rubrics, body.task, body.params)

        def digest() -> str:
            return fingerprint(body.model_dump())

        async def fetch_inputs() -> dict[str, bytes]:
            # A job that is wrong whatever the images hold is refused before anyone's URL is requested.
            given = [name for name in EDIT_FILES if getattr(body, f"{name}_url") is not None]
            with named_as_urls():
                await run_in_threadpool(service.precheck, body, given)
            return await _fetch_inputs(body, services)

    async def produce(answered: RecordedAnswer | None) -> Answer:
        inputs = await fetch_inputs()
        # The job, its edit inputs, its first messages and (with an Idempotency-Key) this answer: one transaction.
        job = await run_in_threadpool(service.create, body, caller_of(request), answered, inputs)
        return service.answer(job)

    return await idempotent_in_transaction(request, idempotency, "POST /v1/jobs", digest, produce)


@router.head(
    "/v1/jobs/export",
    dependencies=[Depends(declared_query_only)],
    summary="An export's headers (type, file name) without its rows",
    description="What the GET answers (its status, and its 4xx for a bad filter) without reading the export.",
    response_class=Response,
    responses=V1_ERRORS | errors(400, 422),
)
@router.get(
    "/v1/jobs/export",
    dependencies=[Depends(declared_query_only)],
    summary="Every matching job, as JSON Lines or CSV",
    description="Streamed as it is read, newest first. JSONL has each job as `GET /v1/jobs/{id}` shows it, attempts "
    "included; CSV has one line per job (its chosen images, one per slot, joined by spaces) under a fixed header.",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES | V1_ERRORS | errors(400, 422),
)
async def export_jobs(
    request: Request,
    exports: JobExports,
    export_format: str | None = Query("jsonl", alias="format", description="jsonl or csv"),
    task: str | None = Query(None, max_length=100),
    state: str | None = Query(
        None, description="queued, generating, judging, regenerating, done, failed, expired or cancelled"
    ),
    verdict: str | None = Query(None, description="the job's final verdict (a reviewer's decision included)"),
    since: str | None = Query(None, description=SINCE_FILTER, max_length=64),
    until: str | None = Query(None, description=UNTIL_FILTER, max_length=64),
    key: str | None = Query(None, description=KEY_FILTER, max_length=100),
) -> Response:
    fmt = ExportFormat.parse(export_format)
    filters = JobFilter.parse(task, state, verdict, since, until, key)
    chunks = exports.export(filters, fmt, caller_of(request))
    return await download(chunks, fmt.media_type, "jobs", fmt.value, head=request.method == "HEAD")


@router.get(
    "/v1/jobs/{job_id}",
    dependencies=[Depends(declared_query_only)],
    summary="A job's state, every attempt, and the chosen images with verdicts",
    response_model=JobOut,
    responses=V1_ERRORS | errors(400, 404, 422),
)
async def read_job(
    job_id: str,
    request: Request,
    service: Jobs,
    services: AppServices,
    # allow_inf_nan: "nan" is refused as not a finite number, not by a bound it does not break (nan > 60 is false).
    wait: float = Query(
        0, ge=0, le=60, allow_inf_nan=False, description="long-poll: wait up to this many seconds for the job to finish"
    ),
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
    # In a thread: the view reads the review decisions of the attempts' evaluations, a query that on the event loop
    # would stall every other request meanwhile.
    return JSONResponse(await in_thread(service.view, job, attempts))


@router.post(
    "/v1/jobs/{job_id}/cancel",
    summary="Stop a job: no further attempt starts; it ends `cancelled` with its best attempt so far",
    description=(
        "An attempt already under way (its provider call or its judging) finishes and is kept, with no regeneration "
        "after it; attempts not started never are, and nothing more is spent. The job's webhook fires "
        "(`job.finished`, state `cancelled`). Cancelling a cancelled job answers the same; a job that already ended "
        "(done, failed, expired) is a 409 `job_finished`. A POST action, as OpenAI's own cancels are: the job is "
        "kept, not deleted."
    ),
    response_model=JobOut,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 404, 409, 422),
)
async def cancel_job(job_id: str, request: Request, service: Jobs) -> JSONResponse:
    job, attempts = await run_in_threadpool(service.cancel, job_id, caller_of(request))
    return JSONResponse(await in_thread(service.view, job, attempts))


@router.get(
    "/v1/jobs",
    dependencies=[Depends(declared_query_only)],
    summary="Jobs, newest first, a page at a time",
    description="The caller's tenant's jobs (an admin key's: every tenant's), each as `GET /v1/jobs/{id}` shows it "
    "without its attempt list. Follow `next_cursor` for the next page, sending the same filters with it (a cursor of "
    "another list, or with other filters, is a 400); jobs made meanwhile do not shift the pages.",
    response_model=JobList,
    responses=V1_ERRORS | errors(400, 422),
)
async def list_jobs(
    request: Request,
    service: Jobs,
    task: str | None = Query(None, max_length=100),
    verdict: str | None = Query(None, pattern="^(green|amber|red)$", description="the job's final verdict"),
    state: str | None = Query(None, pattern="^(queued|generating|judging|regenerating|done|failed|expired|cancelled)$"),
    since: str | None = Query(None, description=SINCE_FILTER, max_length=64),
    until: str | None = Query(None, description=UNTIL_FILTER, max_length=64),
    key: str | None = Query(None, description=KEY_FILTER, max_length=100),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(
        None, description="the previous page's next_cursor, with the same filters", max_length=MAX_CURSOR_CHARS
    ),
) -> JSONResponse:
    filters = JobFilter.parse(task, state, verdict, since, until, key)
    page = await run_in_threadpool(service.page, filters, limit, cursor, caller_of(request))
    return JSONResponse({"object": "list", "data": page.data, "next_cursor": page.next_cursor})
