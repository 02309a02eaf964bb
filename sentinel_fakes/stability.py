"""A fake Stability AI v2beta Stable Image API (``/v2beta/stable-image/generate/{core,ultra,sd3}`` and
``/v2beta/stable-image/edit/{inpaint,erase,search-and-replace}``).

Like Stability it takes only multipart/form-data, answers ``Accept: application/json`` with
``{"image", "finish_reason", "seed"}`` and anything else with the raw image plus ``finish-reason`` and ``seed``
headers, and reports errors as ``{"id", "name", "errors": [...]}``. A prompt containing ``moderate-me`` is refused
with the 403 ``content_moderation`` Stability uses for flagged prompts, whatever the script says.
"""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel_fakes.server import Script, has_credentials, pause

ENDPOINTS = {"core", "ultra", "sd3"}
ASPECT_RATIOS = {"16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"}
OUTPUT_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
#: Models the sd3 endpoint takes in its ``model`` field.
SD3_MODELS = {
    "sd3.5-large",
    "sd3.5-large-turbo",
    "sd3.5-medium",
    "sd3.5-flash",
    "sd3-large",
    "sd3-large-turbo",
    "sd3-medium",
}
#: Seeds Stability accepts (0 means random).
MAX_SEED = 4_294_967_294
#: The prompt marker that triggers the 403 content_moderation path.
MODERATION_MARKER = "moderate-me"


def _error(status: int, name: str, *errors: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"id": uuid.uuid4().hex, "name": name, "errors": list(errors)}, status_code=status, headers=headers
    )


def _validate(endpoint: str, fields: dict[str, str]) -> JSONResponse | None:
    problems: list[str] = []
    if not fields.get("prompt"):
        problems.append("prompt: required")
    elif len(fields["prompt"]) > 10_000:
        problems.append("prompt: must be at most 10000 characters")
    if fields.get("aspect_ratio", "1:1") not in ASPECT_RATIOS:
        problems.append(f"aspect_ratio: must be one of {', '.join(sorted(ASPECT_RATIOS))}")
    if fields.get("output_format", "png") not in OUTPUT_FORMATS:
        problems.append("output_format: must be one of png, jpeg, webp")
    if "seed" in fields and not (fields["seed"].isdigit() and int(fields["seed"]) <= MAX_SEED):
        problems.append(f"seed: must be an integer from 0 to {MAX_SEED}")
    if endpoint == "sd3" and fields.get("model", "sd3.5-large") not in SD3_MODELS:
        problems.append(f"model: must be one of {', '.join(sorted(SD3_MODELS))}")
    return _error(400, "bad_request", *problems) if problems else None


#: The edit endpoints (``/v2beta/stable-image/edit/{endpoint}``) and the text fields each takes.
EDIT_ENDPOINTS: dict[str, set[str]] = {
    "inpaint": {"prompt", "negative_prompt", "grow_mask", "seed", "output_format", "style_preset"},
    "erase": {"grow_mask", "seed", "output_format"},
    "search-and-replace": {"prompt", "search_prompt", "negative_prompt", "grow_mask", "seed", "output_format"},
}


def _white_fraction(mask: bytes) -> float | None:
    """The share of a mask's pixels that are white (what Stability edits)."""
    try:
        with Image.open(io.BytesIO(mask)) as image:
            grey = image.convert("L")
            return sum(grey.histogram()[128:]) / (grey.width * grey.height)
    except Exception:
        return None


def _validate_edit(endpoint: str, fields: dict[str, str], files: dict[str, bytes]) -> JSONResponse | None:
    """What Stability refuses in an edit: no image, a missing prompt (inpaint, search-and-replace) or search_prompt,
    fields the endpoint does not take, grow_mask outside 0-100, a mask that is no image."""
    problems: list[str] = []
    if "image" not in files:
        problems.append("image: required")
    unknown = sorted(set(fields) - EDIT_ENDPOINTS[endpoint])
    problems.extend(f"{name}: unrecognized field" for name in unknown)
    if endpoint != "erase" and not fields.get("prompt"):
        problems.append("prompt: required")
    if endpoint == "search-and-replace" and not fields.get("search_prompt"):
        problems.append("search_prompt: required")
    if "grow_mask" in fields and not (fields["grow_mask"].isdigit() and int(fields["grow_mask"]) <= 100):
        problems.append("grow_mask: must be an integer from 0 to 100")
    if fields.get("output_format", "png") not in OUTPUT_FORMATS:
        problems.append("output_format: must be one of png, jpeg, webp")
    if "mask" in files and _white_fraction(files["mask"]) is None:
        problems.append("mask: could not be read as an image")
    return _error(400, "bad_request", *problems) if problems else None


def create_app(script: Script, image: bytes | None = None) -> Starlette:
    """The fake; ``image`` fixes the returned bytes (benchmarks), else a small PNG per request."""

    def _answer(data: bytes, finish_reason: str, seed: int, wants_json: bool, media_type: str) -> Response:
        if wants_json:
            return JSONResponse(
                {"image": base64.b64encode(data).decode(), "finish_reason": finish_reason, "seed": seed}
            )
        return Response(data, media_type=media_type, headers={"finish-reason": finish_reason, "seed": str(seed)})

    async def generate(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        if endpoint not in ENDPOINTS:
            return _error(404, "not_found", f"{request.url.path}: not found")
        if not has_credentials(request, "Bearer"):
            return _error(401, "unauthorized", "authorization: invalid or missing header value")
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            script.record(method="POST", path=request.url.path, body=None)
            return _error(400, "bad_request", "content-type: must be multipart/form-data", "prompt: required")
        async with request.form() as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        script.record(method="POST", path=request.url.path, body=fields)
        invalid = _validate(endpoint, fields)
        if invalid is not None:
            return invalid
        accept = request.headers.get("accept", "image/*").lower()
        if "application/json" not in accept and "image/" not in accept and "*/*" not in accept:
            return _error(400, "bad_request", "accept: must be image/* or application/json")
        return await _scripted(fields, "application/json" in accept)

    async def edit(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        if endpoint not in EDIT_ENDPOINTS:
            return _error(404, "not_found", f"{request.url.path}: not found")
        if not has_credentials(request, "Bearer"):
            return _error(401, "unauthorized", "authorization: invalid or missing header value")
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return _error(400, "bad_request", "content-type: must be multipart/form-data", "image: required")
        async with request.form() as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            files = {k: await v.read() for k, v in form.items() if not isinstance(v, str)}
        mask = files.get("mask")
        script.record(
            method="POST",
            path=request.url.path,
            body=fields,
            files=sorted(files),
            mask_white=_white_fraction(mask) if mask is not None else None,
        )
        invalid = _validate_edit(endpoint, fields, files)
        if invalid is not None:
            return invalid
        accept = request.headers.get("accept", "image/*").lower()
        return await _scripted(fields, "application/json" in accept)

    async def _scripted(fields: dict[str, str], wants_json: bool) -> Response:
        behaviour = script.next()
        if MODERATION_MARKER in fields.get("prompt", ""):
            return _error(
                403,
                "content_moderation",
                "Your request was flagged by our content moderation system, as a result your request was denied "
                "and you were not charged.",
            )
        if behaviour == "rate_limit":
            return _error(
                429,
                "rate_limit_exceeded",
                "You have exceeded the rate limit of 150 requests within a 10 second period.",
                headers=script.retry_after_headers(),
            )
        if behaviour == "unavailable":
            return _error(503, "service_unavailable", "The service is temporarily unavailable, please try again.")
        if behaviour == "bad_auth":
            return _error(401, "unauthorized", "authorization: invalid or missing header value")
        if behaviour == "slow":
            await pause(script.slow_seconds)
        seed = int(fields.get("seed") or 0) or len(script.requests)
        output_format = fields.get("output_format", "png")
        if behaviour == "empty":
            body: dict[str, Any] = {"finish_reason": "SUCCESS", "seed": seed}
            return JSONResponse(body) if wants_json else Response(b"", media_type=OUTPUT_FORMATS[output_format])
        data = script.image(behaviour, image)
        if behaviour == "content_filter":
            # Stability still sends an image (blurred) with the filter's finish reason.
            return _answer(data, "CONTENT_FILTERED", seed, wants_json, OUTPUT_FORMATS[output_format])
        if behaviour == "drift":
            # The Accept header ignored: raw bytes where JSON was asked for, the verdict only in headers.
            return _answer(data, "SUCCESS", seed, False, OUTPUT_FORMATS[output_format])
        return _answer(data, "SUCCESS", seed, wants_json, OUTPUT_FORMATS[output_format])

    return Starlette(
        routes=[
            Route("/v2beta/stable-image/generate/{endpoint}", generate, methods=["POST"]),
            Route("/v2beta/stable-image/edit/{endpoint}", edit, methods=["POST"]),
        ]
    )
