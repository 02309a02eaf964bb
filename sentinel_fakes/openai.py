"""A fake OpenAI Images API: validates requests like OpenAI and answers with its shapes and failures."""

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson
import pybase64
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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


class OrjsonResponse(JSONResponse):
    """An image answer rendered by orjson: a benchmark's fake provider must not spend its CPU in ``json.dumps`` on a
    megabyte of base64. Its own class, not Sentinel's, so the fake shares no code with the service it tests."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


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


def create_app(script: Script, image: bytes | None = None) -> Starlette:
    """The fake; ``image`` fixes the returned bytes (benchmarks), else a small PNG per request."""
    files = StoredFiles()
    counter = itertools.count()
    # A benchmark's fixed image is encoded once: a real provider's CPU is not on the benchmark's machine.
    fixed_base64 = pybase64.b64encode_as_string(image) if image is not None else None

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
        return await _answer(body, str(request.base_url).rstrip("/"))

    async def edits(request: Request) -> Response:
        if not has_credentials(request, "Bearer"):
            return _error(401, "You didn't provide an API key.", "invalid_api_key")
        async with request.form() as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            has_image = form.get("image") is not None and not isinstance(form.get("image"), str)
        script.record(method="POST", path=request.url.path, body=fields | {"image": has_image})
        if not has_image:
            return _error(400, "Missing required parameter: 'image'.", "missing_required_parameter", "image")
        if not fields.get("prompt"):
            return _error(400, "Missing required parameter: 'prompt'.", "missing_required_parameter", "prompt")
        return await _answer(fields, str(request.base_url).rstrip("/"))

    async def _answer(body: dict[str, Any], base: str) -> Response:
        behaviour = script.next()
        if behaviour == "rate_limit":
            return _error(
                429,
                "Rate limit reached for images per minute.",
                "rate_limit_exceeded",
                kind="requests",
                headers=script.retry_after_headers(),
            )
        if behaviour == "unavailable":
            return _error(503, "The engine is currently overloaded, please try again later.", kind="server_error")
        if behaviour == "bad_auth":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if behaviour == "content_filter":
            return _error(
                400, "Your request was rejected as a result of our safety system.", "content_policy_violation"
            )
        # Taken on arrival: a slow request its client gave up on must not take an image queued for a later one.
        data = script.image(behaviour, image) if behaviour != "empty" else b""
        if behaviour == "slow":
            await pause(script.slow_seconds)
        created = int(time.time())
        if behaviour == "empty":
            return JSONResponse({"created": created, "data": []})
        wants_url = body.get("response_format") == "url" or behaviour == "octet_url"
        if wants_url:
            item: dict[str, Any] = {"url": files.store(base, f"img{next(counter)}", data, behaviour)}
        else:
            item = {"b64_json": fixed_base64 if data is image else pybase64.b64encode_as_string(data)}
        item["revised_prompt"] = f"{body.get('prompt')}, highly detailed"
        if behaviour == "drift":
            return OrjsonResponse({"created": created, "output": [item]})
        if behaviour == "unknown_list":
            return OrjsonResponse({"created": created, "results": [item]})
        if behaviour == "unknown_item":
            return OrjsonResponse({"created": created, "data": [{"img": pybase64.b64encode_as_string(data)}]})
        return OrjsonResponse({"created": created, "data": [item]})

    return Starlette(
        routes=[
            Route("/v1/images/generations", generations, methods=["POST"]),
            Route("/v1/images/edits", edits, methods=["POST"]),
            files.route,
        ]
    )
