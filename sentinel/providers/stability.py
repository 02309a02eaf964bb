"""Stability AI's v2beta Stable Image API: ``/v2beta/stable-image/generate/{core|ultra|sd3}`` and the edit
endpoints ``/v2beta/stable-image/edit/{inpaint|erase|search-and-replace}``, multipart in.

Edits (as the v2beta reference describes them, read 2026-12-05 through integrators' SDKs): ``image`` and an optional
``mask`` (white = change; without one, the image's alpha), ``prompt`` (not for erase), ``search_prompt`` (what
search-and-replace looks for), ``negative_prompt``, ``grow_mask``, ``seed``, ``output_format``. The result keeps the
source's size: no ``aspect_ratio`` is sent.

Stability says plainly when it filtered something (``finish_reason`` CONTENT_FILTERED in a 200, or a 403 named
``content_moderation``), so a 200 that carries no image is a fault on its side, not a hidden refusal.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from sentinel.providers._http import billed, send
from sentinel.providers.answer_json import json_body
from sentinel.providers.base import (
    GenerationRequest,
    HttpProvider,
    Operation,
    Outcome,
    ProviderImage,
    ProviderResult,
    classify_http,
    error_message,
    failure,
    image_from_base64,
    image_from_bytes,
    nearest_aspect_ratio,
    read_not_found,
    retry_after_seconds,
    without_keys,
)
from sentinel.providers.masks import as_white_mask

#: Aspect ratios every v2beta generate endpoint accepts; width×height is mapped to the nearest one.
ASPECT_RATIOS = ("21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21")
#: The ``finish_reason`` Stability gives an image its filter blurred or withheld.
FILTERED = "CONTENT_FILTERED"
#: Error ``name`` of a prompt or image refused by moderation; it comes as a 403 that is no credentials problem.
MODERATION_ERROR = "content_moderation"
#: Error ``name``s of the v2beta API's error bodies by the outcome their status has (401, 429, 500, 503), for such a
#: body inside a 200, where only the name says what went wrong.
ERROR_NAME_OUTCOMES = {
    "unauthorized": Outcome.AUTH,
    "rate_limit_exceeded": Outcome.RATE_LIMITED,
    "internal_error": Outcome.UNAVAILABLE,
    "service_unavailable": Outcome.UNAVAILABLE,
}
#: Optional form fields a route's params may pass through unchanged (the documented extras of the endpoints).
PASSTHROUGH_PARAMS = ("style_preset", "cfg_scale")
#: OpenAI's output fields with a Stability equivalent: ``output_format`` is the same form field with the same values
#: (png, jpeg, webp on every v2beta generate endpoint). DALL·E's ``style`` has no counterpart among Stability's
#: ``style_preset`` names, and there is no transparent background or moderation level to ask for.
OPENAI_OUTPUT_FIELDS: dict[str, frozenset[str | int] | None] = {"output_format": frozenset({"png", "jpeg", "webp"})}


def endpoint_for(model: str) -> tuple[str, str | None] | None:
    """The endpoint and the ``model`` form field for a model id; None for an id Stability has no endpoint for."""
    lowered = model.lower()
    if lowered.startswith("sd3"):
        return "sd3", model
    if lowered in ("ultra", "stable-image-ultra"):
        return "ultra", None
    if lowered in ("core", "stable-image-core"):
        return "core", None
    return None


#: Edit endpoints by the model ids a route may name them with.
EDIT_ENDPOINTS = {
    "inpaint": "inpaint",
    "stable-image-inpaint": "inpaint",
    "erase": "erase",
    "stable-image-erase": "erase",
    "search-and-replace": "search-and-replace",
    "stable-image-search-and-replace": "search-and-replace",
}
#: Route params an edit passes through (``grow_mask``: how far the mask is grown, 0-100, Stability's default 5).
EDIT_PASSTHROUGH = ("grow_mask", "style_preset")
#: "replace the cup with a vase": search-and-replace's two prompts from one, when the route names no search_prompt.
REPLACE_PROMPT = re.compile(r"\breplace\s+(?:the\s+|a\s+|an\s+)?(.+?)\s+with\s+(.+)", re.I | re.S)


def _stability_message(response: httpx.Response) -> tuple[str | None, str]:
    """The error ``name`` and a readable message from ``{"id", "name", "errors": [...]}``."""
    try:
        body = json_body(response)
    except ValueError:
        return None, error_message(response)
    if not isinstance(body, dict):
        return None, error_message(response)
    name = body.get("name") if isinstance(body.get("name"), str) else None
    errors = body.get("errors")
    listed = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
    text = ": ".join(part for part in (name, listed) if part) or error_message(response)
    # Keys redacted before the cut, as error_message does: a cut through an echoed key would leave its start.
    return name, without_keys(text)[:300]


def _single_image(image: ProviderImage | ProviderResult) -> ProviderResult:
    """Stability answers exactly one image: the result carrying it, or the failure reading it came to."""
    return image if isinstance(image, ProviderResult) else ProviderResult(Outcome.OK, [image], status_code=200)


def parse_success(response: httpx.Response) -> ProviderResult:
    """A 2xx: the JSON we ask for, or raw image bytes with a ``finish-reason`` header (the Accept: image/* shape)."""
    content = response.content
    # Decided by the bytes, not Content-Type: a PNG never starts with "{", a JSON object always does.
    if content.lstrip()[:1] != b"{":
        reason = response.headers.get("finish-reason", "")
        if reason.upper() == FILTERED:
            return failure(Outcome.CONTENT_FILTERED, f"Stability filtered the image (finish-reason {reason})", 200)
        return _single_image(image_from_bytes(content))
    try:
        body: Any = json_body(response)
    except ValueError:
        return failure(Outcome.UNAVAILABLE, "provider answered 200 with a body that is neither JSON nor an image", 200)
    if not isinstance(body, dict):
        return failure(Outcome.UNAVAILABLE, "provider answered 200 with JSON that is not an object", 200)
    reason = str(body.get("finish_reason") or "")
    if not body.get("image") and not reason and isinstance(body.get("errors"), list):
        return _error_in_200(response)
    if reason.upper() == FILTERED:
        # The image that comes with it is blurred or withheld: a refusal, not a result.
        return failure(Outcome.CONTENT_FILTERED, f"Stability filtered the image (finish_reason {reason})", 200)
    encoded = body.get("image")
    if not isinstance(encoded, str) or not encoded:
        shown = reason or "none"
        return failure(Outcome.UNAVAILABLE, f"provider answered 200 without an image (finish_reason {shown})", 200)
    return _single_image(image_from_base64(encoded))


def _error_in_200(response: httpx.Response) -> ProviderResult:
    """A 200 whose body is Stability's error object (``{"id", "name", "errors"}``, as a gateway in front of the API
    may answer any failure) read as that error: its words, and the outcome its name has at its real status; a name
    Stability does not use is drift, with its words kept."""
    name, message = _stability_message(response)
    said = f"provider answered 200 with an error instead of an image: {message}"
    if name == MODERATION_ERROR:
        return failure(Outcome.CONTENT_FILTERED, f"refused by Stability's content moderation: {said}", 200)
    outcome = ERROR_NAME_OUTCOMES.get(name or "", Outcome.UNRECOGNISED_ANSWER)
    retry_after = retry_after_seconds(response) if outcome is Outcome.RATE_LIMITED else None
    return failure(outcome, said, 200, retry_after)


class StabilityProvider(HttpProvider):
    """Adapter for ``POST {base_url}/v2beta/stable-image/generate/{endpoint}`` with a Bearer key."""

    default_name = "stability"

    def _headers(self) -> dict[str, str]:
        # JSON rather than image/*: the answer then carries finish_reason and seed in one parseable body.
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    @classmethod
    def output_fields(cls, model: str) -> dict[str, frozenset[str | int] | None]:
        # One image per edit and no input_fidelity: Stability's edit endpoints take a single ``image`` part.
        return OPENAI_OUTPUT_FIELDS

    @classmethod
    def supports(cls, model: str, operation: Operation) -> bool:
        # An edit endpoint edits and a generate endpoint generates; Stability makes no variations.
        if operation is Operation.EDIT:
            return model.lower() in EDIT_ENDPOINTS
        return operation is Operation.GENERATE and model.lower() not in EDIT_ENDPOINTS

    def edit_form(self, request: GenerationRequest, endpoint: str) -> dict[str, str] | str:
        """The text fields of an edit, or why the request cannot be sent."""
        fields: dict[str, Any] = {"output_format": request.output.output_format or "png"}
        if endpoint != "erase":
            fields["prompt"] = request.prompt
            if request.negative_prompt:
                fields["negative_prompt"] = request.negative_prompt
        if endpoint == "search-and-replace":
            search = request.params.get("search_prompt")
            if not search:
                parsed = REPLACE_PROMPT.search(request.prompt)
                if parsed is None:
                    return (
                        "Stability search-and-replace needs to know what to replace: write the prompt as "
                        "'replace <what> with <what>' or set search_prompt in the route's params"
                    )
                search, fields["prompt"] = parsed.group(1).strip(), parsed.group(2).strip()
            fields["search_prompt"] = search
        if request.seed is not None:
            fields["seed"] = request.seed
        for key in EDIT_PASSTHROUGH:
            if request.params.get(key) is not None and (key != "style_preset" or endpoint == "inpaint"):
                fields[key] = request.params[key]
        return {key: str(value) for key, value in fields.items()}

    def form(self, request: GenerationRequest, model_field: str | None) -> dict[str, str]:
        fields: dict[str, Any] = {
            "prompt": request.prompt,
            "aspect_ratio": request.params.get("aspect_ratio")
            or nearest_aspect_ratio(request.width, request.height, ASPECT_RATIOS),
            "output_format": request.output.output_format or "png",
        }
        if model_field is not None:
            fields["model"] = model_field
        if request.negative_prompt:
            fields["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            fields["seed"] = request.seed
        for key in PASSTHROUGH_PARAMS:
            if request.params.get(key) is not None:
                fields[key] = request.params[key]
        return {key: str(value) for key, value in fields.items()}

    async def generate(self, request: GenerationRequest) -> ProviderResult:
        edit_endpoint = EDIT_ENDPOINTS.get(request.model.lower())
        if edit_endpoint is not None:
            return await self._edit(request, edit_endpoint)
        target = endpoint_for(request.model)
        if target is None:
            return failure(
                Outcome.INVALID_REQUEST,
                f"unknown Stability model {request.model!r}: expected stable-image-core, stable-image-ultra or sd3*",
            )
        endpoint, model_field = target
        fields = self.form(request, model_field)
        # Stability accepts only multipart/form-data, even with no file in it; (None, value) parts are plain fields.
        files = {key: (None, value) for key, value in fields.items()}
        url = f"{self.base_url}/v2beta/stable-image/generate/{endpoint}"
        return await self._post(url, files)

    async def _edit(self, request: GenerationRequest, endpoint: str) -> ProviderResult:
        if request.image is None:
            return failure(Outcome.INVALID_REQUEST, f"Stability {endpoint} edits an image: none was given")
        fields = self.edit_form(request, endpoint)
        if isinstance(fields, str):
            return failure(Outcome.INVALID_REQUEST, fields)
        files: dict[str, Any] = {key: (None, value) for key, value in fields.items()}
        files["image"] = ("image", request.image, "application/octet-stream")
        if request.mask is not None:
            files["mask"] = ("mask.png", as_white_mask(request.mask), "image/png")
        return await self._post(f"{self.base_url}/v2beta/stable-image/edit/{endpoint}", files)

    async def _post(self, url: str, files: dict[str, Any]) -> ProviderResult:
        response = await send(
            self.client.post(url, files=files, headers=self._headers(), timeout=self.timeout, extensions=billed()),
            self.name,
            billed_on_success=True,
        )
        if isinstance(response, ProviderResult):
            return response
        name, message = _stability_message(response)
        failed = classify_http(response, message)
        if failed is None:
            return parse_success(response)
        if name == MODERATION_ERROR:
            return failure(
                Outcome.CONTENT_FILTERED,
                f"refused by Stability's content moderation: HTTP {response.status_code}: {message}",
                response.status_code,
            )
        # The model's endpoint (in the URL) is gone (retired) or never existed: another candidate may serve.
        return read_not_found(failed, model_in_path=True) or failed
