"""A fake Generative Language API (Imagen ``:predict``, Gemini ``:generateContent``) with Google's shapes and failures.

Google refuses in its own ways, and the fake does too: a missing key is a 403 PERMISSION_DENIED, a wrong key a 400
INVALID_ARGUMENT with reason API_KEY_INVALID (not a 401), a wrong body a 400 "Invalid JSON payload received...",
and a safety refusal a 200 (``raiFilteredReason`` for Imagen, ``promptFeedback.blockReason`` for Gemini).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel_fakes.server import Script, pause

#: Type names Google's parser puts in its "Invalid value at ..." messages.
CONTENT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.Content"
PART_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.Part"
CONFIG_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig"
#: Aspect ratios Imagen accepts.
IMAGEN_ASPECT_RATIOS = {"1:1", "3:4", "4:3", "9:16", "16:9"}
#: Aspect ratios Gemini image models accept in ``imageConfig``.
GEMINI_ASPECT_RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
#: Top-level fields of GenerateContentRequest (protobuf JSON also takes the snake_case names).
GENERATE_CONTENT_FIELDS = {
    "contents",
    "generationConfig",
    "safetySettings",
    "systemInstruction",
    "tools",
    "toolConfig",
    "cachedContent",
}
#: Fields of GenerationConfig; an unknown one is refused as the proto parser refuses it.
GENERATION_CONFIG_FIELDS = {
    "responseModalities",
    "imageConfig",
    "seed",
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "thinkingConfig",
    "presencePenalty",
    "frequencyPenalty",
}
MODALITIES = {"TEXT", "IMAGE", "AUDIO"}
#: What GET /v1beta/models lists (minus the script's ``missing_models``), with each model's supported methods.
LISTED_MODELS: dict[str, list[str]] = {
    "gemini-nano-banana-2.1": ["generateContent", "countTokens"],
    "gemini-2.5-flash-image": ["generateContent", "countTokens"],
    "gemini-2.5-flash": ["generateContent", "countTokens", "createCachedContent"],
    "imagen-4.0-generate-001": ["predict"],
    "text-embedding-004": ["embedContent"],
}
#: Google's default page size for ListModels (its maximum is 1000).
DEFAULT_PAGE_SIZE = 50
#: What Imagen says when its filter removed the image (includeRaiReason asked for the reason).
RAI_REASON = (
    "Your current safety filter threshold filtered out 1 generated images. "
    "You will not be charged for blocked images. Try rephrasing the prompt."
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    headers = extra.pop("headers", None)
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if extra.get("details"):
        error["details"] = extra["details"]
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _invalid(message: str) -> JSONResponse:
    return _error(400, "INVALID_ARGUMENT", f"Invalid JSON payload received. {message}")


def _validate_predict(body: dict[str, Any]) -> JSONResponse | None:
    instances = body.get("instances")
    if instances is None:
        return _invalid("Missing required field 'instances'.")
    if not isinstance(instances, list) or not instances or not all(isinstance(i, dict) for i in instances):
        return _invalid(f"Invalid value at 'instances' (type.googleapis.com/google.protobuf.ListValue), {instances!r}")
    if not isinstance(instances[0].get("prompt"), str) or not instances[0]["prompt"]:
        return _invalid("Invalid value at 'instances[0].prompt' (TYPE_STRING): a non-empty string is required.")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        return _invalid(f"Invalid value at 'parameters' (type.googleapis.com/google.protobuf.Struct), {parameters!r}")
    count = parameters.get("sampleCount", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4:
        return _invalid(
            f"Invalid value at 'parameters.sampleCount': an integer from 1 to 4 is required, got {count!r}."
        )
    ratio = parameters.get("aspectRatio", "1:1")
    if ratio not in IMAGEN_ASPECT_RATIOS:
        return _invalid(f"Invalid value at 'parameters.aspectRatio': unsupported aspect ratio {ratio!r}.")
    seed = parameters.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        return _invalid(f"Invalid value at 'parameters.seed' (TYPE_UINT32), {seed!r}")
    return None


def _validate_generate_content(body: dict[str, Any]) -> JSONResponse | None:
    unknown = sorted(k for k in body if _camel(k) not in GENERATE_CONTENT_FIELDS)
    if unknown:
        return _invalid(f'Unknown name "{unknown[0]}": Cannot find field.')
    contents = body.get("contents")
    if contents is None:
        return _invalid("GenerateContentRequest.contents: contents is not specified")
    if not isinstance(contents, list) or not contents:
        return _invalid(f"Invalid value at 'contents' ({CONTENT_TYPE}), {contents!r}")
    for i, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            return _invalid(f"Invalid value at 'contents[{i}].parts': a non-empty list of parts is required.")
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                return _invalid(f"Invalid value at 'contents[{i}].parts[{j}]' ({PART_TYPE}), {part!r}")
            if "text" in part and not isinstance(part["text"], str):
                return _invalid(f"Invalid value at 'contents[{i}].parts[{j}].text' (TYPE_STRING), {part['text']!r}")
    config = body.get("generationConfig", body.get("generation_config", {}))
    if not isinstance(config, dict):
        return _invalid(f"Invalid value at 'generation_config' ({CONFIG_TYPE}), {config!r}")
    config = {_camel(k): v for k, v in config.items()}
    unknown = sorted(k for k in config if k not in GENERATION_CONFIG_FIELDS)
    if unknown:
        return _invalid(f"Unknown name \"{unknown[0]}\" at 'generation_config': Cannot find field.")
    modalities = config.get("responseModalities", ["TEXT"])
    if not isinstance(modalities, list) or not set(modalities) <= MODALITIES:
        return _invalid(
            f"Invalid value at 'generation_config.response_modalities' ({CONFIG_TYPE}.Modality), {modalities!r}"
        )
    if "IMAGE" not in modalities:
        # An image model asked for text only refuses the combination.
        return _error(400, "INVALID_ARGUMENT", "Model does not support the requested response modalities: text")
    image_config = config.get("imageConfig", {})
    if not isinstance(image_config, dict) or image_config.get("aspectRatio", "1:1") not in GEMINI_ASPECT_RATIOS:
        return _error(400, "INVALID_ARGUMENT", f"Unsupported aspect ratio in imageConfig: {image_config!r}")
    return None


def create_app(script: Script, image: bytes | None = None) -> Starlette:
    """The fake; ``image`` fixes the returned bytes (benchmarks), else a small PNG per request."""

    def _image_b64(behaviour: str) -> str:
        return base64.b64encode(script.image(behaviour, image)).decode()

    async def _common_failure(behaviour: str) -> JSONResponse | None:
        """The behaviours both APIs answer alike; None for the ones each answers in its own shape."""
        if behaviour == "rate_limit":
            retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{script.retry_after}s"}
            return _error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details.",
                details=[retry],
                headers=script.retry_after_headers(),
            )
        if behaviour == "unavailable":
            return _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        if behaviour == "bad_auth":
            # Google answers a wrong API key with 400, naming the reason in an ErrorInfo detail.
            info = {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
            return _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", details=[info])
        if behaviour == "slow":
            await pause(script.slow_seconds)
        return None

    async def predict(model: str, body: dict[str, Any]) -> Response:
        behaviour = script.next()
        failed = await _common_failure(behaviour)
        if failed is not None:
            return failed
        if behaviour == "content_filter":
            return JSONResponse({"predictions": [{"raiFilteredReason": RAI_REASON}]})
        if behaviour == "empty":
            # What Imagen sends when its filter removed every image and no reason was asked for.
            return JSONResponse({})
        encoded = _image_b64(behaviour)
        if behaviour == "drift":
            return JSONResponse({"predictions": [{"image": {"bytesBase64Encoded": encoded, "mimeType": "image/png"}}]})
        return JSONResponse({"predictions": [{"mimeType": "image/png", "bytesBase64Encoded": encoded}]})

    async def generate_content(model: str, body: dict[str, Any]) -> Response:
        behaviour = script.next()
        failed = await _common_failure(behaviour)
        if failed is not None:
            return failed
        usage = {"promptTokenCount": 8, "candidatesTokenCount": 1290, "totalTokenCount": 1298}
        meta = {"usageMetadata": usage, "modelVersion": model, "responseId": uuid.uuid4().hex[:22]}
        if behaviour == "content_filter":
            ratings = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]
            return JSONResponse({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": ratings}} | meta)
        if behaviour == "empty":
            return JSONResponse({"candidates": [{"finishReason": "STOP", "index": 0}]} | meta)
        encoded = _image_b64(behaviour)
        if behaviour == "drift":
            inline: dict[str, Any] = {"inline_data": {"mime_type": "image/png", "data": encoded}}
        else:
            inline = {"inlineData": {"mimeType": "image/png", "data": encoded}}
        parts = [{"text": "Here is the image you asked for."}, inline]
        candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        return JSONResponse({"candidates": [candidate]} | meta)

    async def models(request: Request) -> Response:
        if not (request.headers.get("x-goog-api-key") or request.query_params.get("key")):
            return _error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        model, _, action = request.path_params["target"].rpartition(":")
        handlers = {"predict": predict, "generateContent": generate_content}
        retired = model in script.missing_models
        if retired or action not in handlers or not model or (action == "predict") != model.startswith("imagen"):
            return _error(
                404,
                "NOT_FOUND",
                f"models/{model or request.path_params['target']} is not found for API version v1beta, "
                f"or is not supported for {action or 'this method'}. Call ListModels to see the list of available "
                "models and their supported methods.",
            )
        try:
            body = await request.json()
        except ValueError:
            script.record(method="POST", path=request.url.path, body=None)
            return _invalid("Unexpected token.")
        script.record(method="POST", path=request.url.path, body=body)
        if not isinstance(body, dict):
            return _invalid(f"Invalid value (type.googleapis.com/google.protobuf.Struct), {body!r}")
        invalid = _validate_predict(body) if action == "predict" else _validate_generate_content(body)
        if invalid is not None:
            return invalid
        return await handlers[action](model, body)

    async def list_models(request: Request) -> Response:
        if not (request.headers.get("x-goog-api-key") or request.query_params.get("key")):
            return _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
        script.record(method="GET", path=request.url.path, body=dict(request.query_params))
        try:
            size = min(int(request.query_params.get("pageSize") or DEFAULT_PAGE_SIZE), 1000)
            start = int(request.query_params.get("pageToken") or 0)
        except ValueError:
            return _invalid("Invalid page size or page token.")
        listed = [name for name in LISTED_MODELS if name not in script.missing_models]
        page = [
            {
                "name": f"models/{name}",
                "version": "001",
                "displayName": name,
                "supportedGenerationMethods": LISTED_MODELS[name],
            }
            for name in listed[start : start + size]
        ]
        more = start + size < len(listed)
        return JSONResponse({"models": page} | ({"nextPageToken": str(start + size)} if more else {}))

    return Starlette(
        routes=[
            Route("/v1beta/models", list_models, methods=["GET"]),
            Route("/v1beta/models/{target}", models, methods=["POST"]),
        ]
    )
