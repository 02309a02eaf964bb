"""A fake OpenAI chat-completions API with image input (as OpenAI, Gemini's OpenAI-compatible endpoint, Ollama and
vLLM serve it): validates requests like OpenAI and answers with its shapes and failures.

Errors are always ``{"error": {"message", "type", "param", "code"}}``. The fake is stricter than OpenAI in a few
places so that a client stays on the safe side of every compatible server: only the arguments below are accepted,
``n`` must be 1, nothing streams, and a data URL's bytes must be the image type it declares.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import math
import re
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel_fakes.server import pause
from sentinel_fakes.vision import (
    CACHED_ANSWER_ERROR,
    IMAGE_FORMATS,
    OVERLOADED_IN_200,
    REFUSAL,
    Reading,
    Rejection,
    VisionScript,
    all_passing,
    answer_text,
    cut_off,
    decode_base64,
    deep_error_body,
    example_votes,
    input_tokens,
    masked_key,
    model_votes,
    output_tokens,
    sniff_image,
    trickled,
    usage_for,
)

#: Top-level arguments the fake accepts; anything else is "Unrecognized request argument supplied".
KNOWN_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "response_format",
    "seed",
    "n",
    "stream",
}
ROLES = ("system", "developer", "user", "assistant")
DETAILS = ("auto", "low", "high")
DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.*)$", re.DOTALL)
SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
#: OpenAI's reasoning models (o-series, GPT-5 and later; not the "-chat" snapshots), which refuse `max_tokens` and
#: any `temperature` but their default of 1 (https://platform.openai.com/docs/guides/reasoning).
REASONING_MODEL = re.compile(r"^(?!.*-chat)(?:o\d+(?:-.*)?|gpt-(?:[5-9]|[1-9]\d+)(?:[.-].*)?)$")
#: OpenAI's limit on one image.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
UNSUPPORTED_IMAGE = (
    "You uploaded an unsupported image. Please make sure your image is below 20 MB in size and is of one the "
    "following formats: ['png', 'jpeg', 'gif', 'webp']."
)


def _error(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


#: Google's code names of the statuses the fake answers (https://cloud.google.com/apis/design/errors).
GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
GOOGLE_BAD_KEY = "API key not valid. Please pass a valid API key."


def _as_google(response: Response) -> Response:
    """An error answer in the shape Gemini's OpenAI-compatible endpoint gives it: a list holding Google's error
    object; a refused key is 400 INVALID_ARGUMENT, reason API_KEY_INVALID (not a 401)."""
    if response.status_code < 400 or not isinstance(response, JSONResponse):
        return response
    said = json.loads(bytes(response.body)).get("error", {})
    status, message = response.status_code, said.get("message", "")
    error: dict[str, Any] = {"code": status, "message": message, "status": GOOGLE_STATUSES.get(status, "UNKNOWN")}
    if status == 401:
        status, message = 400, GOOGLE_BAD_KEY
        error = {
            "code": 400,
            "message": message,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        }
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse([{"error": error}], status_code=status, headers=headers)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "decimal"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _wrong_type(param: str, expected: str, value: Any) -> Rejection:
    return Rejection(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> Rejection:
    return Rejection(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def _invalid_value(param: str, value: Any, supported: tuple[str, ...]) -> Rejection:
    listed = ", ".join(f"'{s}'" for s in supported[:-1]) + f", and '{supported[-1]}'"
    return Rejection(
        400, f"Invalid value: '{value}'. Supported values are: {listed}.", param=param, code="invalid_value"
    )


def _positive_int(body: dict[str, Any], name: str) -> None:
    if name not in body:
        return
    value = body[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong_type(name, "an integer", value)
    if value < 1:
        raise Rejection(
            400,
            f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )


def _check_image_url(image_url: Any, param: str) -> None:
    if not isinstance(image_url, dict):
        raise _wrong_type(param, "an object", image_url)
    unknown = sorted(set(image_url) - {"url", "detail"})
    if unknown:
        raise Rejection(400, f"Unrecognized request argument supplied: {unknown[0]}", param=f"{param}.{unknown[0]}")
    url = image_url.get("url")
    if url is None:
        raise _missing(f"{param}.url")
    if not isinstance(url, str):
        raise _wrong_type(f"{param}.url", "a string", url)
    if "detail" in image_url and image_url["detail"] not in DETAILS:
        raise _invalid_value(f"{param}.detail", image_url["detail"], DETAILS)
    if url.startswith(("http://", "https://")):
        return  # the fake fetches nothing
    match = DATA_URL.match(url)
    if match is None:
        raise Rejection(
            400,
            f"Invalid '{param}.url'. Expected a base64-encoded data URL with an image MIME type "
            "(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got an invalid value.",
            param=f"{param}.url",
            code="invalid_value",
        )
    declared, encoded = match.groups()
    if declared not in IMAGE_FORMATS:
        raise Rejection(400, UNSUPPORTED_IMAGE, param=f"{param}.url", code="invalid_image_format")
    data = decode_base64(encoded)
    if data is None:
        raise Rejection(400, "Invalid base64 image_url.", param=f"{param}.url", code="invalid_base64")
    if len(data) > MAX_IMAGE_BYTES:
        raise Rejection(400, UNSUPPORTED_IMAGE, param=f"{param}.url", code="image_too_large")
    actual = sniff_image(data)
    if actual is None:
        raise Rejection(400, f"Invalid image: {UNSUPPORTED_IMAGE}", param=f"{param}.url", code="invalid_image")
    if actual != declared:
        raise Rejection(
            400,
            f"Invalid image: the data URL declares {declared} but its bytes are a {actual} image.",
            param=f"{param}.url",
            code="invalid_image_format",
        )


def _read_message(message: Any, index: int, reading: Reading) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _wrong_type(where, "an object", message)
    role = message.get("role")
    if role is None:
        raise _missing(f"{where}.role")
    if role not in ROLES:
        raise _invalid_value(f"{where}.role", role, ROLES)
    unknown = sorted(set(message) - {"role", "content", "name"})
    if unknown:
        raise Rejection(400, f"Unrecognized request argument supplied: {unknown[0]}", param=f"{where}.{unknown[0]}")
    if "content" not in message:
        raise _missing(f"{where}.content")
    content = message["content"]
    if isinstance(content, str):
        reading.texts.append(content)
        return
    if not isinstance(content, list):
        raise _wrong_type(f"{where}.content", "one of a string or array of objects", content)
    if not content:
        raise Rejection(
            400,
            f"Invalid '{where}.content': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param=f"{where}.content",
            code="empty_array",
        )
    for number, part in enumerate(content):
        param = f"{where}.content[{number}]"
        if not isinstance(part, dict):
            raise _wrong_type(param, "an object", part)
        kind = part.get("type")
        if kind is None:
            raise _missing(f"{param}.type")
        if kind == "text":
            if set(part) - {"type", "text"}:
                extra = sorted(set(part) - {"type", "text"})[0]
                raise Rejection(400, f"Unrecognized request argument supplied: {extra}", param=f"{param}.{extra}")
            if "text" not in part:
                raise _missing(f"{param}.text")
            if not isinstance(part["text"], str):
                raise _wrong_type(f"{param}.text", "a string", part["text"])
            reading.texts.append(part["text"])
        elif kind == "image_url":
            if role != "user":
                raise Rejection(
                    400,
                    f"Invalid '{where}'. Image URLs are only allowed for messages with role 'user', "
                    f"but this message with role '{role}' contains an image URL.",
                    param=where,
                    code="invalid_value",
                )
            if "image_url" not in part:
                raise _missing(f"{param}.image_url")
            _check_image_url(part["image_url"], f"{param}.image_url")
            reading.images += 1
        else:
            raise _invalid_value(f"{param}.type", kind, ("text", "image_url"))


def _check_strict_schema(schema: Any, name: str, context: tuple[str, ...]) -> None:
    """OpenAI's rules for ``strict: true``: every object closes its properties and requires all of them."""
    if not isinstance(schema, dict):
        return

    def reject(message: str) -> Rejection:
        return Rejection(
            400,
            f"Invalid schema for response_format '{name}': In context={context}, {message}",
            param="response_format",
            code="invalid_json_schema",
        )

    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            raise reject("'additionalProperties' is required to be supplied and to be false.")
        properties = schema.get("properties", {})
        required = schema.get("required")
        missing = [key for key in properties if not isinstance(required, list) or key not in required]
        if missing:
            raise reject(
                "'required' is required to be supplied and to be an array including every key in properties. "
                f"Missing '{missing[0]}'."
            )
        for key, sub in properties.items():
            _check_strict_schema(sub, name, (*context, "properties", key))
    if "items" in schema:
        _check_strict_schema(schema["items"], name, (*context, "items"))
    for keyword in ("anyOf", "allOf"):
        for number, sub in enumerate(schema.get(keyword, [])):
            _check_strict_schema(sub, name, (*context, keyword, str(number)))
    for keyword in ("$defs", "definitions"):
        for key, sub in schema.get(keyword, {}).items():
            _check_strict_schema(sub, name, (*context, keyword, key))


def _check_response_format(response_format: Any, reading: Reading) -> None:
    if not isinstance(response_format, dict):
        raise _wrong_type("response_format", "an object", response_format)
    kind = response_format.get("type")
    if kind is None:
        raise _missing("response_format.type")
    if kind not in ("text", "json_object", "json_schema"):
        raise _invalid_value("response_format.type", kind, ("json_object", "json_schema", "text"))
    if kind == "json_object" and "json" not in reading.text.lower():
        raise Rejection(
            400,
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
            param="messages",
        )
    if kind != "json_schema":
        extra = sorted(set(response_format) - {"type"})
        if extra:
            raise Rejection(400, f"Unrecognized request argument supplied: {extra[0]}", param="response_format")
        return
    spec = response_format.get("json_schema")
    if spec is None:
        raise _missing("response_format.json_schema")
    if not isinstance(spec, dict):
        raise _wrong_type("response_format.json_schema", "an object", spec)
    name = spec.get("name")
    if name is None:
        raise _missing("response_format.json_schema.name")
    if not isinstance(name, str) or not SCHEMA_NAME.match(name):
        raise Rejection(
            400,
            "Invalid 'response_format.json_schema.name': string does not match pattern. "
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            param="response_format.json_schema.name",
            code="invalid_value",
        )
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise _wrong_type("response_format.json_schema.schema", "an object", schema)
    strict = spec.get("strict", False)
    if not isinstance(strict, bool):
        raise _wrong_type("response_format.json_schema.strict", "a boolean", strict)
    if strict:
        if not schema or schema.get("type") != "object":
            raise Rejection(
                400,
                f"Invalid schema for response_format '{name}': schema must be a JSON Schema of 'type: \"object\"'.",
                param="response_format",
                code="invalid_json_schema",
            )
        _check_strict_schema(schema, name, ())


def _reasoning_model_rules(body: dict[str, Any]) -> None:
    """What a GPT-5 or o-series model refuses that other chat models take, in OpenAI's words."""
    if "max_tokens" in body:
        raise Rejection(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            param="max_tokens",
            code="unsupported_parameter",
        )
    if "temperature" in body and body["temperature"] != 1:
        raise Rejection(
            400,
            f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. "
            "Only the default (1) value is supported.",
            param="temperature",
            code="unsupported_value",
        )


def _validate(body: Any, script: VisionScript) -> Reading:
    """The request as the model reads it, or a Rejection as OpenAI words it."""
    if not isinstance(body, dict):
        raise Rejection(400, "We could not parse the JSON body of your request. The OpenAI API expects a JSON object.")
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise Rejection(400, f"Unrecognized request argument supplied: {unknown[0]}")
    if "model" not in body:
        raise Rejection(400, "you must provide a model parameter")
    if not isinstance(body["model"], str):
        raise _wrong_type("model", "a string", body["model"])
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _wrong_type("messages", "an array", messages)
    if not messages:
        raise Rejection(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    reading = Reading()
    for index, message in enumerate(messages):
        _read_message(message, index, reading)
    _positive_int(body, "max_tokens")
    _positive_int(body, "max_completion_tokens")
    if "max_tokens" in body and "max_completion_tokens" in body:
        raise Rejection(
            400,
            "Invalid request: 'max_tokens' and 'max_completion_tokens' cannot both be set; "
            "use 'max_completion_tokens'.",
            param="max_tokens",
            code="invalid_value",
        )
    if isinstance(body["model"], str) and REASONING_MODEL.match(body["model"].rsplit("/", 1)[-1]):
        _reasoning_model_rules(body)
    if "temperature" in body:
        temperature = body["temperature"]
        if not isinstance(temperature, int | float) or isinstance(temperature, bool):
            raise _wrong_type("temperature", "a decimal", temperature)
        if not 0 <= temperature <= 2:
            where = "below minimum" if temperature < 0 else "above maximum"
            bound = "a value >= 0" if temperature < 0 else "a value <= 2"
            raise Rejection(
                400,
                f"Invalid 'temperature': decimal {where} value. Expected {bound}, but got {temperature} instead.",
                param="temperature",
                code="decimal_below_min_value" if temperature < 0 else "decimal_above_max_value",
            )
    if "seed" in body and (not isinstance(body["seed"], int) or isinstance(body["seed"], bool)):
        raise _wrong_type("seed", "an integer", body["seed"])
    if "n" in body and body["n"] != 1:
        raise Rejection(400, f"Invalid 'n': this server answers one choice only, got {body['n']!r}.", param="n")
    if body.get("stream") not in (None, False):
        raise Rejection(400, "Invalid 'stream': this server does not stream; send false or omit it.", param="stream")
    if "response_format" in body:
        _check_response_format(body["response_format"], reading)
    if body["model"] not in script.models:
        raise Rejection(
            404,
            f"The model `{body['model']}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    return reading


def _retry_after_headers(script: VisionScript) -> dict[str, str]:
    """Retry-After, and retry-after-ms when the script sets it (OpenAI and Azure OpenAI send both)."""
    headers = script.retry_after_headers()
    if script.retry_after_ms is not None:
        headers["retry-after-ms"] = str(script.retry_after_ms)
    return headers


#: Behaviours whose reply holds a second answer, one in which every criterion passes.
TWO_ANSWERS = frozenset({"refusal_part", "text_and_call", "two_calls", "two_choices", "error_and_choices"})


def create_app(script: VisionScript) -> Starlette:
    """The fake; ``script`` decides what the model answers and records every request."""
    counter = itertools.count()

    async def completions(request: Request) -> Response:
        answer = await _completions(request)
        return _as_google(answer) if script.error_shape == "google" else answer

    async def _completions(request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        script.record(request.url.path, request.headers, body, request.url.query)
        # No key configured: a local server (Ollama, vLLM without --api-key) that takes any request.
        if script.api_key is not None:
            if not authorization.startswith("Bearer "):
                return _error(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
                    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                )
            key = authorization.removeprefix("Bearer ").strip()
            if key != script.api_key:
                return _error(
                    401,
                    f"Incorrect API key provided: {masked_key(key)}. "
                    "You can find your API key at https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                )
        if body is None:
            return _error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
                "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
            )
        try:
            reading = _validate(body, script)
        except Rejection as rejection:
            return _error(rejection.status, rejection.message, param=rejection.param, code=rejection.code)
        return await _answer(body, reading)

    async def _answer(body: dict[str, Any], reading: Reading) -> Response:
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
        if time.time() < script.limited_until:
            ends = email.utils.formatdate(math.ceil(script.limited_until), usegmt=True)
            return _error(
                429,
                f"Rate limit reached for {body['model']} on requests per min (RPM).",
                kind="requests",
                code="rate_limit_exceeded",
                headers=headers | {"retry-after": ends},
            )
        behaviour = script.next()
        if behaviour == "rate_limit":
            return _error(
                429,
                f"Rate limit reached for {body['model']} in organization org-fake on requests per min (RPM): "
                f"Limit 3, Used 3, Requested 1. Please try again in {script.retry_after}s.",
                kind="requests",
                code="rate_limit_exceeded",
                headers=headers | _retry_after_headers(script) | {"x-ratelimit-remaining-requests": "0"},
            )
        if behaviour == "no_credit":
            # OpenAI's answer to an account out of credit: a rate limit's status, and no wait cures it.
            return _error(
                429,
                "You exceeded your current quota, please check your plan and billing details. For more information "
                "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                kind="insufficient_quota",
                code="insufficient_quota",
                headers=headers,
            )
        if behaviour in ("deep_error", "deep_rate_limit"):
            status, more = (500, {}) if behaviour == "deep_error" else (429, _retry_after_headers(script))
            return Response(deep_error_body(), status, headers=headers | more, media_type="application/json")
        if behaviour == "streamed":
            chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "{}"}}]}
            events = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
            return Response(events, media_type="text/event-stream", headers=headers)
        if behaviour == "server_error":
            return _error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                kind="server_error",
                headers=headers,
            )
        if behaviour == "overloaded":
            return _error(
                503, "The engine is currently overloaded, please try again later.", kind="server_error", headers=headers
            )
        if behaviour == "error_in_200":
            error = {"message": OVERLOADED_IN_200, "type": "server_error", "param": None, "code": "overloaded"}
            return JSONResponse({"error": error}, headers=headers)
        if behaviour == "no_answer":
            # Billed all the same (Gemini reports the prompt's tokens).
            usage = {"prompt_tokens": input_tokens(reading), "completion_tokens": 0}
            return JSONResponse(
                {
                    "id": "chatcmpl-none",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [],
                    "usage": usage | {"total_tokens": usage["prompt_tokens"]},
                },
                headers=headers,
            )
        if behaviour == "slow":
            with script.answering():
                await pause(script.slow_seconds)
        votes = model_votes(script, reading, behaviour)
        text: str | None = answer_text(votes, behaviour, script.huge_bytes)
        refusal = None
        finish_reason = "stop"
        if behaviour == "refusal":
            text, refusal = None, REFUSAL
        elif behaviour == "cut_off":
            limit = body.get("max_completion_tokens", body.get("max_tokens", 16))
            text, finish_reason = cut_off(text or "", limit), "length"
        elif behaviour == "content_filter":
            text, finish_reason = answer_text(example_votes(votes), "votes"), "content_filter"
        elif behaviour == "filtered_empty":
            text, finish_reason = None, "content_filter"
        content: Any = text
        # The other answer of the behaviours that give two (made only for those: benchmarks count the fake's work).
        passing = json.dumps(all_passing(votes)) if behaviour in TWO_ANSWERS else ""
        if behaviour == "refusal_part":
            content = [{"type": "refusal", "refusal": REFUSAL}, {"type": "text", "text": passing}]
        elif behaviour == "content_parts" and text:
            middle = len(text) // 2
            content = [{"type": "text", "text": text[:middle]}, {"type": "text", "text": text[middle:]}]
        elif behaviour == "content_number":
            content = 42
        tool_calls = None
        if behaviour in ("tool_call", "revised_call", "text_and_call", "two_calls"):
            arguments = [passing, text] if behaviour == "two_calls" else [text]
            tool_calls = [
                {
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {"name": "submit_votes", "arguments": given},
                }
                for given in arguments
            ]
            content = passing if behaviour == "text_and_call" else None
        prompt_tokens = input_tokens(reading)
        completion_tokens = output_tokens(text or refusal or "") or (80 if behaviour == "filtered_empty" else 0)
        answer = {
            "id": f"chatcmpl-{next(counter):04d}{uuid.uuid4().hex[:20]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal}
                    | ({"tool_calls": tool_calls} if tool_calls else {}),
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_fake",
        }
        usage = usage_for(behaviour, answer["usage"])
        if usage is None:
            del answer["usage"]
        else:
            answer["usage"] = usage
        if behaviour == "two_choices":
            [scripted] = answer["choices"]
            first = scripted | {"message": scripted["message"] | {"content": passing}}
            answer["choices"] = [first, scripted | {"index": 1}]
        if behaviour == "error_and_choices":
            answer["choices"][0]["message"]["content"] = passing
            answer["error"] = {"message": CACHED_ANSWER_ERROR, "code": 503}
        if behaviour == "trickle":
            return trickled(answer, script.trickle_seconds, headers)
        return JSONResponse(answer, headers=headers)

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
