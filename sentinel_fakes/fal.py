"""A fake fal queue API: submissions are queued, progress over polls, and fail the way fal's jobs fail.

Like fal, the queue accepts any JSON body: input validation happens when the job runs, so an
invalid request still goes IN_QUEUE → IN_PROGRESS → COMPLETED (with ``error`` in the status) and its
``response_url`` answers 422 ``{"detail": [{"loc", "msg", "type"}]}``. Inpainting endpoints (an id ending in
``/fill`` or ``/inpainting``, like ``fal-ai/flux-pro/v1/fill``) take FLUX.1 [pro] Fill's documented input: ``prompt``,
``image_url`` and ``mask_url`` (required; this fake reads only base64 data URIs, having no network), ``seed``,
``num_images``, ``sync_mode``, ``output_format``, ``safety_tolerance``, ``enhance_prompt``; any other field is refused,
and so is a mask of another size than the image. The result has the source's size. A job reads IN_PROGRESS at
the first poll and COMPLETED at the second (``POLLS_TO_COMPLETE``). Each submission takes one
behaviour from the script; the job's polls, result and files follow that behaviour.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel_fakes.server import Script, StoredFiles, has_credentials, png_image

#: Polls after which a job completes: the first poll reads IN_PROGRESS, the second COMPLETED.
POLLS_TO_COMPLETE = 2
#: fal's ``image_size`` presets and the sizes they stand for.
IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
#: Largest side the fake renders, so a careless request cannot make a test slow.
MAX_SIDE = 2048
#: Last path segments of the inpainting endpoints the fake serves with the fill input model.
INPAINTING_SEGMENTS = frozenset({"fill", "inpainting"})
#: FLUX.1 [pro] Fill's input fields on fal (https://fal.ai/models/fal-ai/flux-pro/v1/fill/llms.txt).
FILL_FIELDS = frozenset(
    {
        "prompt",
        "image_url",
        "mask_url",
        "seed",
        "sync_mode",
        "num_images",
        "output_format",
        "safety_tolerance",
        "enhance_prompt",
    }
)


@dataclass
class _Job:
    id: str
    app: str
    input: Any
    behaviour: str
    created: float
    #: FastAPI-style validation errors, found when the job "runs" (as on fal), empty when the input is fine.
    errors: list[dict[str, Any]] = field(default_factory=list)
    status: str = "IN_QUEUE"
    polls: int = 0
    cancelled: bool = False
    result: dict[str, Any] | None = None
    #: An inpainting job's source size, which its result keeps.
    source_size: tuple[int, int] | None = None


def _detail(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _missing_key() -> Response:
    return _detail(401, "Missing authentication: send 'Authorization: Key <your fal key>'.")


def _missing(name: str) -> dict[str, Any]:
    return {"loc": ["body", name], "msg": "field required", "type": "value_error.missing"}


def _validate(body: Any) -> list[dict[str, Any]]:
    """What fal's FastAPI input model says about a text-to-image body (pydantic v1 wording, as fal answers)."""
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]
    errors: list[dict[str, Any]] = []
    if "prompt" not in body:
        errors.append(_missing("prompt"))
    elif not isinstance(body["prompt"], str):
        errors.append({"loc": ["body", "prompt"], "msg": "str type expected", "type": "type_error.str"})
    size = body.get("image_size", "landscape_4_3")
    if isinstance(size, dict):
        for side in ("width", "height"):
            value = size.get(side)
            if value is None:
                errors.append(_missing("image_size") | {"loc": ["body", "image_size", side]})
            elif not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 14142:
                errors.append(
                    {
                        "loc": ["body", "image_size", side],
                        "msg": "ensure this value is an integer from 1 to 14142",
                        "type": "value_error.number.not_in_range",
                    }
                )
    elif size not in IMAGE_SIZES:
        errors.append(
            {
                "loc": ["body", "image_size"],
                "msg": "value is not a valid enumeration member; permitted: "
                + ", ".join(f"'{name}'" for name in IMAGE_SIZES),
                "type": "type_error.enum",
                "ctx": {"enum_values": list(IMAGE_SIZES)},
            }
        )
    count = body.get("num_images", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4:
        errors.append(
            {
                "loc": ["body", "num_images"],
                "msg": "ensure this value is an integer from 1 to 4",
                "type": "value_error.number.not_in_range",
            }
        )
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        errors.append({"loc": ["body", "seed"], "msg": "value is not a valid integer", "type": "type_error.integer"})
    return errors


def _data_uri_image(value: Any) -> tuple[int, int] | str:
    """The size of the image a ``data:image/...;base64,`` URI holds, or what is wrong with it."""
    if not isinstance(value, str) or not value.startswith("data:image/") or ";base64," not in value:
        return "this fake reads only base64 data:image/... URIs"
    try:
        data = base64.b64decode(value.split(",", 1)[1], validate=True)
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (binascii.Error, ValueError, UnidentifiedImageError):
        return "could not read the image"


def _validate_fill(body: Any) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    """What the fill endpoint's input model says about a body, and the source image's size when it could be read."""
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}], None
    errors: list[dict[str, Any]] = [
        {"loc": ["body", name], "msg": "extra fields not permitted", "type": "value_error.extra"}
        for name in body
        if name not in FILL_FIELDS
    ]
    errors += [_missing(name) for name in ("prompt", "image_url", "mask_url") if name not in body]
    sizes: dict[str, tuple[int, int]] = {}
    for name in ("image_url", "mask_url"):
        if name in body:
            read = _data_uri_image(body[name])
            if isinstance(read, str):
                errors.append({"loc": ["body", name], "msg": read, "type": "value_error.url"})
            else:
                sizes[name] = read
    if len(sizes) == 2 and sizes["image_url"] != sizes["mask_url"]:
        shown = " and ".join("x".join(map(str, size)) for size in sizes.values())
        errors.append(
            {"loc": ["body", "mask_url"], "msg": f"mask and image sizes differ ({shown})", "type": "value_error"}
        )
    count = body.get("num_images", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4:
        errors.append(
            {
                "loc": ["body", "num_images"],
                "msg": "ensure this value is an integer from 1 to 4",
                "type": "value_error.number.not_in_range",
            }
        )
    return errors, sizes.get("image_url")


def create_app(script: Script) -> Starlette:
    """The fake; generated images are served by the fake itself under ``/files/<id>.png``."""
    jobs: dict[str, _Job] = {}
    files = StoredFiles()
    drifts = 0

    def _urls(job: _Job, base: str) -> dict[str, str]:
        # Status, result and cancel live under the app ("fal-ai/flux"), not the submitted subpath ("/dev").
        root = f"{base}/{job.app}/requests/{job.id}"
        return {"response_url": root, "status_url": f"{root}/status", "cancel_url": f"{root}/cancel"}

    def _status(job: _Job, base: str) -> dict[str, Any]:
        body: dict[str, Any] = {"status": job.status, "request_id": job.id, **_urls(job, base), "logs": None}
        if job.status == "IN_QUEUE":
            body["queue_position"] = 0
        if job.status == "COMPLETED":
            body["metrics"] = {"inference_time": round(time.time() - job.created, 3)}
            if job.errors:
                body |= {"error": "Unprocessable Entity", "error_type": "validation_error"}
            elif job.cancelled:
                body |= {"error": "Request was cancelled", "error_type": "request_cancelled"}
        return body

    def _run(job: _Job, base: str) -> None:
        """The job's result once it completes: images rendered and stored, in the behaviour's shape."""
        nonlocal drifts
        job.status = "COMPLETED"
        if job.errors or job.cancelled:
            return
        body: dict[str, Any] = job.input
        size = body.get("image_size", "landscape_4_3")
        if job.source_size is not None:
            width, height = job.source_size
        else:
            width, height = IMAGE_SIZES[size] if isinstance(size, str) else (size["width"], size["height"])
        width, height = min(width, MAX_SIDE), min(height, MAX_SIDE)
        seed = body.get("seed", len(files))
        behaviour = job.behaviour
        count = 0 if behaviour == "empty" else body.get("num_images", 1)
        images = []
        for index in range(count):
            name = f"{job.id}-{index}"
            # fal blacks out an image its safety checker flags, and says so in has_nsfw_concepts.
            blank = behaviour in ("blank", "content_filter")
            data = png_image(width, height, seed=seed + index, blank=blank)
            url = files.store(base, name, data, behaviour)
            images.append({"url": url, "content_type": "image/png", "width": width, "height": height})
        result: dict[str, Any] = {
            "images": images,
            "timings": {"inference": round(time.time() - job.created, 3)},
            "seed": seed,
            "has_nsfw_concepts": [behaviour == "content_filter"] * count,
            "prompt": body.get("prompt"),
        }
        if behaviour == "drift":
            # Two drifts seen across fal models, alternating: one ``image`` object, or bare URL strings.
            drifts += 1
            if drifts % 2:
                result["image"] = result.pop("images")[0]
            else:
                result["images"] = [image["url"] for image in images]
        job.result = result

    async def submit(request: Request) -> Response:
        model_id = request.path_params["model_id"]
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        script.record(method="POST", path=request.url.path, body=body)
        if not has_credentials(request, "Key"):
            return _missing_key()
        behaviour = script.next()
        if behaviour == "bad_auth":
            return _detail(401, "No user found for Key ID and Secret")
        if behaviour == "rate_limit":
            return _detail(
                429,
                "Too many concurrent requests for this app, retry later.",
                headers=script.retry_after_headers(),
            )
        if behaviour == "unavailable":
            return _detail(503, "Service temporarily unavailable, please retry.")
        segments = model_id.split("/")
        if len(segments) < 2 or not all(segments) or model_id in script.missing_models:
            return _detail(404, f"Application '{model_id}' not found")
        source_size = None
        if segments[-1] in INPAINTING_SEGMENTS:
            errors, source_size = _validate_fill(body)
        else:
            errors = _validate(body)
        job = _Job(str(uuid.uuid4()), "/".join(segments[:2]), body, behaviour, time.time(), errors)
        job.source_size = source_size
        jobs[job.id] = job
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"status": "IN_QUEUE", "request_id": job.id, **_urls(job, base), "queue_position": 0})

    def _job(request: Request, not_found: Response) -> _Job | Response:
        """The job a status, result or cancel URL names (under its own app), or fal's 401 when the key is missing,
        or ``not_found``."""
        if not has_credentials(request, "Key"):
            return _missing_key()
        job = jobs.get(request.path_params["request_id"])
        app = f"{request.path_params['owner']}/{request.path_params['app']}"
        return job if job is not None and job.app == app else not_found

    async def status(request: Request) -> Response:
        script.record(method="GET", path=request.url.path, body=None)
        job = _job(request, _detail(404, "Request not found"))
        if isinstance(job, Response):
            return job
        base = str(request.base_url).rstrip("/")
        if job.status != "COMPLETED":
            job.polls += 1
            job.status = "IN_PROGRESS"
            if script.job_finishes(job.behaviour, job.created, job.polls, POLLS_TO_COMPLETE):
                _run(job, base)
        return JSONResponse(_status(job, base))

    async def result(request: Request) -> Response:
        script.record(method="GET", path=request.url.path, body=None)
        job = _job(request, _detail(404, "Request not found"))
        if isinstance(job, Response):
            return job
        if job.status != "COMPLETED":
            return _detail(400, "Request is still in progress")
        if job.errors:
            return _detail(422, job.errors)
        if job.cancelled or job.result is None:
            return _detail(400, "Request was cancelled")
        return JSONResponse(job.result)

    async def cancel(request: Request) -> Response:
        script.record(method="PUT", path=request.url.path, body=None)
        job = _job(request, JSONResponse({"status": "NOT_FOUND"}, status_code=404))
        if isinstance(job, Response):
            return job
        if job.status == "COMPLETED":
            return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
        job.cancelled = True
        job.status = "COMPLETED"
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)

    async def search_models(request: Request) -> Response:
        """fal's Platform API model search (api.fal.ai/v1/models) in find mode: the asked endpoint ids it has."""
        script.record(method="GET", path=request.url.path, body=dict(request.query_params.multi_items()))
        asked = request.query_params.getlist("endpoint_id")
        found = [
            {
                "endpoint_id": endpoint,
                "metadata": {"display_name": endpoint, "category": "text-to-image", "status": "active"},
            }
            for endpoint in asked
            if endpoint not in script.missing_models
        ]
        return JSONResponse({"models": found, "next_cursor": None, "has_more": False})

    requests = "/{owner}/{app}/requests/{request_id}"
    return Starlette(
        routes=[
            # fal's file URLs (fal.media) need no key.
            files.route,
            Route("/v1/models", search_models, methods=["GET"]),
            Route(f"{requests}/status", status, methods=["GET"]),
            Route(f"{requests}/cancel", cancel, methods=["PUT"]),
            Route(requests, result, methods=["GET"]),
            Route("/{model_id:path}", submit, methods=["POST"]),
        ]
    )
