"""A fake Anthropic Messages API with image blocks: validates requests like Anthropic and answers with its shapes and
failures.

Errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}``, their messages worded as Anthropic's
validation words them (``<field path>: <problem>``). The fake is stricter than Anthropic in one place: nothing streams.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sentinel_fakes.server import pause
from sentinel_fakes.vision import (
    FREE_TEXT_BEHAVIOURS,
    IMAGE_FORMATS,
    OVERLOADED_IN_200,
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
    model_votes,
    output_tokens,
    revised_text,
    sniff_image,
    trickled,
    usage_for,
)

#: Top-level fields the fake accepts; anything else is "<field>: Extra inputs are not permitted".
KNOWN_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "stop_sequences",
    "metadata",
    "stream",
    "thinking",
}
#: The Claude 5 family and later (claude-sonnet-5-5, claude-opus-5, claude-fable-5-1): adaptive thinking is always on,
#: and non-default sampling parameters are refused (https://platform.claude.com/docs/en/about-claude/models/overview).
#: The fake's own copy of the rule: it shares no code with the client it checks.
ALWAYS_THINKING = re.compile(r"^claude-(?:[a-z]+-)?(?:[5-9]|[1-9]\d+)(?:[.-].*)?$")
THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
#: API versions Anthropic has published for the anthropic-version header.
VERSIONS = ("2023-06-01", "2023-01-01")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
#: Anthropic's limit on one image sent through the API, measured on the base64 text (not the decoded bytes): about
#: 3.75 MB of image. Its error names the base64 length ("image exceeds 5 MB maximum: 6405384 bytes > 5242880 bytes").
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MEDIA_TYPES = "'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    request_id = f"req_{uuid.uuid4().hex[:24]}"
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers={"request-id": request_id} | (headers or {}))


def _invalid(message: str) -> Rejection:
    return Rejection(400, message)


def _extra(where: str, block: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(block) - allowed)
    if extra:
        raise _invalid(f"{where}.{extra[0]}: Extra inputs are not permitted")


def _text_block(block: dict[str, Any], where: str, reading: Reading) -> None:
    _extra(f"{where}.text", block, {"type", "text", "cache_control", "citations"})
    if "text" not in block:
        raise _invalid(f"{where}.text.text: Field required")
    if not isinstance(block["text"], str):
        raise _invalid(f"{where}.text.text: Input should be a valid string")
    if not block["text"]:
        raise _invalid("messages: text content blocks must be non-empty")
    reading.texts.append(block["text"])


def _image_block(block: dict[str, Any], where: str, reading: Reading) -> None:
    _extra(f"{where}.image", block, {"type", "source", "cache_control"})
    source = block.get("source")
    if source is None:
        raise _invalid(f"{where}.image.source: Field required")
    if not isinstance(source, dict):
        raise _invalid(f"{where}.image.source: Input should be a valid dictionary or object")
    kind = source.get("type")
    if kind == "url":
        _extra(f"{where}.image.source.url", source, {"type", "url"})
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise _invalid(f"{where}.image.source.url.url: Input should be a valid URL")
        reading.images += 1
        return
    if kind != "base64":
        raise _invalid(
            f"{where}.image.source: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            "'base64', 'url', 'file'"
        )
    _extra(f"{where}.image.source.base64", source, {"type", "media_type", "data"})
    media_type = source.get("media_type")
    if media_type is None:
        raise _invalid(f"{where}.image.source.base64.media_type: Field required")
    if media_type not in IMAGE_FORMATS:
        raise _invalid(f"{where}.image.source.base64.media_type: Input should be {MEDIA_TYPES}")
    data = source.get("data")
    if data is None:
        raise _invalid(f"{where}.image.source.base64.data: Field required")
    if isinstance(data, str) and len(data) > MAX_IMAGE_BYTES:
        raise _invalid(
            f"{where}.image.source.base64: image exceeds 5 MB maximum: {len(data)} bytes > {MAX_IMAGE_BYTES} bytes"
        )
    decoded = decode_base64(data) if isinstance(data, str) else None
    if decoded is None:
        raise _invalid(f"{where}.image.source.base64.data: Invalid base64 data")
    actual = sniff_image(decoded)
    if actual is None:
        raise _invalid(f"{where}.image.source.base64: The image specified was not valid ({media_type} expected)")
    if actual != media_type:
        raise _invalid(
            f"{where}.image.source.base64: The image was specified using the {media_type} media type, "
            f"but the image appears to be a {actual} image"
        )
    reading.images += 1


def _read_message(message: Any, index: int, count: int, reading: Reading) -> None:
    where = f"messages.{index}"
    if not isinstance(message, dict):
        raise _invalid(f"{where}: Input should be a valid dictionary or object")
    _extra(where, message, {"role", "content"})
    role = message.get("role")
    if role is None:
        raise _invalid(f"{where}.role: Field required")
    if role not in ("user", "assistant"):
        raise _invalid(f"{where}.role: Input should be 'user' or 'assistant'")
    if index == 0 and role != "user":
        raise _invalid('messages: first message must use the "user" role')
    if "content" not in message:
        raise _invalid(f"{where}.content: Field required")
    content = message["content"]
    final_assistant = role == "assistant" and index == count - 1
    if isinstance(content, str):
        if not content and not final_assistant:
            raise _invalid(
                f"{where}: all messages must have non-empty content except for the optional final assistant message"
            )
        reading.texts.append(content)
        return
    if not isinstance(content, list):
        raise _invalid(f"{where}.content: Input should be a valid list")
    if not content and not final_assistant:
        raise _invalid(
            f"{where}: all messages must have non-empty content except for the optional final assistant message"
        )
    for number, block in enumerate(content):
        at = f"{where}.content.{number}"
        if not isinstance(block, dict):
            raise _invalid(f"{at}: Input should be a valid dictionary or object")
        kind = block.get("type")
        if kind == "text":
            _text_block(block, at, reading)
        elif kind == "image" and role == "user":
            _image_block(block, at, reading)
        elif kind == "image":
            raise _invalid(f"{at}: image content blocks are only allowed in user messages")
        else:
            raise _invalid(
                f"{at}: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
                "'text', 'image', 'document', 'tool_use', 'tool_result'"
            )


def _read_system(system: Any, reading: Reading) -> None:
    if isinstance(system, str):
        reading.texts.append(system)
        return
    if not isinstance(system, list):
        raise _invalid("system: Input should be a valid string or a valid list")
    for number, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _invalid(f"system.{number}.type: Input should be 'text'")
        _text_block(block, f"system.{number}", reading)


def _check_tools(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool the model must call (from tool_choice), or None when it answers in text."""
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise _invalid("tools: Input should be a valid list")
        for number, tool in enumerate(tools):
            where = f"tools.{number}.custom"
            if not isinstance(tool, dict):
                raise _invalid(f"tools.{number}: Input should be a valid dictionary or object")
            _extra(where, tool, {"name", "description", "input_schema", "cache_control", "type"})
            name = tool.get("name")
            if name is None:
                raise _invalid(f"{where}.name: Field required")
            if not isinstance(name, str) or not TOOL_NAME.match(name):
                raise _invalid(f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
            if "description" in tool and not isinstance(tool["description"], str):
                raise _invalid(f"{where}.description: Input should be a valid string")
            schema = tool.get("input_schema")
            if schema is None:
                raise _invalid(f"{where}.input_schema: Field required")
            if not isinstance(schema, dict):
                raise _invalid(f"{where}.input_schema: Input should be a valid dictionary")
            if schema.get("type") != "object":
                raise _invalid(f"{where}.input_schema.type: Input should be 'object'")
            if name in names:
                raise _invalid("tools: Tool names must be unique.")
            names.append(name)
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if not isinstance(choice, dict):
        raise _invalid("tool_choice: Input should be a valid dictionary or object")
    kind = choice.get("type")
    if kind not in ("auto", "any", "tool", "none"):
        raise _invalid(
            f"tool_choice: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            "'auto', 'any', 'tool', 'none'"
        )
    allowed = {"type"} if kind == "none" else {"type", "disable_parallel_tool_use"}
    _extra(f"tool_choice.{kind}", choice, allowed | ({"name"} if kind == "tool" else set()))
    if tools is None:
        raise _invalid("tool_choice: tool_choice may only be specified while providing tools.")
    if kind == "tool":
        name = choice.get("name")
        if name is None:
            raise _invalid("tool_choice.tool.name: Field required")
        if name not in names:
            raise _invalid(f"tool_choice.tool.name: Tool '{name}' not found in provided tools")
        return next(tool for tool in tools if tool["name"] == name)
    if kind == "any" and tools:
        return tools[0]
    return None


def _number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    if name not in body:
        return
    value = body[name]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _invalid(f"{name}: Input should be a valid number")
    if value < low:
        raise _invalid(f"{name}: Input should be greater than or equal to {low}")
    if value > high:
        raise _invalid(f"{name}: Input should be less than or equal to {high}")


def _sampling_rules(body: dict[str, Any]) -> None:
    """What a thinking model refuses, in Anthropic's words: with extended thinking on (``thinking.type`` enabled), or
    on a Claude 5 model (always thinking), ``temperature`` other than 1 and ``top_k``."""
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled", "adaptive"):
            raise _invalid("thinking: Input tag found using 'type' does not match 'enabled', 'disabled', 'adaptive'")
        if thinking["type"] == "enabled" and not isinstance(thinking.get("budget_tokens"), int):
            raise _invalid("thinking.enabled.budget_tokens: Field required")
    always = ALWAYS_THINKING.match(str(body["model"])) is not None
    thinks = always or (isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"))
    if not thinks:
        return
    if "temperature" in body and body["temperature"] != 1:
        if always:
            raise _invalid(
                f"temperature: is not supported for model '{body['model']}': its sampling parameters cannot be "
                "changed; omit temperature"
            )
        raise _invalid(f"`temperature` may only be set to 1 when thinking is enabled. Please consult {THINKING_DOCS}")
    if "top_k" in body:
        raise _invalid(f"`top_k` cannot be set when thinking is enabled. Please consult {THINKING_DOCS}")


def _validate(body: Any, script: VisionScript) -> tuple[Reading, dict[str, Any] | None]:
    """The request as the model reads it and the tool it must call, or a Rejection as Anthropic words it."""
    if not isinstance(body, dict):
        raise _invalid("Input should be a valid dictionary or object")
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise _invalid(f"{unknown[0]}: Extra inputs are not permitted")
    for required in ("model", "messages", "max_tokens"):
        if required not in body:
            raise _invalid(f"{required}: Field required")
    if not isinstance(body["model"], str):
        raise _invalid("model: Input should be a valid string")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise _invalid("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise _invalid("max_tokens: Input should be greater than or equal to 1")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _invalid("messages: Input should be a valid list")
    if not messages:
        raise _invalid("messages: at least one message is required")
    reading = Reading()
    if "system" in body:
        _read_system(body["system"], reading)
    for index, message in enumerate(messages):
        _read_message(message, index, len(messages), reading)
    _number(body, "temperature", 0, 1)
    _number(body, "top_p", 0, 1)
    _sampling_rules(body)
    if "top_k" in body and (not isinstance(body["top_k"], int) or isinstance(body["top_k"], bool)):
        raise _invalid("top_k: Input should be a valid integer")
    stops = body.get("stop_sequences", [])
    if not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops):
        raise _invalid("stop_sequences: Input should be a valid list of strings")
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict):
        raise _invalid("metadata: Input should be a valid dictionary")
    _extra("metadata", metadata, {"user_id"})
    if body.get("stream") not in (None, False):
        raise _invalid("stream: this server does not stream; send false or omit it")
    tool = _check_tools(body)
    if body["model"] not in script.models:
        raise Rejection(404, f"model: {body['model']}")
    return reading, tool


#: Where the "revised_vote" tool input goes in an answer before it is encoded (see _answer).
REVISED_INPUT = "\u0000revised votes\u0000"


def _tool_use(tool: dict[str, Any], given: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": tool["name"], "input": given}


def create_app(script: VisionScript) -> Starlette:
    """The fake; ``script`` decides what the model answers and records every request."""

    async def messages(request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        script.record(request.url.path, request.headers, body, request.url.query)
        key = request.headers.get("x-api-key")
        if key is None:
            return _error(401, "authentication_error", "x-api-key header is required")
        if key != script.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        version = request.headers.get("anthropic-version")
        if version is None:
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        if version not in VERSIONS:
            return _error(400, "invalid_request_error", f'anthropic-version: "{version}" is not a valid version')
        if body is None:
            return _error(400, "invalid_request_error", "There was an error parsing the body of your request")
        try:
            reading, tool = _validate(body, script)
        except Rejection as rejection:
            kind = "not_found_error" if rejection.status == 404 else "invalid_request_error"
            return _error(rejection.status, kind, rejection.message)
        return await _answer(body, reading, tool)

    async def _answer(body: dict[str, Any], reading: Reading, tool: dict[str, Any] | None) -> Response:
        behaviour = script.next()
        if behaviour == "rate_limit":
            return _error(
                429,
                "rate_limit_error",
                "Number of requests has exceeded your per-minute rate limit. Please try again later.",
                headers=script.retry_after_headers() | {"anthropic-ratelimit-requests-remaining": "0"},
            )
        if behaviour == "no_credit":
            return _error(
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade "
                "or purchase credits.",
            )
        if behaviour == "server_error":
            return _error(500, "api_error", "Internal server error")
        if behaviour == "overloaded":
            return _error(529, "overloaded_error", "Overloaded")
        if behaviour == "error_in_200":
            return JSONResponse({"type": "error", "error": {"type": "overloaded_error", "message": OVERLOADED_IN_200}})
        if behaviour in ("deep_error", "deep_rate_limit"):
            status, more = (500, {}) if behaviour == "deep_error" else (429, script.retry_after_headers())
            return Response(deep_error_body(), status, headers=more, media_type="application/json")
        if behaviour == "slow":
            with script.answering():
                await pause(script.slow_seconds)
        votes = model_votes(script, reading, behaviour)
        content: list[dict[str, Any]] = []
        if behaviour in ("refusal", "filtered_empty"):
            # What Anthropic sends when its safety classifiers stop a reply: no answer, stop_reason "refusal".
            produced, stop_reason = "", "refusal"
        elif behaviour == "content_filter":
            # Stopped by the classifiers after it had begun: what came before stays, stop_reason "refusal".
            produced = answer_text(example_votes(votes), "votes")
            content.append({"type": "text", "text": produced})
            stop_reason = "refusal"
        elif behaviour == "cut_off":
            produced, stop_reason = cut_off(json.dumps(votes), body["max_tokens"]), "max_tokens"
            if tool is not None:
                # The tool call's input was not finished: the block holds what could be parsed, here nothing.
                block = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": tool["name"], "input": {}}
                content.append(block)
            else:
                content.append({"type": "text", "text": produced})
        elif tool is not None and behaviour in ("text_and_call", "two_calls"):
            # Two answers that differ: the scripted votes (as text, or as a first call) and one passing every criterion.
            if behaviour == "text_and_call":
                content.append({"type": "text", "text": json.dumps(votes)})
            else:
                content.append(_tool_use(tool, votes))
            content.append(_tool_use(tool, all_passing(votes)))
            produced, stop_reason = json.dumps(votes) * 2, "tool_use"
        elif tool is not None and behaviour not in FREE_TEXT_BEHAVIOURS:
            given: Any = REVISED_INPUT if behaviour == "revised_vote" else votes
            content.append(_tool_use(tool, given))
            produced, stop_reason = json.dumps(votes), "tool_use"
        else:
            produced = answer_text(votes, behaviour, script.huge_bytes)
            if behaviour == "content_parts":
                middle = len(produced) // 2
                content += [{"type": "text", "text": produced[:middle]}, {"type": "text", "text": produced[middle:]}]
            else:
                content.append({"type": "text", "text": produced})
            stop_reason = "end_turn"
        request_id = f"req_{uuid.uuid4().hex[:24]}"
        answer = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens(reading),
                "output_tokens": output_tokens(produced),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        usage = usage_for(behaviour, answer["usage"])
        if usage is None:
            del answer["usage"]
        else:
            answer["usage"] = usage
        if behaviour == "content_number":
            answer["content"] = 42
        if behaviour == "no_answer":
            answer["content"] = []
        if behaviour == "trickle":
            return trickled(answer, script.trickle_seconds, {"request-id": request_id})
        if behaviour == "revised_vote" and tool is not None:
            # The tool call's input gives a key twice, which no JSON object built in Python can: spliced as text.
            encoded = json.dumps(answer).replace(json.dumps(REVISED_INPUT), revised_text(votes))
            return Response(encoded, media_type="application/json", headers={"request-id": request_id})
        return JSONResponse(answer, headers={"request-id": request_id})

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])
