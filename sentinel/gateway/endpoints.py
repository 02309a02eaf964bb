"""The OpenAI-compatible endpoints: parse, call the gateway service, answer in OpenAI's shapes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sentinel.errors import InvalidInput, NotFound, SentinelError
from sentinel.gateway.catalog import catalog, model_entry
from sentinel.gateway.deps import Gateway, ImageEndpoint
from sentinel.gateway.fields import refuse_output_fields_for_jobs
from sentinel.gateway.schemas import (
    ImagesEditRequest,
    ImagesGenerationRequest,
    ImagesResponse,
    ImagesVariationRequest,
    ModelOut,
)
from sentinel.gateway.service import (
    FAILURE_STATUS,
    IMAGES_MISSING_HEADER,
    NO_RETRY_HEADERS,
    GatewayService,
    GenerationFailed,
    ImageChange,
    response_format_of,
    sentinel_headers,
    who_headers,
)
from sentinel.generation.service import ImageNotRecorded
from sentinel.http.base64_bytes import Base64Bytes
from sentinel.http.requests import grace_ending, long_poll, parse_body
from sentinel.http.responses import JSONResponse
from sentinel.http.schemas import BODY_ERRORS, V1_ERRORS, ListOut, errors, json_schema
from sentinel.http.threads import in_thread
from sentinel.http.uploads import parse_fields, read_form
from sentinel.idempotency.deps import Idempotency
from sentinel.idempotency.http import HELD_CLAIM, Answer, AnswerNotRecorded, idempotent
from sentinel.idempotency.service import Claim, JobOfClaim, fingerprint
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.keys.http import caller_of
from sentinel.models import FINAL_JOB_STATES, AttemptState, Job, JobAttempt, JobState, as_utc, utcnow
from sentinel.net.transport import CLIENT_WATCH, LIVE_WATCHES, ClientWatch
from sentinel.providers.base import MAX_EDIT_IMAGES, Outcome
from sentinel.providers.config import SIZE
from sentinel.services import Services
from sentinel.spend.service import SpendCapReached
from sentinel.telemetry.finished import job_key

logger = logging.getLogger(__name__)

router = APIRouter(tags=["generation (OpenAI-compatible)"])

#: An image id at the end of a URL's path (ours, or an object store's key).
IMAGE_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}$")


def public_base_url(request: Request, services: Services) -> str:
    """What absolute image URLs start with: SENTINEL_PUBLIC_URL where a proxy stands in front, else the request's
    own scheme and Host (which a client may forge, and which read http:// behind a TLS proxy)."""
    return services.settings.public_url or str(request.base_url).rstrip("/")


@router.post(
    "/v1/images/generations",
    summary="Generate images (OpenAI Images API)",
    description=(
        "The OpenAI request and response shapes: point the official OpenAI SDK at Sentinel's `/v1` and keep "
        "your code. Sentinel resolves the model (aliases, parked models), walks its route with fallback, "
        "checks and stores every image, and answers with `url` (served by `/v1/images/{id}`) or `b64_json`. "
        "Headers `x-sentinel-provider`, `x-sentinel-model` and `x-sentinel-attempts` say who served; "
        "`x-sentinel-images-missing`, on a 200 with fewer images than `n`, how many did not come (`sentinel.failed` "
        "says why)."
    ),
    response_model=ImagesResponse,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 402, 404, 409, 410, 422, 502, 504),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": json_schema(ImagesGenerationRequest)}},
        }
    },
)
async def create_images(request: Request, uses: ImageEndpoint) -> JSONResponse:
    gateway, jobs, services = uses.gateway, uses.jobs, uses.services
    # Strict as OpenAI's API is: ``"n": "2"`` is a 400 naming ``n``. (The edit and variation forms stay lax: every
    # multipart field arrives as text.)
    body = parse_body(ImagesGenerationRequest, await request.body(), strict=True)
    base_url = public_base_url(request, services)

    async def produce() -> Answer:
        if body.sentinel is not None and body.sentinel.task is not None:
            return await _judged_generation(request, jobs, services, body, base_url)
        early = answers_early(request)
        try:
            generation = await gateway.generate(body, caller_of(request), client_gone, answer_early=early)
        except ImageNotRecorded as exc:
            raise kept_for_retry(exc, gateway, response_format_of(body), base_url) from None
        payload = gateway.response_body(generation, response_format_of(body), base_url)
        return 200, payload, sentinel_headers(generation)

    return await until_disconnected(
        request,
        idempotent(
            request,
            uses.idempotency,
            "POST /v1/images/generations",
            lambda: fingerprint(body.model_dump()),
            produce,
            refresh=lambda stored: fresh_image_urls(stored, services, base_url),
        ),
    )


def answers_early(request: Request) -> bool:
    """Whether a generation's answer may start before its commit: not when an Idempotency-Key keeps the answer for
    replays, which is stored whole, once committed."""
    return request.headers.get("idempotency-key") is None


def kept_for_retry(
    exc: ImageNotRecorded, gateway: GatewayService, response_format: str, base_url: str
) -> ImageNotRecorded | AnswerNotRecorded:
    """A ``url`` answer whose paid images the database could not record: with an Idempotency-Key, the answer that
    names them is kept for the key's retry, which writes their rows and answers it instead of buying them again
    (:func:`sentinel.idempotency.http.idempotent`); without one, the 503 that says so and asks for no retry."""
    if HELD_CLAIM.get() is None:
        return exc
    answer = gateway.response_body(exc.generation, response_format, base_url)
    return AnswerNotRecorded((200, answer, sentinel_headers(exc.generation)), exc.record.images, exc)


async def _watch_client(request: Request, watch: ClientWatch) -> None:
    # The body was read already: the next message uvicorn gives is http.disconnect, when the client goes (or when
    # the answer has been sent, by which time this watcher was cancelled).
    while (await request.receive())["type"] != "http.disconnect":
        pass
    watch.gone()


async def until_disconnected(request: Request, answer: Awaitable[JSONResponse]) -> JSONResponse:
    """``answer``, with the provider call in flight dropped when the client disconnects meanwhile: a slow or
    trickling provider would otherwise be waited for up to its timeout, for nobody. The call is logged as any
    failed call, the router calls no further candidate, and the spend hold is released as for any request that
    delivered no image. When the server drops the call because it is stopping (``stop_provider_calls``), the
    answer is 503 with a Retry-After rather than what the stopped walk would say (a gone client's 504)."""
    watch = ClientWatch()
    token = CLIENT_WATCH.set(watch)
    LIVE_WATCHES.add(watch)
    watcher = asyncio.ensure_future(_watch_client(request, watch))
    try:
        return await answer
    except GenerationFailed as exc:
        if not watch.stopping or exc.code == "server_stopping":
            raise  # not stopping, or already said (a judged request's names the job that goes on)
        # The server stops before the image came: the same request to another instance (or this one, restarted)
        # may well be served, so this is OpenAI's "try again" and not the walk's stop for a gone client.
        stopped = GenerationFailed(
            "the server is stopping and did not wait for the provider; try again", headers=exc.headers
        )
        stopped.headers = (exc.headers or {}) | {"Retry-After": "1"}
        stopped.status_code, stopped.error_type, stopped.code = 503, "server_error", "server_stopping"
        raise stopped from None
    finally:
        LIVE_WATCHES.discard(watch)
        watcher.cancel()
        CLIENT_WATCH.reset(token)


async def client_gone() -> bool:
    """The router's question before each further call: has the client gone (or the server stopped waiting)?"""
    watch = CLIENT_WATCH.get()
    return watch is not None and watch.is_gone


def fresh_image_urls(body: dict[str, Any], services: Services, base_url: str) -> dict[str, Any]:
    """A stored answer with its image URLs signed again: a signed URL outlives neither its TTL nor a replay."""
    data = []
    for item in body.get("data") or []:
        found = IMAGE_ID.search(str(item.get("url", "")).split("?", 1)[0]) if isinstance(item, dict) else None
        data.append(item | {"url": services.images.url(found.group(0), base_url)} if found else item)
    return body | {"data": data}


#: The files of an edit (OpenAI's GPT image models take up to 16 images, and one mask).
EDIT_FILES = ("image", "mask")
#: The multipart schema of each endpoint, for the OpenAPI document (the text fields are the model's).
_IMAGE_FILE = {"type": "string", "format": "binary", "description": "PNG, JPEG or WebP"}


def _multipart_schema(model: type[ImagesEditRequest | ImagesVariationRequest], files: dict[str, Any]) -> dict:
    schema = json_schema(model)
    required = [*schema.get("required", []), "image"]
    return schema | {"properties": schema.get("properties", {}) | files, "required": required}


async def _read_change(
    request: Request, services: Services, model: type[ImagesEditRequest | ImagesVariationRequest]
) -> tuple[ImageChange, str]:
    """The change the form asks for, and a digest of it for Idempotency-Key (fields, and files by hash)."""
    edit = model is ImagesEditRequest
    form = await read_form(
        request,
        files=EDIT_FILES if edit else ("image",),
        fields=set(model.model_fields) - {"image", "mask"},
        repeatable=("image",) if edit else (),
        # One image more than OpenAI takes gets through to the check that names ``image`` (GatewayService).
        max_files=MAX_EDIT_IMAGES + 2 if edit else 1,
        max_bytes=services.settings.max_image_bytes,
    )
    body = parse_fields(model, form.fields)
    masks = form.files.get("mask", [])
    change = ImageChange(body, form.files.get("image", []), masks[0] if masks else None)
    files = {name: [hashlib.sha256(data).hexdigest() for data in items] for name, items in form.files.items()}
    return change, fingerprint(body.model_dump(), files)


async def _change_images(
    request: Request,
    gateway: Gateway,
    services: Services,
    idempotency: Idempotency,
    model: type[ImagesEditRequest | ImagesVariationRequest],
    endpoint: str,
    jobs: JobService | None = None,
) -> JSONResponse:
    change, digest = await _read_change(request, services, model)
    base_url = public_base_url(request, services)

    async def produce() -> Answer:
        options = change.body.sentinel
        if jobs is not None and options is not None and options.task is not None:
            return await _judged_edit(request, jobs, services, change, base_url)
        early = answers_early(request)
        try:
            generation = await gateway.change(change, caller_of(request), client_gone, answer_early=early)
        except ImageNotRecorded as exc:
            raise kept_for_retry(exc, gateway, response_format_of(change.body), base_url) from None
        payload = gateway.response_body(generation, response_format_of(change.body), base_url)
        return 200, payload, sentinel_headers(generation)

    return await until_disconnected(
        request,
        idempotent(
            request,
            idempotency,
            endpoint,
            lambda: digest,
            produce,
            refresh=lambda stored: fresh_image_urls(stored, services, base_url),
        ),
    )


@router.post(
    "/v1/images/edits",
    summary="Edit an image (OpenAI Images API)",
    description=(
        "OpenAI's multipart shape: `image` (or `image[]`, as the SDK sends a list: up to 16, all sent to candidates "
        "that take several, the GPT image models), an optional `mask` of the first image's size (fully transparent, "
        "or white, where it is to change), `prompt`, `n`, `size` (the source's size when left out), "
        "`response_format`, `model`, `input_fidelity` and OpenAI's output fields. Routed like a generation through "
        "the model's candidates that can edit and take every field asked for (a model none of whose candidates can "
        "is 400 naming the field, and the models that take it; GET /v1/models lists each candidate's fields); "
        "`stream=true` is 400. Every image is checked, stored and call-logged. Headers as for generations; "
        "`Idempotency-Key` too."
    ),
    response_model=ImagesResponse,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 402, 404, 409, 410, 413, 415, 422, 502, 504),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": _multipart_schema(ImagesEditRequest, {"image": _IMAGE_FILE, "mask": _IMAGE_FILE})
                }
            },
        }
    },
)
async def create_image_edits(request: Request, uses: ImageEndpoint) -> JSONResponse:
    return await _change_images(
        request,
        uses.gateway,
        uses.services,
        uses.idempotency,
        ImagesEditRequest,
        "POST /v1/images/edits",
        jobs=uses.jobs,
    )


@router.post(
    "/v1/images/variations",
    summary="Make variations of an image (OpenAI Images API)",
    description=(
        "OpenAI's multipart shape: `image`, `n`, `size` (the source's size when left out), `response_format`, "
        "`model`. Routed through the model's candidates that can make variations (the offline `local` provider "
        "can; OpenAI's DALL·E 2 could, and is retired)."
    ),
    response_model=ImagesResponse,
    responses=V1_ERRORS | BODY_ERRORS | errors(400, 402, 404, 409, 410, 413, 415, 422, 502, 504),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": _multipart_schema(ImagesVariationRequest, {"image": _IMAGE_FILE})}
            },
        }
    },
)
async def create_image_variations(request: Request, uses: ImageEndpoint) -> JSONResponse:
    return await _change_images(
        request, uses.gateway, uses.services, uses.idempotency, ImagesVariationRequest, "POST /v1/images/variations"
    )


#: Where each field of a job came from in the OpenAI-shaped request, for an error that names what the caller sent.
JOB_FIELD_SOURCES = {
    "task": "sentinel.task",
    "params": "sentinel.params",
    "max_attempts": "sentinel.max_attempts",
    "budget_seconds": "sentinel.budget_seconds",
}


def job_of(body: ImagesGenerationRequest | ImagesEditRequest, params: dict[str, Any]) -> JobCreate:
    """The job a judged request runs as. A job takes narrower values than a plain request (31-bit seeds, prompts
    of 4000 characters): a value outside them is a 400 naming the request's field, not a server error."""
    options = body.sentinel
    assert options is not None and options.task is not None
    try:
        return JobCreate(
            task=options.task,
            prompt=body.prompt,
            params=params,
            model=body.model,
            n=body.n,
            max_attempts=options.max_attempts,
            # The request's deadline bounds a judged request too: the shorter of the two is the job's budget.
            budget_seconds=min(options.budget_seconds, options.deadline_seconds or options.budget_seconds),
            seed=body.seed,
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = str(problem["loc"][0]) if problem["loc"] else "body"
        field = JOB_FIELD_SOURCES.get(name, name)
        raise InvalidInput(
            f"Invalid '{field}' for a judged request (sentinel.task runs it as a job): {problem['msg']}", field=field
        ) from exc


async def _judged_generation(
    request: Request, jobs: JobService, services: Services, body: ImagesGenerationRequest, base_url: str
) -> Answer:
    """Generate through a job: every image judged, red ones regenerated, verdicts added per image."""
    options = body.sentinel
    assert options is not None and options.task is not None
    refuse_output_fields_for_jobs(body)
    params = dict(options.params)
    if body.size and body.size != "auto":
        # Refused as the plain request refuses it, naming ``size``: its parts are not the caller's params.width.
        match = SIZE.match(body.size)
        if match is None:
            raise InvalidInput(f"Invalid 'size': '{body.size}' is not WIDTHxHEIGHT or auto", field="size")
        params.setdefault("width", match.group(1))
        params.setdefault("height", match.group(2))
    job_request = job_of(body, params)
    return await _judged_answer(request, jobs, services, job_request, {}, response_format_of(body), base_url)


async def _judged_edit(
    request: Request, jobs: JobService, services: Services, change: ImageChange, base_url: str
) -> Answer:
    """Edit through a job: every result judged against the source and mask, red ones edited again with guidance."""
    body, options = change.body, change.body.sentinel
    assert isinstance(body, ImagesEditRequest) and options is not None and options.task is not None
    refuse_output_fields_for_jobs(body, len(change.images))
    if not change.images:
        raise InvalidInput("Missing required parameter: 'image'.", field="image")
    # An edit job keeps its source's size unless ``size`` asks for another (one the route offers, checked as for a
    # generation, that the task's size check can pass); the mask is read the OpenAI way (transparent or white).
    params = dict(options.params)
    size: tuple[int, int] | None = None
    if body.size and body.size != "auto":
        match = SIZE.match(body.size)
        if match is None:
            raise InvalidInput(f"Invalid 'size': '{body.size}' is not WIDTHxHEIGHT or auto", field="size")
        size = int(match.group(1)), int(match.group(2))
        params.setdefault("width", size[0])
        params.setdefault("height", size[1])
    job_request = job_of(body, params)
    inputs = await run_in_threadpool(jobs.openai_edit_inputs, options.task, change.images[0], change.mask, size)
    return await _judged_answer(request, jobs, services, job_request, inputs, response_format_of(body), base_url)


async def _judged_answer(
    request: Request,
    jobs: JobService,
    services: Services,
    job_request: JobCreate,
    inputs: dict[str, bytes],
    response_format: str,
    base_url: str,
) -> Answer:
    """Run the job to its end (within its budget) and answer in OpenAI's shape, with the verdicts per image.

    A retry with the Idempotency-Key of a request whose server died while it waited takes over its claim and waits
    for the job that request started (the job goes on without it), not for a second job that buys its images again.
    """
    claim = HELD_CLAIM.get()
    created = await _job_left_by(claim, jobs, request) if claim is not None else None
    try:
        if created is None:
            claimed = JobOfClaim(claim.record_id) if claim is not None and claim.record_id is not None else None
            created = await run_in_threadpool(
                jobs.create, job_request, caller_of(request), None, inputs, size_field="size", claimed=claimed
            )
    except SentinelError as exc:
        # The job's params came from the request's sentinel.params: named so, where the caller must fill them (a
        # top-level ``params`` is refused as an unknown parameter).
        if exc.field is not None and exc.field.split(".")[0] in JOB_FIELD_SOURCES:
            head, _, rest = exc.field.partition(".")
            exc.field = JOB_FIELD_SOURCES[head] + (f".{rest}" if rest else "")
        raise
    try:
        return await _answer_of_job(
            request, jobs, services, created, job_request.budget_seconds, response_format, base_url
        )
    except (OperationalError, PoolTimeout) as exc:
        # The job exists and goes on (its worker waits the blip out): not OpenAI's "try again", which would start a
        # second job that buys its images again. Answered as when the server stops: where to read the one job.
        orig = getattr(exc, "orig", None)
        reason = str(orig).splitlines()[0] if orig is not None else type(exc).__name__
        logger.warning("database unavailable while a judged request waited for job %s: %s", created.id, reason)
        lost = GenerationFailed(
            f"the database became unavailable while this request waited for job {created.id}; the job goes on: read "
            f"its result at GET /v1/jobs/{created.id} (a retry of this request starts another job, and pays for its "
            "images again)",
            headers=judged_failure_headers(created.id, []) | NO_RETRY_HEADERS,
        )
        lost.status_code, lost.error_type, lost.code = 503, "service_unavailable", "database_unavailable"
        lost.details = {"job_id": created.id}
        raise lost from None


async def _answer_of_job(
    request: Request,
    jobs: JobService,
    services: Services,
    created: Job,
    budget_seconds: float,
    response_format: str,
    base_url: str,
) -> Answer:
    """The answer of a judged request once its job ``created`` is written: its result, waited for."""
    budget = budget_seconds + 5
    job, attempts = await long_poll(
        request,
        job_key(created.id),
        lambda: jobs.get(created.id),
        lambda v: v[0].state in FINAL_JOB_STATES,
        budget,
        services.finished,
        # The wait is the request itself: kept through the server's grace period, not ended when the stop starts.
        through_shutdown=True,
    )
    if job.state not in FINAL_JOB_STATES and grace_ending():
        # The server's grace period ends before the job did. The job goes on (the embedded worker finishes its
        # attempts in flight in its own grace period, and the next start's sweep resumes what it left), so this is
        # not OpenAI's "try again": the SDK retries a 503, and a retry starts a second job that buys its images again.
        # It is told not to, and where the one job's result is read instead (a header and a field of the error).
        stopped = GenerationFailed(
            f"the server is stopping and did not wait for job {job.id} to finish; the job goes on: read its result "
            f"at GET /v1/jobs/{job.id} (a retry of this request starts another job, and pays for its images again)",
            headers=judged_failure_headers(job.id, attempts) | NO_RETRY_HEADERS,
        )
        stopped.status_code, stopped.error_type, stopped.code = 503, "server_error", "server_stopping"
        stopped.details = {"job_id": job.id}
        raise stopped
    view = await in_thread(jobs.view, job, attempts)  # it reads review decisions: not on the event loop
    data: list[dict[str, Any]] = []
    verdicts: list[dict[str, Any]] = []
    for chosen in (view["result"] or {}).get("images", []):
        if chosen["image"] is None:
            continue
        image_id = chosen["image"]["id"]
        if response_format == "b64_json":
            raw = await run_in_threadpool(services.images.read, image_id)
            data.append({"b64_json": Base64Bytes(raw)})
        else:
            data.append({"url": services.images.url(image_id, base_url)})
        verdicts.append({key: chosen[key] for key in ("verdict", "summary", "passing", "attempt")})
    if not data:
        raise judged_failure(job.task, view["reason"], job.id, attempts)
    served = [a for a in attempts if a.image_id in {c["image"]["id"] for c in view["result"]["images"] if c["image"]}]
    headers = who_headers((a.provider for a in served), (a.provider_model for a in served)) | {
        "x-sentinel-attempts": str(len(attempts)),
        "x-sentinel-job-id": job.id,
    }
    if len(data) < job.n:
        # Some of the job's images ended with none (see sentinel.verdicts and GET /v1/jobs/{id}), as a plain request
        # says it.
        headers[IMAGES_MISSING_HEADER] = str(job.n - len(data))
    extension = {
        "job_id": job.id,
        "state": job.state,
        "verdict": job.verdict,
        "reason": job.reason,
        "verdicts": verdicts,
    }
    return 200, {"created": int(time.time()), "data": data, "sentinel": extension}, headers


async def _job_left_by(claim: Claim, jobs: JobService, request: Request) -> Job | None:
    """The job started by the request whose claim this request took over, if it wrote one, it is still there and
    it did not fail: a retry after a failure does the request again, as README promises for a key whose first
    request failed (the failure, a spend cap or a provider's refusal, may have passed)."""
    if claim.job_id is None:
        return None
    try:
        job, _ = await run_in_threadpool(jobs.get, claim.job_id, caller_of(request))
    except NotFound:
        return None  # removed since (retention): this request starts its own
    return None if job.state == JobState.FAILED else job


def judged_failure(task: str, reason: str | None, job_id: str, attempts: list[JobAttempt]) -> GenerationFailed:
    """The error of a judged request whose job got no image: what a plain request answers for the same last
    failure (a refused request is 400 naming the refused ``param`` and the provider's code, a refused key 502, a
    spend cap 402, a rate limit 429 with the wait the provider asked for as ``Retry-After``), so an SDK retries
    only what may pass on a retry, and when; a job whose budget ran out while generating is 504, as a plain
    request's deadline is."""
    failed = [a for a in attempts if a.state == AttemptState.FAILED]
    last = max(failed, key=lambda a: (a.number, a.slot)) if failed else None
    error = GenerationFailed(
        f"no image could be generated for task '{task}': {reason}", headers=judged_failure_headers(job_id, attempts)
    )
    if last is not None and last.failure == SpendCapReached.code:
        status, kind, code = SpendCapReached.status_code, SpendCapReached.error_type, SpendCapReached.code
    elif last is None:
        status, kind, code = FAILURE_STATUS[Outcome.TIMEOUT]
    else:
        # An attempt recorded before failures had codes reads as the providers being unavailable, as it was answered.
        outcome = Outcome(last.failure) if last.failure in set(Outcome) else Outcome.UNAVAILABLE
        status, kind, code = FAILURE_STATUS.get(outcome, FAILURE_STATUS[Outcome.UNAVAILABLE])
        if outcome is Outcome.INVALID_REQUEST:
            # The field the provider refused, named as the caller named it, and the provider's own code.
            error.field = last.failure_param
            code = last.failure_code or code
        if last.retry_after and math.isfinite(last.retry_after):
            assert error.headers is not None
            error.headers["Retry-After"] = str(max(1, round(retry_after_left(last))))
        if outcome is Outcome.AUTH or last.unchanging:
            # The job stopped at a set-up no retry can change (a rejected key, no key here, a parked or gone model),
            # as another attempt could only be refused again: so would a retry.
            assert error.headers is not None
            error.headers |= NO_RETRY_HEADERS
    error.status_code, error.error_type, error.code = status, kind, code
    return error


def judged_failure_headers(job_id: str, attempts: list[JobAttempt]) -> dict[str, str]:
    """The ``x-sentinel-*`` headers of a plain failure (who was called, and how often), and the job's id; the job
    is the request (its provider calls are logged under ``<job id>:<slot>:<number>``)."""
    called = [a for a in attempts if a.state == AttemptState.FAILED and a.provider]
    return who_headers((a.provider for a in called), (a.provider_model for a in called)) | {
        "x-sentinel-attempts": str(len(attempts)),
        "x-sentinel-request-id": job_id,
        "x-sentinel-job-id": job_id,
    }


def retry_after_left(attempt: JobAttempt) -> float:
    """Seconds left of the wait the provider asked for when ``attempt`` failed (the answer comes later)."""
    assert attempt.retry_after is not None
    if attempt.finished_at is None:
        return attempt.retry_after
    return attempt.retry_after - (utcnow() - as_utc(attempt.finished_at)).total_seconds()


@router.get(
    "/v1/models",
    summary="List allowed models, aliases and parked models with their parameters",
    response_model=ListOut[ModelOut],
    responses=V1_ERRORS,
)
async def list_models(gateway: Gateway) -> JSONResponse:
    router_ = gateway.router
    entries = catalog(router_, await router_.parked(), await router_.quality_views())
    return JSONResponse({"object": "list", "data": entries})


@router.get(
    "/v1/models/{model_id:path}",
    summary="Describe one model",
    response_model=ModelOut,
    responses=V1_ERRORS | errors(400, 404, 410, 422),
)
async def get_model(model_id: str, gateway: Gateway) -> JSONResponse:
    router_ = gateway.router
    resolved = router_.resolve(model_id)
    entry = model_entry(router_, resolved.model, await router_.parked(), await router_.quality_views())
    if resolved.alias_of:
        entry |= {"id": model_id, "alias_of": resolved.alias_of}
    return JSONResponse(entry)
