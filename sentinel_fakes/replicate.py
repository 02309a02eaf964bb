"""A fake Replicate predictions API: validates requests like Replicate, and predictions progress over polls.

A prediction is created "starting", reads "processing" at the first poll and settles at the second
(``POLLS_TO_SETTLE``), so an adapter really has to poll. Each create request takes one behaviour from
the script; the prediction's polls, its cancel and its output file follow that behaviour.

Inpainting models (a name with a ``fill`` or ``inpainting`` word, like ``black-forest-labs/flux-fill-pro``) take
flux-fill-pro's documented input (https://replicate.com/black-forest-labs/flux-fill-pro/api): ``prompt``, ``image``
and ``mask`` (files; this fake reads only base64 data URIs, having no network), ``outpaint``, ``seed``, ``steps``,
``prompt_upsampling``, ``guidance``, ``safety_tolerance``, ``output_format``. Any other field is refused, as is a mask
of another size than the image ("Must have the same size as image"); the output, one URL, has the source's size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel_fakes.server import Script, StoredFiles, has_credentials, png_image

#: Polls after which a prediction settles: the first poll reads "processing", the second the result.
POLLS_TO_SETTLE = 2
#: What Replicate's safety checker puts in a failed prediction's ``error``.
NSFW_ERROR = "NSFW content detected. Try running it again, or try a different prompt."
#: The fake model's ``aspect_ratio`` enum, as flux declares it ("custom" lets width/height through).
ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21", "custom")
#: Largest side the fake renders, so a careless request cannot make a test slow.
MAX_SIDE = 2048
#: Replicate's error bodies are RFC 7807 problem documents.
PROBLEM_JSON = "application/problem+json"
#: Words of a model name that make the fake serve it as an inpainting model.
INPAINTING_WORDS = frozenset({"fill", "inpainting"})
#: flux-fill-pro's input fields.
FILL_FIELDS = frozenset(
    {
        "prompt",
        "image",
        "mask",
        "outpaint",
        "seed",
        "steps",
        "prompt_upsampling",
        "guidance",
        "safety_tolerance",
        "output_format",
    }
)


@dataclass
class _Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    behaviour: str
    created: float
    status: str = "starting"
    polls: int = 0
    output: Any = None
    error: str | None = None
    completed: float | None = None
    #: An inpainting prediction's source size, which its output keeps.
    source_size: tuple[int, int] | None = None


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {"title": title, "detail": detail, "status": status, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _invalid(*fields: tuple[str, str, str]) -> Response:
    """422 "Input validation failed" with one ``- field: description`` line per (type, field, description)."""
    detail = "".join(f"- {field}: {description}\n" for _, field, description in fields)
    invalid = [{"type": kind, "field": field, "description": description} for kind, field, description in fields]
    return _problem(422, "Input validation failed", detail, invalid_fields=invalid)


def _unauthenticated() -> Response:
    return JSONResponse({"detail": "Unauthenticated"}, status_code=401)


def _validate_input(inputs: Any) -> Response | None:
    if not isinstance(inputs, dict):
        given = "null" if inputs is None else type(inputs).__name__
        return _invalid(("invalid_type", "input", f"Invalid type. Expected: object, given: {given}"))
    problems: list[tuple[str, str, str]] = []
    if not isinstance(inputs.get("prompt"), str):
        problems.append(("required", "input", "prompt is required"))
    ratio = inputs.get("aspect_ratio", "1:1")
    if ratio not in ASPECT_RATIOS:
        allowed = ", ".join(f'"{value}"' for value in ASPECT_RATIOS)
        problems.append(("enum", "input.aspect_ratio", f"aspect_ratio must be one of the following: {allowed}"))
    seed = inputs.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        problems.append(("invalid_type", "input.seed", "Invalid type. Expected: integer"))
    for side in ("width", "height"):
        value = inputs.get(side)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 256 <= value <= 1440):
            problems.append(("number_gte", f"input.{side}", f"{side} must be an integer from 256 to 1440"))
    return _invalid(*problems) if problems else None


def _file_size(value: Any) -> tuple[int, int] | None:
    """The size of the image a base64 ``data:`` URI holds; None when it holds none."""
    if not isinstance(value, str) or not value.startswith("data:") or ";base64," not in value:
        return None
    try:
        with Image.open(io.BytesIO(base64.b64decode(value.split(",", 1)[1], validate=True))) as image:
            return image.size
    except (binascii.Error, ValueError, UnidentifiedImageError):
        return None


def _validate_fill_input(inputs: Any) -> Response | tuple[int, int]:
    """flux-fill-pro's schema check of an ``input``: the 422 Replicate answers, or the source image's size."""
    if not isinstance(inputs, dict):
        return _invalid(("invalid_type", "input", "Invalid type. Expected: object"))
    problems = [
        ("additional_property_not_allowed", "input", f"Additional property {name} is not allowed")
        for name in inputs
        if name not in FILL_FIELDS
    ]
    sizes: dict[str, tuple[int, int]] = {}
    for name in ("image", "mask"):
        if name not in inputs:
            if name == "image":
                problems.append(("required", "input", "image is required"))
            continue
        size = _file_size(inputs[name])
        if size is None:
            problems.append(("format", f"input.{name}", "Does not match format 'uri' (this fake reads data URIs)"))
        else:
            sizes[name] = size
    if "image" in sizes and "mask" in sizes and sizes["image"] != sizes["mask"]:
        problems.append(("invalid", "input.mask", "mask must have the same size as image"))
    seed = inputs.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        problems.append(("invalid_type", "input.seed", "Invalid type. Expected: integer"))
    if problems:
        return _invalid(*problems)
    return sizes["image"]


def create_app(script: Script) -> Starlette:
    """The fake; output files are served by the fake itself under ``/files/<id>.png``."""
    predictions: dict[str, _Prediction] = {}
    files = StoredFiles()

    def _json(prediction: _Prediction, base: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": prediction.id,
            "model": prediction.model,
            "version": prediction.version,
            "input": prediction.input,
            "logs": "",
            "output": prediction.output,
            "data_removed": False,
            "error": prediction.error,
            "status": prediction.status,
            "source": "api",
            "created_at": _iso(prediction.created),
            "started_at": _iso(prediction.created) if prediction.status != "starting" else None,
            "completed_at": _iso(prediction.completed),
            "urls": {
                "get": f"{base}/v1/predictions/{prediction.id}",
                "cancel": f"{base}/v1/predictions/{prediction.id}/cancel",
            },
        }
        if prediction.status == "succeeded" and prediction.completed is not None:
            body["metrics"] = {"predict_time": round(prediction.completed - prediction.created, 3)}
        return body

    def _settle(prediction: _Prediction, base: str) -> None:
        behaviour = prediction.behaviour
        prediction.completed = time.time()
        if behaviour == "content_filter":
            prediction.status, prediction.error = "failed", NSFW_ERROR
            return
        prediction.status = "succeeded"
        if behaviour == "empty":
            prediction.output = None
            return
        width = min(int(prediction.input.get("width") or script.width), MAX_SIDE)
        height = min(int(prediction.input.get("height") or script.height), MAX_SIDE)
        if prediction.source_size is not None:
            width, height = prediction.source_size
        seed = int(prediction.input.get("seed") or len(files))
        data = png_image(width, height, seed=seed, blank=behaviour == "blank")
        url = files.store(base, prediction.id, data, behaviour)
        # Models differ: many answer a list of file URLs, newer ones a single URL string ("drift").
        # flux-fill-pro answers one URL; an inpainting prediction always does.
        prediction.output = url if behaviour == "drift" or prediction.source_size is not None else [url]

    async def _create(request: Request, model: str | None) -> Response:
        try:
            body: Any = await request.json()
        except ValueError:
            script.record(method="POST", path=request.url.path, body=None)
            return _problem(400, "Invalid JSON", "The request body is not valid JSON.")
        script.record(method="POST", path=request.url.path, body=body)
        if not has_credentials(request, "Bearer"):
            return _unauthenticated()
        behaviour = script.next()
        if behaviour == "bad_auth":
            return _unauthenticated()
        if behaviour == "rate_limit":
            # The documented body (https://replicate.com/docs/topics/predictions/rate-limits) gives the wait
            # only in words; the Retry-After header is the one every fake sends.
            detail = f"Request was throttled. Your rate limit resets in ~{script.retry_after}s."
            return JSONResponse({"detail": detail}, status_code=429, headers=script.retry_after_headers())
        if behaviour == "unavailable":
            return _problem(503, "Service Unavailable", "Replicate is temporarily unavailable, please retry.")
        if behaviour == "no_credit":
            return _problem(402, "Insufficient credit", "You have insufficient credit to run this model.")
        if not isinstance(body, dict):
            return _invalid(("invalid_type", "(root)", "Invalid type. Expected: object"))
        if model in script.missing_models:
            return _problem(404, "Not found", "The requested resource could not be found.")
        if model is None:
            version = body.get("version")
            if not isinstance(version, str) or not version:
                return _invalid(("required", "version", "version is required"))
            if version in script.missing_models:
                return _problem(
                    422,
                    "Invalid version or not permitted",
                    "The specified version does not exist (or perhaps you don't have permission to use it?)",
                )
            model = "replicate/fake-model"
        else:
            version = hashlib.sha256(model.encode()).hexdigest()
        source_size = None
        if not INPAINTING_WORDS.isdisjoint(model.split("/")[-1].split("-")):
            checked = _validate_fill_input(body.get("input"))
            if isinstance(checked, Response):
                return checked
            source_size = checked
        else:
            invalid = _validate_input(body.get("input"))
            if invalid is not None:
                return invalid
        prediction = _Prediction(secrets.token_hex(13), model, version, body["input"], behaviour, time.time())
        prediction.source_size = source_size
        predictions[prediction.id] = prediction
        return JSONResponse(_json(prediction, str(request.base_url).rstrip("/")), status_code=201)

    async def create_for_model(request: Request) -> Response:
        return await _create(request, f"{request.path_params['owner']}/{request.path_params['name']}")

    async def create_for_version(request: Request) -> Response:
        return await _create(request, None)

    def _prediction(request: Request) -> _Prediction | Response:
        """The prediction a get or cancel URL names, or Replicate's 401 (no token) or 404 (no such prediction)."""
        if not has_credentials(request, "Bearer"):
            return _unauthenticated()
        prediction = predictions.get(request.path_params["id"])
        if prediction is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        return prediction

    async def get(request: Request) -> Response:
        script.record(method="GET", path=request.url.path, body=None)
        prediction = _prediction(request)
        if isinstance(prediction, Response):
            return prediction
        base = str(request.base_url).rstrip("/")
        if prediction.status in ("starting", "processing"):
            prediction.polls += 1
            prediction.status = "processing"
            if script.job_finishes(prediction.behaviour, prediction.created, prediction.polls, POLLS_TO_SETTLE):
                _settle(prediction, base)
        return JSONResponse(_json(prediction, base))

    async def cancel(request: Request) -> Response:
        script.record(method="POST", path=request.url.path, body=None)
        prediction = _prediction(request)
        if isinstance(prediction, Response):
            return prediction
        if prediction.status in ("starting", "processing"):
            prediction.status, prediction.completed = "canceled", time.time()
        return JSONResponse(_json(prediction, str(request.base_url).rstrip("/")))

    async def get_model(request: Request) -> Response:
        """A model's description, or 404 for one Replicate does not have (the script's ``missing_models``)."""
        script.record(method="GET", path=request.url.path, body=None)
        if not has_credentials(request, "Bearer"):
            return _unauthenticated()
        owner, name = request.path_params["owner"], request.path_params["name"]
        version = request.path_params.get("version")
        if f"{owner}/{name}" in script.missing_models or version in script.missing_models:
            return _problem(404, "Not found", "The requested resource could not be found.")
        latest = {"id": version or hashlib.sha256(f"{owner}/{name}".encode()).hexdigest(), "created_at": _iso(0)}
        if version:
            return JSONResponse(latest)
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "url": f"{base}/{owner}/{name}",
                "owner": owner,
                "name": name,
                "description": "A fake model.",
                "visibility": "public",
                "latest_version": latest,
            }
        )

    return Starlette(
        routes=[
            Route("/v1/models/{owner}/{name}", get_model, methods=["GET"]),
            Route("/v1/models/{owner}/{name}/versions/{version}", get_model, methods=["GET"]),
            Route("/v1/models/{owner}/{name}/predictions", create_for_model, methods=["POST"]),
            Route("/v1/predictions", create_for_version, methods=["POST"]),
            Route("/v1/predictions/{id}", get, methods=["GET"]),
            Route("/v1/predictions/{id}/cancel", cancel, methods=["POST"]),
            # Replicate's file URLs (replicate.delivery) need no token.
            files.route,
        ]
    )
