"""Google's Generative Language API (Gemini API): Imagen via ``:predict``, Gemini image models via ``:generateContent``.

Google hides most refusals inside a 200: Imagen drops a filtered image (naming a ``raiFilteredReason`` only when
asked to), Gemini answers with a ``blockReason``, a safety ``finishReason``, nothing, or words declining and no
picture. Every such answer is ``content_filtered`` here, never ``ok``; words that decline nothing, or only draft
images, are a failed generation (``unavailable``), and an image sent other than inline is drift.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from sentinel.net.billing import ACCOUNT_CANNOT_PAY_WORDS
from sentinel.net.refusals import refusal_in
from sentinel.providers._http import billed, send
from sentinel.providers.answer_json import json_body, json_object
from sentinel.providers.base import (
    GenerationRequest,
    HttpProvider,
    Outcome,
    ProviderImage,
    ProviderResult,
    classify_http,
    error_message,
    failure,
    image_from_base64,
    nearest_aspect_ratio,
    read_not_found,
    retry_after_seconds,
)

#: Aspect ratios Imagen accepts; a request's width×height is mapped to the nearest one.
IMAGEN_ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
#: Aspect ratios Gemini image models accept in ``generationConfig.imageConfig``.
GEMINI_ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
#: Gemini ``finishReason`` values that mean the output was withheld for safety, policy or copyright.
SAFETY_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "RECITATION",
        "IMAGE_RECITATION",
        "BLOCKLIST",
        "SPII",
    }
)
#: ``finishReason`` values of a normal end: an image-less answer then is the model declining in words.
NORMAL_FINISH_REASONS = frozenset({"STOP", "FINISH_REASON_UNSPECIFIED", ""})
#: google.rpc.ErrorInfo reasons that mean the key itself is wrong (Google answers those with 400, not 401).
AUTH_ERROR_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"})
#: Imagen refuses some prompts up front with a 400 whose message names Google's Responsible AI practices.
RAI_REFUSAL_MARKERS = ("responsible ai", "sensitive words")
#: The HTTP status of each google.rpc.Code name (google/rpc/code.proto's mapping), for an error in a 200 whose
#: numeric ``code`` is missing or is not an HTTP status.
STATUS_OF_CODE_NAME = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INTERNAL": 500,
    "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
#: How much of the model's own words to quote in a refusal message.
MAX_QUOTED_TEXT = 300


def parse_imagen(body: Any) -> ProviderResult:
    """The outcome of a 200 from ``:predict``."""
    if not isinstance(body, dict):
        return failure(Outcome.UNAVAILABLE, "provider answered 200 with JSON that is not an object", 200)
    predictions = body.get("predictions")
    images: list[ProviderImage] = []
    reasons: list[str] = []
    for prediction in predictions if isinstance(predictions, list) else []:
        if not isinstance(prediction, dict):
            continue
        encoded = prediction.get("bytesBase64Encoded")
        nested = prediction.get("image")
        # Drift: newer shapes nest the bytes in an ``image`` object (as the SDK's GeneratedImage does).
        if not isinstance(encoded, str) and isinstance(nested, dict):
            encoded = nested.get("bytesBase64Encoded") or nested.get("imageBytes")
        if isinstance(encoded, str) and encoded:
            # The mime type Google states is ignored: the bytes decide.
            image = image_from_base64(encoded)
            if isinstance(image, ProviderResult):
                return image
            images.append(image)
        elif prediction.get("raiFilteredReason"):
            reasons.append(str(prediction["raiFilteredReason"]))
    if images:
        return ProviderResult(Outcome.OK, images, status_code=200)
    if reasons:
        return failure(Outcome.CONTENT_FILTERED, f"Imagen filtered the image: {'; '.join(reasons)}"[:600], 200)
    if "predictions" not in body and body:
        # Not the empty answer Imagen gives when its filters removed everything: a shape we do not know.
        return failure(
            Outcome.UNRECOGNISED_ANSWER, f"Imagen answered 200 without predictions (keys: {', '.join(body)[:200]})", 200
        )
    # Imagen drops filtered images silently unless includeRaiReason is honoured, so nothing at all is a filter.
    return failure(
        Outcome.CONTENT_FILTERED, "Imagen answered 200 without any image (it drops images its filters remove)", 200
    )


def _parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def _unread_image(part: dict[str, Any]) -> str | None:
    """How a part that is no inline image we read still carries an image (under ``fileData``, an inline image without
    its data, any object with an image ``mimeType``), in words; None for text and other parts."""
    for key, value in part.items():
        if key in ("fileData", "file_data"):
            return key
        if isinstance(value, dict):
            mime = value.get("mimeType") or value.get("mime_type")
            if isinstance(mime, str) and mime.lower().startswith("image/"):
                return f"{key} without data" if key in ("inlineData", "inline_data") else key
    return None


def parse_gemini(body: Any) -> ProviderResult:
    """The outcome of a 200 from ``:generateContent``."""
    if not isinstance(body, dict):
        return failure(Outcome.UNAVAILABLE, "provider answered 200 with JSON that is not an object", 200)
    listed = body.get("candidates")
    candidates = [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
    images: list[ProviderImage] = []
    drafts = 0
    unread: list[str] = []
    for candidate in candidates:
        for part in _parts(candidate):
            # Thinking models emit interim draft images marked ``thought``; only the final image counts.
            if part.get("thought"):
                drafts += 1 if part.get("inlineData") or part.get("inline_data") or _unread_image(part) else 0
                continue
            # Drift: REST answers camelCase ``inlineData``, some gateways pass the proto's snake_case through.
            inline = part.get("inlineData") or part.get("inline_data")
            if not isinstance(inline, dict) or not isinstance(inline.get("data"), str) or not inline["data"]:
                key = _unread_image(part)
                if key is not None:
                    unread.append(key)
                continue
            image = image_from_base64(inline["data"])
            if isinstance(image, ProviderResult):
                return image
            images.append(image)
    if images:
        return ProviderResult(Outcome.OK, images, status_code=200)

    feedback = body.get("promptFeedback") if isinstance(body.get("promptFeedback"), dict) else {}
    if not candidates:
        if feedback.get("blockReason"):
            detail = f": {feedback['blockReasonMessage']}" if feedback.get("blockReasonMessage") else ""
            return failure(
                Outcome.CONTENT_FILTERED,
                f"Gemini blocked the prompt (blockReason {feedback['blockReason']}){detail}",
                200,
            )
        return failure(
            Outcome.UNRECOGNISED_ANSWER,
            f"provider answered 200 without candidates or a block reason (keys: {', '.join(body)[:200]})",
            200,
        )

    first = candidates[0]
    reason = str(first.get("finishReason") or "")
    said = " ".join(p["text"] for p in _parts(first) if isinstance(p.get("text"), str) and not p.get("thought"))
    spoken, said = said.strip(), said.strip()[:MAX_QUOTED_TEXT]
    words = f"; the model said: {said!r}" if said else ""
    if first.get("finishMessage"):
        words = f" ({first['finishMessage']}){words}"
    shown = reason or "none"
    if reason in SAFETY_FINISH_REASONS:
        return failure(Outcome.CONTENT_FILTERED, f"Gemini withheld the image (finishReason {reason}){words}", 200)
    if unread:
        # An image under a key we do not read is contract drift (the API sends generated images inline): the
        # provider's fault, never a refusal, and the same on every pass.
        keys = ", ".join(sorted(set(unread)))[:200]
        return failure(
            Outcome.UNRECOGNISED_ANSWER,
            f"Gemini answered its image in a form Sentinel does not read ({keys}), not as inline base64 "
            f"(finishReason {shown}){words}",
            200,
        )
    if reason not in NORMAL_FINISH_REASONS:
        # MAX_TOKENS, NO_IMAGE, IMAGE_OTHER, OTHER...: the provider failed rather than refused, so another may succeed.
        return failure(Outcome.UNAVAILABLE, f"Gemini stopped without an image (finishReason {reason}){words}", 200)
    if drafts:
        # It was drawing: its thinking's drafts came, the final image did not.
        return failure(
            Outcome.UNAVAILABLE,
            f"Gemini answered only {drafts} draft (thought) image{'s' if drafts > 1 else ''} and no final image "
            f"(finishReason {shown}){words}",
            200,
        )
    # All it said is read (a provider's words are bounded by its answer cap), not only what is quoted.
    refusal = refusal_in(spoken)
    if spoken and refusal is None:
        # Words that decline nothing ("Sure! Here is …") and no picture: a failed generation, which a retry or the
        # next candidate may serve, not the caller's prompt breaking a policy.
        return failure(
            Outcome.UNAVAILABLE, f"Gemini answered in words without an image (finishReason {shown}){words}", 200
        )
    # Declining in words ("I can't …"), or ending normally with nothing at all (its filters removed the picture).
    why = f" (its words read as a refusal: '{refusal}')" if refusal else ""
    return failure(
        Outcome.CONTENT_FILTERED, f"Gemini answered without an image (finishReason {shown}){why}{words}", 200
    )


def _error_details(response: httpx.Response) -> tuple[str, list[dict[str, Any]]]:
    """The ``error.status`` name and ``error.details`` of a Google error body (empty when absent)."""
    error = (json_object(response) or {}).get("error")
    if not isinstance(error, dict):
        return "", []
    details = error.get("details") if isinstance(error.get("details"), list) else []
    return str(error.get("status") or ""), [d for d in details if isinstance(d, dict)]


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """google.rpc.RetryInfo's ``retryDelay`` ("27s", "0.5s"): Google's usual way of saying when to retry."""
    for detail in details:
        delay = detail.get("retryDelay")
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo") and isinstance(delay, str):
            try:
                return min(max(float(delay.removesuffix("s")), 0.0), 3600.0)
            except ValueError:
                return None
    return None


def interpret_error(response: httpx.Response) -> ProviderResult | None:
    """A non-2xx answer as a typed failure; None for 2xx."""
    if response.is_success:
        return None
    message = error_message(response)
    failed = classify_http(response, message)
    assert failed is not None
    status, details = _error_details(response)
    code = response.status_code
    text = f"HTTP {code}{f' {status}' if status else ''}: {message}"
    reasons = {str(d.get("reason")) for d in details if d.get("reason")}
    if reasons & AUTH_ERROR_REASONS or status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return failure(Outcome.AUTH, text, code)
    if ACCOUNT_CANNOT_PAY_WORDS.search(message) or "BILLING_DISABLED" in reasons:
        return failure(Outcome.AUTH, f"{text} (the provider's account cannot pay: see its billing)", code)
    if status == "RESOURCE_EXHAUSTED" or code == 429:
        retry_after = retry_after_seconds(response)
        return failure(
            Outcome.RATE_LIMITED, text, code, retry_after if retry_after is not None else _retry_delay(details)
        )
    if code == 400 and any(marker in message.lower() for marker in RAI_REFUSAL_MARKERS):
        return failure(Outcome.CONTENT_FILTERED, text, code)
    # "models/imagen-… is not found for API version v1beta": the model was shut down or never existed.
    return read_not_found(replace(failed, message=text)) or failed


def error_in_200(response: httpx.Response, body: Any, provider: str) -> ProviderResult | None:
    """A 200 whose body is Google's error object (``{"error": {"code", "message", "status", "details"}}``, as a
    gateway in front of the API may answer any failure) instead of an answer, read as that error would be at the
    HTTP status it names; None for anything else."""
    if not isinstance(body, dict) or "candidates" in body or "predictions" in body:
        return None
    error = body.get("error")
    if not isinstance(error, dict) or not error:
        return None
    code = error.get("code")
    status = code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600 else None
    status = status or STATUS_OF_CODE_NAME.get(str(error.get("status") or ""))
    said = f"{provider} answered 200 with an error instead of an answer"
    if status is None:
        # An error of a kind the API never answers: drift, with its words kept for the operator.
        return failure(Outcome.UNRECOGNISED_ANSWER, f"{said}: {error_message(response)}", 200)
    # The same reading as the API's own answer with that status, down to its Retry-After and RetryInfo.
    named = httpx.Response(status, headers=response.headers, content=response.content, request=response.request)
    failed = interpret_error(named)
    assert failed is not None
    return replace(failed, status_code=200, message=f"{said}: {failed.message}")


class GoogleProvider(HttpProvider):
    """Adapter for ``POST {base_url}/v1beta/models/{model}:predict|:generateContent`` with an API key."""

    default_name = "google"

    def _headers(self) -> dict[str, str]:
        # The header rather than ?key=: keys in URLs end up in access logs.
        return {"x-goog-api-key": self.api_key} if self.api_key else {}

    @staticmethod
    def is_imagen(model: str) -> bool:
        return model.lower().startswith("imagen")

    def imagen_body(self, request: GenerationRequest) -> dict[str, Any]:
        parameters: dict[str, Any] = {
            "sampleCount": 1,
            "aspectRatio": request.params.get("aspect_ratio")
            or nearest_aspect_ratio(request.width, request.height, IMAGEN_ASPECT_RATIOS),
            # Without it a filtered image just vanishes; with it the prediction says why.
            "includeRaiReason": True,
        }
        if request.negative_prompt:
            parameters["negativePrompt"] = request.negative_prompt
        if request.seed is not None:
            parameters["seed"] = request.seed
        return {"instances": [{"prompt": request.prompt}], "parameters": parameters}

    def gemini_body(self, request: GenerationRequest) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": request.prompt}]
        if request.negative_prompt:
            # Gemini has no negative-prompt field; it follows an instruction in the prompt instead.
            parts.append({"text": f"Do not include: {request.negative_prompt}"})
        config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
        ratio = request.params.get("aspect_ratio")
        if ratio is None and request.width != request.height:
            # Square is the default; only ask for a shape when it is not square, keeping the common request minimal.
            ratio = nearest_aspect_ratio(request.width, request.height, GEMINI_ASPECT_RATIOS)
        if ratio is not None:
            config["imageConfig"] = {"aspectRatio": ratio}
        if request.seed is not None:
            config["seed"] = request.seed
        return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}

    async def generate(self, request: GenerationRequest) -> ProviderResult:
        # Google's own listings name models "models/<id>"; the path already has that segment.
        model = request.model.removeprefix("models/")
        imagen = self.is_imagen(model)
        action, body = (
            ("predict", self.imagen_body(request)) if imagen else ("generateContent", self.gemini_body(request))
        )
        url = f"{self.base_url}/v1beta/models/{model}:{action}"
        response = await send(
            self.client.post(url, json=body, headers=self._headers(), timeout=self.timeout, extensions=billed()),
            self.name,
            billed_on_success=True,
        )
        if isinstance(response, ProviderResult):
            return response
        failed = interpret_error(response)
        if failed is not None:
            return failed
        try:
            answer = json_body(response)
        except ValueError:
            return failure(
                Outcome.UNAVAILABLE, "provider answered 200 with a body that is not JSON", response.status_code
            )
        in_band = error_in_200(response, answer, self.name)
        if in_band is not None:
            return in_band
        return parse_imagen(answer) if imagen else parse_gemini(answer)
