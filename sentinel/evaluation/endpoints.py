"""Evaluation endpoints: parse, call the service, map errors. Nothing else."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response, StreamingResponse

from sentinel.errors import InvalidInput, UnsupportedMediaType
from sentinel.evaluation.deps import EvaluationListings, Evaluations, EvaluationSafetyNet
from sentinel.evaluation.gate import admit_evaluation
from sentinel.evaluation.inputs import named_as_urls
from sentinel.evaluation.listing import DEFAULT_LIMIT, MAX_LIMIT, EvaluationFilter, ExportFormat
from sentinel.evaluation.rubric import json_typed_params
from sentinel.evaluation.schemas import (
    KEY_FILTER,
    SINCE_FILTER,
    UNTIL_FILTER,
    VERDICT_FILTER,
    EvaluationByURL,
    EvaluationList,
    EvaluationOut,
)
from sentinel.http.deps import AppServices
from sentinel.http.downloads import EXPORT_RESPONSES, download
from sentinel.http.requests import declared_query_only, long_poll, parse_body, reject_nul, reject_repeated_keys
from sentinel.http.responses import JSONResponse
from sentinel.http.schemas import BODY_ERRORS, V1_ERRORS, errors, json_schema
from sentinel.http.threads import in_thread
from sentinel.http.uploads import fetch_images, parse_whole_form, read_upload
from sentinel.idempotency.deps import Idempotency
from sentinel.idempotency.http import Answer, idempotent_in_transaction
from sentinel.idempotency.service import RecordedAnswer, fingerprint
from sentinel.keys.http import caller_of
from sentinel.models import EvaluationStatus
from sentinel.services import Services
from sentinel.store.images import sniff_mime
from sentinel.telemetry.finished import evaluation_key

router = APIRouter(tags=["evaluations"])

#: What creating an evaluation can be refused with (a spend cap, a reused Idempotency-Key among them).
CREATE_ERRORS = V1_ERRORS | BODY_ERRORS | errors(400, 404, 409, 413, 415, 422)

_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["task", "image"],
    "properties": {
        "task": {"type": "string", "example": "text-to-image"},
        "image": {"type": "string", "format": "binary", "description": "PNG, JPEG, WebP or GIF"},
        "source": {
            "type": "string",
            "format": "binary",
            "description": "edit tasks: the image before the edit",
        },
        "mask": {"type": "string", "format": "binary", "description": "edit tasks: white marks the region"},
        "params": {"type": "string", "description": 'task params as JSON text, e.g. {"width": 1024}'},
    },
}


def _parse_params(text: Any) -> dict[str, Any]:
    if text is None or text == "":
        return {}
    if not isinstance(text, str):
        raise InvalidInput("'params' must be JSON text", field="params")
    try:
        params = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"'params' is not valid JSON: {exc}", field="params") from exc
    if not isinstance(params, dict):
        raise InvalidInput("'params' must be a JSON object", field="params")
    reject_repeated_keys(text, "params")
    reject_nul(params, "params")
    return params


def _check_text(value: str, name: str) -> None:
    """A form field held to its JSON body field's rules (no NUL, the same length limit), in the same words: a task
    name that cannot be one is a 400 naming ``task``, not an unknown task."""
    reject_nul(value, name)
    limit = next(m.max_length for m in EvaluationByURL.model_fields[name].metadata if hasattr(m, "max_length"))
    if len(value) > limit:
        raise InvalidInput(f"Invalid '{name}': String should have at most {limit} characters", field=name)


async def _inputs_from_multipart(
    request: Request, services: Services
) -> tuple[str, dict[str, Any], dict[str, bytes | None], str | None]:
    limit = services.settings.max_image_bytes
    form = await parse_whole_form(request, max_files=3, max_fields=10, max_part_size=64 * 1024)
    try:
        unknown = sorted(set(form.keys()) - {"task", "image", "source", "mask", "params", "callback_url"})
        if unknown:
            raise InvalidInput(f"unknown form field '{unknown[0]}'", field=unknown[0])
        repeated = [(name, count) for name, count in Counter(k for k, _ in form.multi_items()).items() if count > 1]
        if repeated:
            name, count = repeated[0]
            raise InvalidInput(f"form field '{name}' was sent {count} times; send it once", field=name)
        task = form.get("task")
        if isinstance(task, UploadFile):
            raise InvalidInput("form field 'task' must be text, not a file", field="task")
        if not isinstance(task, str) or not task:
            raise InvalidInput("form field 'task' is required", field="task")
        _check_text(task, "task")
        inputs = {name: await read_upload(form.get(name), name, limit) for name in ("image", "source", "mask")}
        callback = form.get("callback_url")
        if callback is not None and not isinstance(callback, str):
            raise InvalidInput("'callback_url' must be text", field="callback_url")
        if callback:
            _check_text(callback, "callback_url")
        return task, _parse_params(form.get("params")), inputs, callback or None
    finally:
        await form.close()


async def _inputs_from_urls(
    body: EvaluationByURL, services: Services
) -> tuple[str, dict[str, Any], dict[str, bytes | None]]:
    urls = {"image": body.image_url, "source": body.source_url, "mask": body.mask_url}
    given = {name: url for name, url in urls.items() if url is not None}
    fetched = await fetch_images(given, services.settings, is_image=sniff_mime)
    return body.task, body.params, {name: fetched.get(name) for name in urls}


@router.post(
    "/v1/evaluations",
    status_code=202,
    summary="Evaluate an image against a task's rubric",
    description=(
        "Send the image as multipart (`image`, optional `source` and `mask` files, `task`, `params` as JSON "
        "text) or as JSON with `image_url` (and `source_url`, `mask_url`). Answers 202 with the evaluation; "
        "poll `GET /v1/evaluations/{id}?wait=30` for the verdict. While the judging queue holds more than the judges "
        "clear before the deadline (`SENTINEL_MAX_JUDGING_BACKLOG`), answers 503 `overloaded` with Retry-After, "
        "storing nothing."
    ),
    response_model=EvaluationOut,
    responses=CREATE_ERRORS,
    dependencies=[Depends(admit_evaluation)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
                "application/json": {"schema": json_schema(EvaluationByURL)},
            },
        }
    },
)
async def create_evaluation(
    request: Request, service: Evaluations, services: AppServices, idempotency: Idempotency
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        task, params, inputs, callback_url = await _inputs_from_multipart(request, services)

        def digest() -> str:
            files = {name: hashlib.sha256(data).hexdigest() for name, data in inputs.items() if data is not None}
            return fingerprint(task, params, files, callback_url)

        async def fetch_inputs() -> tuple[str, dict[str, Any], dict[str, bytes | None]]:
            return task, params, inputs

    elif content_type == "application/json":
        body = parse_body(EvaluationByURL, await request.body())
        json_typed_params(services.rubrics, body.task, body.params)
        callback_url = body.callback_url

        def digest() -> str:
            return fingerprint(body.model_dump())

        async def fetch_inputs() -> tuple[str, dict[str, Any], dict[str, bytes | None]]:
            # A request that is wrong whatever the images hold is refused before we request anyone's URLs.
            urls = {"image": body.image_url, "source": body.source_url, "mask": body.mask_url}
            given = {name for name, url in urls.items() if url is not None}
            with named_as_urls():
                await in_thread(service.precheck, body.task, body.params, given, callback_url)
            return await _inputs_from_urls(body, services)

    else:
        raise UnsupportedMediaType(
            f"unsupported content type '{content_type or 'none'}': send multipart/form-data or application/json"
        )

    async def produce(answered: RecordedAnswer | None) -> Answer:
        task, params, inputs = await fetch_inputs()
        caller = caller_of(request)
        key_id = caller.id if caller else None
        if answered is None:
            # Validated in a thread; written with the evaluations that arrive meanwhile, in one transaction.
            return service.answer(await service.accept(task, params, inputs, callback_url, key_id))

        def validate_then_submit() -> Answer:
            # One hop to a thread for both: each hop costs the event loop a wake-up and a context switch.
            submission = service.validate(task, params, inputs, callback_url)
            # The evaluation, its judges' messages and this answer (an Idempotency-Key's) are one transaction.
            return service.answer(service.submit(submission, key_id, answered))

        return await in_thread(validate_then_submit)

    return await idempotent_in_transaction(request, idempotency, "POST /v1/evaluations", digest, produce)


@router.get(
    "/v1/evaluations",
    dependencies=[Depends(declared_query_only)],
    summary="Evaluations, newest first, a page at a time",
    description="The caller's tenant's evaluations (an admin key's: every tenant's). Follow `next_cursor` for the "
    "next page, sending the same filters with it (a cursor of another list, or with other filters, is a 400); rows "
    "that arrive meanwhile do not shift the pages.",
    response_model=EvaluationList,
    responses=V1_ERRORS | errors(400, 404, 422),
)
async def list_evaluations(
    request: Request,
    listing: EvaluationListings,
    task: str | None = Query(None, max_length=100),
    verdict: str | None = Query(None, description=VERDICT_FILTER, examples=["red"]),
    since: str | None = Query(None, description=SINCE_FILTER, max_length=64),
    until: str | None = Query(None, description=UNTIL_FILTER, max_length=64),
    key: str | None = Query(None, description=KEY_FILTER, max_length=100),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(None, description="the previous page's next_cursor, with the same filters"),
) -> JSONResponse:
    filters = EvaluationFilter.parse(task, verdict, since, until, key)
    page = await in_thread(listing.page, filters, limit, cursor, caller_of(request))
    return JSONResponse({"object": "list", "data": page.data, "next_cursor": page.next_cursor})


@router.head(
    "/v1/evaluations/export",
    dependencies=[Depends(declared_query_only)],
    summary="An export's headers (type, file name) without its rows",
    description="What the GET answers (its status, and its 4xx for a bad filter) without reading the export.",
    response_class=Response,
    responses=V1_ERRORS | errors(400, 404, 422),
)
@router.get(
    "/v1/evaluations/export",
    dependencies=[Depends(declared_query_only)],
    summary="Every matching evaluation, as JSON Lines or CSV",
    description="The listing's filters, without pages: streamed as it is read. JSONL has each evaluation as "
    "`GET /v1/evaluations/{id}` shows it; CSV has one line per evaluation under a fixed header.",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES | V1_ERRORS | errors(400, 404, 422),
)
async def export_evaluations(
    request: Request,
    listing: EvaluationListings,
    export_format: str | None = Query("jsonl", alias="format", description="jsonl or csv"),
    task: str | None = Query(None, max_length=100),
    verdict: str | None = Query(None, description=VERDICT_FILTER),
    since: str | None = Query(None, description=SINCE_FILTER, max_length=64),
    until: str | None = Query(None, description=UNTIL_FILTER, max_length=64),
    key: str | None = Query(None, description=KEY_FILTER, max_length=100),
) -> Response:
    fmt = ExportFormat.parse(export_format)
    filters = EvaluationFilter.parse(task, verdict, since, until, key)
    await in_thread(listing.check_task, filters, caller_of(request))
    chunks = listing.export(filters, fmt, caller_of(request))
    return await download(chunks, fmt.media_type, "evaluations", fmt.value, head=request.method == "HEAD")


@router.get(
    "/v1/evaluations/{evaluation_id}",
    dependencies=[Depends(declared_query_only)],
    summary="Read an evaluation and, once done, its verdict",
    response_model=EvaluationOut,
    responses=V1_ERRORS | errors(400, 404, 422),
)
async def read_evaluation(
    evaluation_id: str,
    request: Request,
    service: Evaluations,
    services: AppServices,
    safety_net: EvaluationSafetyNet,
    # allow_inf_nan: "nan" is refused as not a finite number, not by a bound it does not break (nan > 60 is false).
    wait: float = Query(
        0, ge=0, le=60, allow_inf_nan=False, description="long-poll: wait up to this many seconds for the verdict"
    ),
) -> JSONResponse:
    caller = caller_of(request)

    def load() -> tuple[Any, int, dict[str, Any] | None]:
        evaluation, votes_in = service.read(evaluation_id, caller)
        # With a verdict, the view is made in this thread: an amber's reads its review decision from the database,
        # a blocking query that would stall every request on the event loop.
        return evaluation, votes_in, service.view(evaluation, votes_in) if evaluation.verdict is not None else None

    evaluation, votes_in, view = await long_poll(
        request,
        evaluation_key(evaluation_id),
        load,
        lambda v: v[0].status == EvaluationStatus.DONE,
        wait,
        services.finished,
        (safety_net, evaluation_id),
    )
    return JSONResponse(view if view is not None else service.view(evaluation, votes_in))
