"""OpenAI Images API (and any gateway that speaks it): generations and edits, ``url`` or ``b64_json`` output."""

from __future__ import annotations

import binascii
from typing import Any

import httpx
import msgspec
import pybase64

from sentinel.providers._http import json_body, send
from sentinel.providers.base import (
    GenerationRequest,
    HttpProvider,
    Outcome,
    ProviderImage,
    ProviderResult,
    classify_http,
    decode_base64,
    error_message,
    failure,
)

#: Error codes OpenAI uses when its safety system refuses a prompt or an output.
CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked", "image_generation_user_error"})
#: Where the list of images has been seen under, newest shape last; ``data`` is the documented one.
IMAGE_LIST_KEYS = ("data", "images", "output")
#: Keys an image's base64 has been seen under.
BASE64_KEYS = ("b64_json", "b64", "image_base64", "base64")


class _DocumentedImage(msgspec.Struct):
    # Raw: the base64 stays a view into the answer's bytes until it is decoded, never a str of its own.
    b64_json: msgspec.Raw = msgspec.Raw()
    revised_prompt: str | None = None


class _DocumentedAnswer(msgspec.Struct):
    data: list[_DocumentedImage]


_DOCUMENTED_ANSWER = msgspec.json.Decoder(_DocumentedAnswer)


def documented_images(content: bytes) -> list[ProviderImage] | None:
    """The images of an answer in the documented shape, ``{"data": [{"b64_json": "…"}]}``, decoded straight from
    the answer's bytes: one copy of the image (its decoded bytes) besides the answer, where parsing to a dict
    first would add a str of the whole base64 text. None for any other shape or any escape inside the base64;
    :func:`parse_images` then takes the answer as it comes."""
    try:
        answer = _DOCUMENTED_ANSWER.decode(content)
    except msgspec.DecodeError:
        return None
    images: list[ProviderImage] = []
    for item in answer.data:
        encoded = memoryview(item.b64_json)
        if len(encoded) < 2 or encoded[0] != ord('"') or encoded[-1] != ord('"'):
            return None
        try:
            data = pybase64.b64decode(encoded[1:-1], validate=True)
        except (binascii.Error, ValueError):
            return None
        images.append(ProviderImage(data=data, revised_prompt=item.revised_prompt))
    return images or None


def parse_images(body: Any) -> tuple[list[ProviderImage], str | None]:
    """Images from a 200 answer, tolerating fields that moved; returns (images, problem)."""
    if not isinstance(body, dict):
        return [], "the answer is not a JSON object"
    items: Any = None
    for key in IMAGE_LIST_KEYS:
        if isinstance(body.get(key), list):
            items = body[key]
            break
    if items is None and isinstance(body.get("result"), dict):
        return parse_images(body["result"])
    if not items:
        return [], None
    images: list[ProviderImage] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        revised = item.get("revised_prompt") if isinstance(item.get("revised_prompt"), str) else None
        encoded = next((item[k] for k in BASE64_KEYS if isinstance(item.get(k), str)), None)
        if encoded is not None:
            data = decode_base64(encoded)
            if data is None:
                return [], "the provider returned base64 that does not decode"
            images.append(ProviderImage(data=data, revised_prompt=revised))
        elif isinstance(item.get("url"), str):
            images.append(ProviderImage(url=item["url"], revised_prompt=revised))
    return images, None


class OpenAIProvider(HttpProvider):
    """Adapter for ``POST /images/generations`` and ``POST /images/edits`` under ``base_url`` (…/v1)."""

    default_name = "openai"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "n": 1,
            "size": request.params.get("size", f"{request.width}x{request.height}"),
        }
        if "quality" in request.params:
            body["quality"] = request.params["quality"]
        # gpt-image models always answer base64 and refuse the parameter; DALL·E models are asked for it.
        if not request.model.startswith("gpt-image"):
            body["response_format"] = request.params.get("response_format", "b64_json")
        if request.user:
            body["user"] = request.user
        return body

    async def generate(self, request: GenerationRequest) -> ProviderResult:
        body = self._body(request)
        if request.image is not None:
            files: dict[str, Any] = {"image": ("image.png", request.image, "image/png")}
            if request.mask is not None:
                files["mask"] = ("mask.png", request.mask, "image/png")
            call = self.client.post(
                f"{self.base_url}/images/edits",
                data={k: str(v) for k, v in body.items()},
                files=files,
                headers=self._headers(),
                timeout=self.timeout,
            )
        else:
            call = self.client.post(
                f"{self.base_url}/images/generations", json=body, headers=self._headers(), timeout=self.timeout
            )
        response = await send(call, self.name)
        return response if isinstance(response, ProviderResult) else self._interpret(response)

    def _interpret(self, response: httpx.Response) -> ProviderResult:
        failed = classify_http(response, lambda: error_message(response))
        if failed is not None:
            code = _error_code(response)
            if code in CONTENT_POLICY_CODES:
                return failure(
                    Outcome.CONTENT_FILTERED,
                    f"refused by the provider's safety system ({code}): {error_message(response)}",
                    response.status_code,
                )
            return failed
        images = documented_images(response.content)
        if images is None:
            try:
                body = json_body(response)
            except ValueError:
                return failure(Outcome.UNAVAILABLE, "the provider answered 200 with a body that is not JSON", 200)
            images, problem = parse_images(body)
            if problem:
                return failure(Outcome.UNAVAILABLE, problem, 200)
        if not images:
            return failure(Outcome.CONTENT_FILTERED, "the provider answered 200 without any image", 200)
        return ProviderResult(Outcome.OK, images, status_code=200)


def _error_code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return str(error.get("code")) if isinstance(error, dict) and error.get("code") else None
