"""The two wire APIs a vision judge speaks: OpenAI chat completions (with `image_url` parts) and Anthropic's
Messages API (with image blocks). Each builds a request from the same prompt and reads a reply back."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Protocol

from sentinel.evaluation.vision.options import VisionOptions

#: The tool Anthropic judges are made to call, so the votes arrive as structured input.
VOTE_TOOL = "record_votes"
REPAIR_REQUEST = (
    "Your previous reply could not be used: {problem}. Reply again with only the JSON object described above: "
    "every criterion id exactly once, no other ids, no prose."
)


@dataclass(frozen=True)
class ImagePart:
    label: str
    mime: str
    data: bytes | None = None
    url: str | None = None

    def data_url(self) -> str:
        assert self.data is not None
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class Reply:
    #: The reply's text, or the structured votes when the endpoint returned them as data (a tool call).
    content: str | dict[str, Any]
    input_tokens: int
    output_tokens: int
    #: Set when the model declined to answer; the judge abstains with it.
    refusal: str | None = None


def votes_schema(asked: list[str]) -> dict[str, Any]:
    """JSON Schema of a reply: one entry per criterion, ids limited to those asked."""
    return {
        "type": "object",
        "properties": {
            "criteria": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "enum": asked},
                        "passed": {"type": "boolean"},
                        "reasoning": {"type": "string"},
                    },
                    "required": ["id", "passed", "reasoning"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["criteria"],
        "additionalProperties": False,
    }


class WireApi(Protocol):
    path: str

    def headers(self, api_key: str | None) -> dict[str, str]: ...

    def body(self, system: str, images: list[ImagePart], asked: list[str]) -> dict[str, Any]: ...

    def repair(self, body: dict[str, Any], reply: Reply, problem: str) -> dict[str, Any]: ...

    def read(self, answer: Any) -> Reply: ...


class OpenAIChat:
    path = "/chat/completions"

    def __init__(self, options: VisionOptions) -> None:
        self.options = options

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def body(self, system: str, images: list[ImagePart], asked: list[str]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for index, image in enumerate(images, start=1):
            content.append({"type": "text", "text": f"Image {index}: {image.label}"})
            image_url: dict[str, Any] = {"url": image.url or image.data_url()}
            if self.options.image_detail:
                image_url["detail"] = self.options.image_detail
            content.append({"type": "image_url", "image_url": image_url})
        content.append({"type": "text", "text": "Vote on every criterion now, as the JSON object described."})
        body: dict[str, Any] = {
            "model": self.options.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": content}],
            self.options.token_limit_param: self.options.max_tokens,
            "temperature": self.options.temperature,
        }
        mode = self.options.output_mode
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "criterion_votes", "schema": votes_schema(asked), "strict": True},
            }
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def repair(self, body: dict[str, Any], reply: Reply, problem: str) -> dict[str, Any]:
        said = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
        messages = [
            *body["messages"],
            {"role": "assistant", "content": said},
            {"role": "user", "content": REPAIR_REQUEST.format(problem=problem)},
        ]
        return {**body, "messages": messages}

    def read(self, answer: Any) -> Reply:
        choice = answer["choices"][0]["message"]
        usage = answer.get("usage") or {}
        return Reply(
            content=choice.get("content") or "",
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            refusal=choice.get("refusal"),
        )


class AnthropicMessages:
    path = "/messages"

    def __init__(self, options: VisionOptions) -> None:
        self.options = options

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": self.options.anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def body(self, system: str, images: list[ImagePart], asked: list[str]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for index, image in enumerate(images, start=1):
            content.append({"type": "text", "text": f"Image {index}: {image.label}"})
            source: dict[str, Any] = (
                {"type": "url", "url": image.url}
                if image.url
                else {
                    "type": "base64",
                    "media_type": image.mime,
                    "data": base64.b64encode(image.data or b"").decode("ascii"),
                }
            )
            content.append({"type": "image", "source": source})
        content.append({"type": "text", "text": "Vote on every criterion now, as the JSON object described."})
        body: dict[str, Any] = {
            "model": self.options.model,
            "max_tokens": self.options.max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": content}],
            # Anthropic's temperature runs 0..1.
            "temperature": min(self.options.temperature, 1.0),
        }
        if self.options.output_mode == "tool":
            body["tools"] = [
                {
                    "name": VOTE_TOOL,
                    "description": "Record one vote per criterion.",
                    "input_schema": votes_schema(asked),
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": VOTE_TOOL}
        return body

    def repair(self, body: dict[str, Any], reply: Reply, problem: str) -> dict[str, Any]:
        said = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
        # A repair asks for plain JSON text: a second forced tool call would need the first one's tool_result.
        repaired = {key: value for key, value in body.items() if key not in ("tools", "tool_choice")}
        repaired["messages"] = [
            *body["messages"],
            {"role": "assistant", "content": said or "(no answer)"},
            {"role": "user", "content": REPAIR_REQUEST.format(problem=problem)},
        ]
        return repaired

    def read(self, answer: Any) -> Reply:
        usage = answer.get("usage") or {}
        blocks = answer.get("content") or []
        tool_input = next((b.get("input") for b in blocks if b.get("type") == "tool_use"), None)
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        refusal = "the model refused to answer" if answer.get("stop_reason") == "refusal" else None
        return Reply(
            content=tool_input if isinstance(tool_input, dict) else text,
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            refusal=refusal,
        )


def wire_for(options: VisionOptions) -> WireApi:
    return AnthropicMessages(options) if options.api == "anthropic" else OpenAIChat(options)
