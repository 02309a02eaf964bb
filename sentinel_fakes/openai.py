"""A fake OpenAI Images API: validates requests like OpenAI and answers with its shapes and failures."""

from __future__ import annotations

import io
import itertools
import time
from typing import Any

import orjson
import pybase64
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sentinel_fakes.distinct import DistinctPng
from sentinel_fakes.server import Script, StoredFiles, has_credentials, pause

#: Parameters OpenAI accepts on /images/generations; anything else is refused as it refuses it.
KNOWN_FIELDS = {
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "response_format",
    "user",
    "style",
    "background",
    "moderation",
    "output_format",
    "output_compression",
}
SIZES = {"256x256", "512x512", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536", "auto"}
#: Fields only some models take, with the values they take; another model is refused the field as OpenAI refuses it.
MODEL_FIELDS: dict[str, tuple[str, set[Any] | None]] = {
    "style": ("dall-e-3", {"vivid", "natural"}),
    "background": ("gpt-image", {"transparent", "opaque", "auto"}),
    "output_format": ("gpt-image", {"png", "jpeg", "webp"}),
    "output_compression": ("gpt-image", None),
    "moderation": ("gpt-image", {"low", "auto"}),
}


#: Text fields of /images/edits and /images/variations (the images reference, read 2026-12-05).
EDIT_FIELDS = {
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "response_format",
    "user",
    "background",
    "output_format",
    "output_compression",
    "moderation",
    "input_fidelity",
    "stream",
    "partial_images",
}
VARIATION_FIELDS = {"model", "n", "size", "response_format", "user"}
#: The most images one edit takes (GPT image models; DALL·E 2 takes one).
MAX_EDIT_IMAGES = 16
#: ``input_fidelity`` per model family, as the edit reference has it: high and low on gpt-image-1.5 (and gpt-image-1),
#: only low on gpt-image-1-mini, "omit this parameter" for gpt-image-2 (and, the reference naming none, the 2.x
#: line), and nothing for DALL·E 2. The longest matching prefix decides.
INPUT_FIDELITY: dict[str, set[str]] = {
    "gpt-image-1": {"high", "low"},
    "gpt-image-1.5": {"high", "low"},
    "gpt-image-1-mini": {"low"},
    "gpt-image-2": set(),
}


def _fidelity_values(model: str) -> set[str]:
    prefixes = sorted((p for p in INPUT_FIDELITY if model.startswith(p)), key=len, reverse=True)
    return INPUT_FIDELITY[prefixes[0]] if prefixes else set()


def _check_edit_fields(fields: dict[str, str], images: int, model: str) -> JSONResponse | None:
    """The edit fields OpenAI checks per model: at most 16 images, input_fidelity only where the model takes it (and
    only its values), the GPT image output fields only for those models, n and partial_images in range. The fake
    never streams: ``stream=true`` is refused so a test proves nobody sends it."""
    if images > MAX_EDIT_IMAGES:
        return _error(
            400, f"Too many images: {images} were provided; at most {MAX_EDIT_IMAGES}.", "invalid_value", "image[]"
        )
    if "input_fidelity" in fields:
        allowed = _fidelity_values(model)
        if not allowed:
            return _error(
                400,
                f"Invalid parameter: 'input_fidelity' is not supported with model '{model}'.",
                "unsupported_parameter",
                "input_fidelity",
            )
        if fields["input_fidelity"] not in allowed:
            return _error(
                400,
                f"Invalid value: '{fields['input_fidelity']}'. Supported values are: {sorted(allowed)}.",
                "invalid_value",
                "input_fidelity",
            )
    for name, (family, values) in MODEL_FIELDS.items():
        if name in fields and name != "style":
            if not model.startswith(family):
                return _error(400, f"Unknown parameter: '{name}'.", "unknown_parameter", name)
            if values is not None and fields[name] not in values:
                return _error(400, f"Invalid value: '{fields[name]}'.", "invalid_value", name)
    if not fields.get("n", "1").isdigit() or not 1 <= int(fields.get("n", "1")) <= 10:
        return _error(
            400, f"Invalid 'n': integer between 1 and 10 expected, got {fields['n']!r}.", "invalid_value", "n"
        )
    if fields.get("stream", "false").lower() != "false":
        return _error(400, "this fake answers edits whole: it never streams", "unsupported_parameter", "stream")
    if "partial_images" in fields and fields["partial_images"] not in {"0", "1", "2", "3"}:
        return _error(
            400, "Invalid 'partial_images': integer between 0 and 3 expected.", "invalid_value", "partial_images"
        )
    return None


#: What GET /v1/models lists (minus the script's ``missing_models``): OpenAI lists every model the key may use.
LISTED_MODELS = (
    "gpt-image-2.6-flare",
    "gpt-image-2.6-sunburst",
    "gpt-image-1",
    "gpt-image-1-mini",
    "dall-e-3",
    "dall-e-2",
    "gpt-5",
    "gpt-4.1-mini",
)


def _image_size(data: bytes) -> tuple[str, tuple[int, int], bool] | None:
    """(format, size, has alpha) of image bytes; None when they are no image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            alpha = "A" in image.getbands() or "transparency" in image.info
            return str(image.format), image.size, alpha
    except Exception:
        return None


def _alpha_summary(mask: bytes) -> dict[str, int] | None:
    """How many of a mask's pixels are fully transparent (what OpenAI edits) and how many are not."""
    try:
        with Image.open(io.BytesIO(mask)) as image:
            alpha = image.convert("RGBA").getchannel("A")
            transparent = alpha.histogram()[0]
            return {"transparent": transparent, "opaque": image.width * image.height - transparent}
    except Exception:
        return None


def _validate_change(
    fields: dict[str, str],
    uploads: list[tuple[str, bytes]],
    images: list[bytes],
    masks: list[bytes],
    known: set[str],
    *,
    edit: bool,
) -> JSONResponse | None:
    """What OpenAI refuses in an edit or a variation: unknown fields, no image, the wrong model, a mask that is not
    a PNG with alpha of the image's size, DALL·E 2's square PNG rule, ``response_format`` for the GPT image models."""
    unknown = sorted(set(fields) - known)
    if unknown:
        return _error(400, f"Unknown parameter: '{unknown[0]}'.", "unknown_parameter", unknown[0])
    stray = sorted({name for name, _ in uploads} - {"image", "image[]", "mask"})
    if stray:
        return _error(400, f"Unknown parameter: '{stray[0]}'.", "unknown_parameter", stray[0])
    if not images:
        return _error(400, "Missing required parameter: 'image'.", "missing_required_parameter", "image")
    model = fields.get("model", "dall-e-2")
    if not edit and model != "dall-e-2":
        return _error(400, f"Invalid value: '{model}'. Value must be 'dall-e-2'.", "invalid_value", "model")
    if edit and not (model.startswith("gpt-image") or model == "dall-e-2"):
        return _error(400, f"Invalid value: '{model}'.", "invalid_value", "model")
    if model.startswith("gpt-image") and "response_format" in fields:
        return _error(400, "Unknown parameter: 'response_format'.", "unknown_parameter", "response_format")
    if edit:
        refused = _check_edit_fields(fields, len(images), model)
        if refused is not None:
            return refused
    read = [_image_size(data) for data in images]
    if any(facts is None for facts in read):
        return _error(400, "Invalid image file or mode for image.", "invalid_image_file", "image")
    first = read[0]
    assert first is not None
    if model == "dall-e-2" and (len(images) > 1 or first[0] != "PNG" or first[1][0] != first[1][1]):
        return _error(400, "Uploaded image must be a PNG and square.", "invalid_image_format", "image")
    if masks:
        mask = _image_size(masks[0])
        if mask is None or mask[0] != "PNG" or not mask[2]:
            return _error(400, "Invalid mask: it must be a PNG with an alpha channel.", "invalid_image_file", "mask")
        if mask[1] != first[1]:
            return _error(
                400,
                f"Invalid mask image: mask size {mask[1]} does not match image size {first[1]}.",
                "invalid_image_file",
                "mask",
            )
    return None


class OrjsonResponse(JSONResponse):
    """An image answer rendered by orjson: a benchmark's fake provider must not spend its CPU in ``json.dumps`` on a
    megabyte of base64. Its own class, not Sentinel's, so the fake shares no code with the service it tests."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class CutShort(OrjsonResponse):
    """A 200 whose body breaks off halfway: the headers promise the whole answer (Content-Length), half of it is sent,
    and the connection is closed (uvicorn closes it when an app ends without completing its answer)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})


#: Where 'private_url' answers point: a private address (TEST-NET would be public to the address check) that is not
#: the fake's own host.
PRIVATE_FILE_URL = "http://10.255.255.1/files/img.png"


def _error(
    status: int,
    message: str,
    code: str | None = None,
    param: str | None = None,
    kind: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _bearer(request: Request) -> str:
    """The key the request was sent with (its ``Authorization: Bearer``)."""
    return request.headers.get("authorization", "").removeprefix("Bearer ")


def _giant_answer(size: int) -> StreamingResponse:
    """A 200 in OpenAI's shape whose one image is ``size`` characters of base64, sent chunked (no Content-Length):
    an answer the reader only learns is too large while reading it."""

    async def pieces() -> Any:
        yield b'{"created": 1, "data": [{"b64_json": "'
        block = b"A" * (1024 * 1024)
        left = size
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)
        yield b'"}]}'

    return StreamingResponse(pieces(), media_type="application/json")


def create_app(script: Script, image: bytes | None = None, distinct: bool = False) -> Starlette:
    """The fake; ``image`` fixes the returned bytes (benchmarks), else a small PNG per request. With ``distinct``,
    each answer is ``image`` (a PNG) made new by a counter in a ``tEXt`` chunk, as a real provider's images are new."""
    files = StoredFiles()
    counter = itertools.count()
    # A benchmark's fixed image is encoded once: a real provider's CPU is not on the benchmark's machine.
    fixed_base64 = pybase64.b64encode_as_string(image) if image is not None else None
    variants = DistinctPng(image) if image is not None and distinct else None

    def _validate(body: Any) -> JSONResponse | None:
        if not isinstance(body, dict):
            return _error(400, "We could not parse the JSON body of your request.")
        unknown = sorted(set(body) - KNOWN_FIELDS)
        if unknown:
            return _error(400, f"Unknown parameter: '{unknown[0]}'.", "unknown_parameter", unknown[0])
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return _error(400, "Missing required parameter: 'prompt'.", "missing_required_parameter", "prompt")
        n = body.get("n", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
            return _error(400, f"Invalid 'n': integer between 1 and 10 expected, got {n!r}.", "invalid_value", "n")
        if body.get("size", "1024x1024") not in SIZES:
            return _error(
                400,
                f"Invalid value: '{body.get('size')}'. Supported values are: {sorted(SIZES)}.",
                "invalid_value",
                "size",
            )
        if body.get("response_format", "url") not in ("url", "b64_json"):
            return _error(400, "Invalid value for 'response_format'.", "invalid_value", "response_format")
        if str(body.get("model", "")).startswith("gpt-image") and "response_format" in body:
            return _error(400, "Unknown parameter: 'response_format'.", "unknown_parameter", "response_format")
        for name, (family, values) in MODEL_FIELDS.items():
            if name not in body:
                continue
            if not str(body.get("model", "")).startswith(family):
                return _error(400, f"Unknown parameter: '{name}'.", "unknown_parameter", name)
            if values is not None and body[name] not in values:
                return _error(400, f"Invalid value: '{body[name]}'.", "invalid_value", name)
        return None

    async def generations(request: Request) -> Response:
        if not has_credentials(request, "Bearer"):
            return _error(401, "You didn't provide an API key.", "invalid_api_key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        script.record(method="POST", path=request.url.path, body=body)
        invalid = _validate(body)
        if invalid is not None:
            return invalid
        if body.get("model") in script.missing_models:
            return _error(
                404,
                f"The model `{body['model']}` does not exist or you do not have access to it.",
                "model_not_found",
            )
        return await _answer(body, str(request.base_url).rstrip("/"), _bearer(request))

    async def edits(request: Request) -> Response:
        if not has_credentials(request, "Bearer"):
            return _error(401, "You didn't provide an API key.", "invalid_api_key")
        async with request.form() as form:
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            uploads = [(k, await v.read()) for k, v in form.multi_items() if not isinstance(v, str)]
        images = [data for name, data in uploads if name in ("image", "image[]")]
        masks = [data for name, data in uploads if name == "mask"]
        script.record(
            method="POST",
            path=request.url.path,
            body=fields | {"image": bool(images), "images": len(images), "files": [name for name, _ in uploads]},
            mask_alpha=_alpha_summary(masks[0]) if masks else None,
        )
        invalid = _validate_change(fields, uploads, images, masks, EDIT_FIELDS, edit=True)
        if invalid is not None:
            return invalid
        if not fields.get("prompt"):
            return _error(400, "Missing required parameter: 'prompt'.", "missing_required_parameter", "prompt")
        return await _answer(fields, str(request.base_url).rstrip("/"), _bearer(request))

    async def variations(request: Request) -> Response:
        if not has_credentials(request, "Bearer"):
            return _error(401, "You didn't provide an API key.", "invalid_api_key")
        async with request.form() as form:
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            uploads = [(k, await v.read()) for k, v in form.multi_items() if not isinstance(v, str)]
        images = [data for name, data in uploads if name == "image"]
        script.record(method="POST", path=request.url.path, body=fields | {"files": [name for name, _ in uploads]})
        invalid = _validate_change(fields, uploads, images, [], VARIATION_FIELDS, edit=False)
        if invalid is not None:
            return invalid
        return await _answer(fields, str(request.base_url).rstrip("/"), _bearer(request))

    async def _answer(body: dict[str, Any], base: str, key: str = "") -> Response:
        behaviour = script.next()
        if behaviour == "wrong_key":
            # OpenAI's answer to a key it does not know quotes the key in part: its start and its last four.
            quoted = f"{key[:14]}{'*' * 20}{key[-4:]}"
            return _error(
                401,
                f"Incorrect API key provided: {quoted}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_api_key",
            )
        if behaviour == "giant":
            return _giant_answer(script.giant_bytes)
        if behaviour == "rate_limit":
            return _error(
                429,
                "Rate limit reached for images per minute.",
                "rate_limit_exceeded",
                kind="requests",
                headers=script.retry_after_headers(),
            )
        if behaviour == "no_credit":
            # What api.openai.com answers an account without credit: a 429 with no Retry-After, which no wait cures.
            return _error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                kind="insufficient_quota",
            )
        if behaviour == "moved":
            # A provider's address moving (or a wrong base_url): a redirect with a page, as nginx sends one.
            page = "<html><body><h1>301 Moved Permanently</h1></body></html>"
            return HTMLResponse(page, status_code=301, headers={"location": "https://elsewhere.invalid/v1/images"})
        if behaviour in ("unavailable", "overloaded"):
            headers = script.retry_after_headers() if behaviour == "overloaded" else None
            return _error(
                503, "The engine is currently overloaded, please try again later.", kind="server_error", headers=headers
            )
        if behaviour == "bad_auth":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if behaviour == "content_filter":
            return _error(
                400, "Your request was rejected as a result of our safety system.", "content_policy_violation"
            )
        # Taken on arrival: a slow request its client gave up on must not take an image queued for a later one.
        data = script.image(behaviour, image, body) if behaviour != "empty" else b""
        if behaviour == "slow":
            await pause(script.slow_seconds)
        created = int(time.time())
        if behaviour == "empty":
            return JSONResponse({"created": created, "data": []})
        wants_url = body.get("response_format") == "url" or behaviour in ("octet_url", "flaky_url")
        variant = variants.next_number() if variants is not None and data is image else None
        if behaviour == "private_url":
            # A file server inside the provider's network, not the provider itself: never fetched by default.
            return OrjsonResponse({"created": created, "data": [{"url": PRIVATE_FILE_URL}]})
        if wants_url:
            if variants is not None and variant is not None:
                data = variants.data(variant)
            item: dict[str, Any] = {"url": files.store(base, f"img{next(counter)}", data, behaviour)}
        elif variants is not None and variant is not None:
            item = {"b64_json": variants.base64(variant)}
        else:
            item = {"b64_json": fixed_base64 if data is image else pybase64.b64encode_as_string(data)}
        item["revised_prompt"] = f"{body.get('prompt')}, highly detailed"
        if behaviour == "drift":
            return OrjsonResponse({"created": created, "output": [item]})
        if behaviour == "unknown_list":
            return OrjsonResponse({"created": created, "results": [item]})
        if behaviour == "unknown_item":
            return OrjsonResponse({"created": created, "data": [{"img": pybase64.b64encode_as_string(data)}]})
        if behaviour == "cut":
            return CutShort({"created": created, "data": [item]})
        return OrjsonResponse({"created": created, "data": [item]})

    async def list_models(request: Request) -> Response:
        if not has_credentials(request, "Bearer"):
            return _error(401, "You didn't provide an API key.", "invalid_api_key")
        script.record(method="GET", path=request.url.path, body=None)
        listed = [name for name in LISTED_MODELS if name not in script.missing_models]
        data = [{"id": name, "object": "model", "created": 1700000000, "owned_by": "system"} for name in listed]
        return JSONResponse({"object": "list", "data": data})

    return Starlette(
        routes=[
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/images/generations", generations, methods=["POST"]),
            Route("/v1/images/edits", edits, methods=["POST"]),
            Route("/v1/images/variations", variations, methods=["POST"]),
            files.route,
        ]
    )
