"""fal's queue API: submit to ``{base}/{model_id}``, poll ``status_url`` until COMPLETED, read ``response_url``.

fal never reports a failed job in the status: an invalid or crashed job still goes IN_QUEUE →
IN_PROGRESS → COMPLETED, and the reason (a 422 validation error, a 500...) surfaces only when
``response_url`` is read. Image URLs are handed back undownloaded; the router fetches them through
its SSRF-guarded fetcher.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
from dataclasses import dataclass
from typing import Any

import httpx

from sentinel.providers.base import (
    FALLBACK_OUTCOMES,
    GenerationRequest,
    Outcome,
    ProviderImage,
    ProviderResult,
    classify_http,
    error_message,
    failure,
    transport_failure,
)

#: "namespace/app" with optional subpaths, e.g. "fal-ai/flux/dev"; no empty, "." or ".." segments.
MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)+$")
#: Status after which ``response_url`` holds the answer (success or failure alike).
COMPLETED = "COMPLETED"
#: Not documented for the queue but seen in third-party schemas; the response URL carries the reason either way.
FINISHED_STATUSES = frozenset({COMPLETED, "FAILED", "CANCELED", "CANCELLED"})
#: Error types fal puts in a 422 ``detail`` item when a safety check refuses the prompt or an input.
CONTENT_POLICY_TYPES = ("content_policy_violation", "content_policy")
#: Seconds the best-effort cancel may take after we gave up: it must not delay the fallback for long.
CANCEL_TIMEOUT = 2.0
#: Consecutive failed polls (429, 5xx, network) tolerated: a hiccup should not throw away a queued job.
MAX_POLL_FAILURES = 3


@dataclass
class _Progress:
    """What is known about the job so far; read after a timeout to cancel it and to explain."""

    status: str = "not submitted"
    cancel_url: str | None = None


def build_input(request: GenerationRequest) -> dict[str, Any]:
    """The JSON input: prompt, ``image_size`` (a preset from params, else width/height), one image, safety on."""
    params = dict(request.params)
    image_size = params.pop("image_size", None) or {"width": request.width, "height": request.height}
    inputs: dict[str, Any] = {
        "prompt": request.prompt,
        "image_size": image_size,
        "num_images": 1,
        # Always on, whatever the route says: a filtered image is reported (has_nsfw_concepts), not served.
        "enable_safety_checker": True,
    }
    if request.seed is not None:
        inputs["seed"] = request.seed
    if request.negative_prompt:
        inputs["negative_prompt"] = request.negative_prompt
    # Model-specific knobs (num_inference_steps, guidance_scale, output_format...) pass through as they are;
    # the fields above win over a param of the same name.
    for key, value in params.items():
        inputs.setdefault(key, value)
    return inputs


def _image(item: Any) -> ProviderImage | None:
    """One image entry as an image: ``{"url": ...}`` or a bare URL string; http(s), or a base64 data URI
    (what ``sync_mode`` answers), decoded here."""
    value = item.get("url") if isinstance(item, dict) else item
    if not isinstance(value, str):
        return None
    if value.startswith("data:image/") and ";base64," in value:
        try:
            return ProviderImage(data=base64.b64decode(value.split(",", 1)[1], validate=True))
        except (binascii.Error, ValueError):
            return None
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        return None
    return ProviderImage(url=value) if url.scheme in ("http", "https") and url.host else None


def parse_result(body: Any) -> ProviderResult:
    """The outcome of a 2xx result: images minus those the safety checker flagged."""
    if not isinstance(body, dict):
        return failure(Outcome.UNAVAILABLE, "fal answered a result that is not a JSON object", 200)
    if body.get("error"):
        return failure(Outcome.UNAVAILABLE, f"fal job failed: {str(body['error'])[:300]}", 200)
    # ``images`` is the documented list; single-image models answer ``image`` (one object).
    items = body.get("images")
    if items is None and body.get("image") is not None:
        items = [body["image"]]
    if not isinstance(items, list) or not items:
        # Never ok: there is no image. A 200 without an image counts as a refusal (see Outcome).
        return failure(Outcome.CONTENT_FILTERED, "fal answered without any image (likely filtered)", 200)
    flags = body.get("has_nsfw_concepts")
    flags = flags if isinstance(flags, list) else []
    images: list[ProviderImage] = []
    flagged = 0
    for index, item in enumerate(items):
        if index < len(flags) and flags[index] is True:
            flagged += 1  # fal serves a black image in its place
            continue
        image = _image(item)
        if image is not None:
            images.append(image)
    if images:
        return ProviderResult(Outcome.OK, images, status_code=200)
    if flagged:
        return failure(Outcome.CONTENT_FILTERED, "fal's safety checker flagged the image as NSFW", 200)
    return failure(Outcome.UNAVAILABLE, f"fal's result holds no image URL: {str(items)[:200]}", 200)


def fal_message(response: httpx.Response) -> str:
    """fal's error text; its 422 ``detail`` is a FastAPI list of ``{loc, msg, type}``, made readable here."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list) and detail and all(isinstance(item, dict) for item in detail):
        parts = []
        for item in detail[:5]:
            loc = ".".join(str(part) for part in item.get("loc", []) if part != "body")
            parts.append(f"{loc or 'input'}: {item.get('msg', item.get('type', 'invalid'))}")
        return "; ".join(parts)
    return error_message(response)


def _is_content_policy(response: httpx.Response) -> bool:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    items = detail if isinstance(detail, list) else [detail]
    return any(isinstance(item, dict) and str(item.get("type", "")) in CONTENT_POLICY_TYPES for item in items)


class FalProvider:
    """Adapter for fal's queue: ``POST {base}/{model_id}``, then the status and response URLs it answers."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        client: httpx.AsyncClient,
        *,
        timeout: float = 60.0,
        poll_interval: float = 1.0,
        name: str = "fal",
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.client = client
        self.timeout = timeout
        self.poll_interval = poll_interval

    def _headers(self) -> dict[str, str]:
        # Public fal apps also answer without a key, so a missing one is not refused here.
        return {"Authorization": f"Key {self.api_key}"} if self.api_key else {}

    async def generate(self, request: GenerationRequest) -> ProviderResult:
        if not MODEL_ID.match(request.model):
            return failure(Outcome.INVALID_REQUEST, f"fal model id {request.model!r} is not like 'fal-ai/flux/dev'")
        if request.image is not None or request.mask is not None:
            # Generating from the prompt alone would silently ignore the source image.
            return failure(Outcome.INVALID_REQUEST, "the fal adapter does not support image edits")
        progress = _Progress()
        try:
            async with asyncio.timeout(self.timeout):
                result = await self._run(request, progress)
        except TimeoutError:
            result = failure(
                Outcome.TIMEOUT, f"fal job did not finish within {self.timeout:g} s (last status: {progress.status})"
            )
        if not result.ok and progress.cancel_url and progress.status not in FINISHED_STATUSES:
            await self._cancel(progress.cancel_url)
        return result

    async def _run(self, request: GenerationRequest, progress: _Progress) -> ProviderResult:
        url = f"{self.base_url}/{request.model}"
        try:
            response = await self.client.post(
                url, json=build_input(request), headers=self._headers(), timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            return transport_failure(exc, self.name)
        failed = self._classify(response)
        if failed is not None:
            return failed
        try:
            queued = response.json()
        except ValueError:
            queued = None
        if not isinstance(queued, dict):
            return failure(Outcome.UNAVAILABLE, "fal answered the submission with something that is not JSON")
        progress.status = str(queued.get("status") or "IN_QUEUE")
        # An unusable cancel URL only costs the best-effort cancel; the other two end the call.
        progress.cancel_url, _ = self._api_url(queued.get("cancel_url"), "cancel")
        status_url, problem = self._api_url(queued.get("status_url"), "status")
        if status_url is None:
            return failure(Outcome.UNAVAILABLE, problem or "")
        response_url, problem = self._api_url(queued.get("response_url"), "response")
        if response_url is None:
            return failure(Outcome.UNAVAILABLE, problem or "")
        polled = await self._poll(status_url, progress)
        if polled is not None:
            return polled
        answer = await self._get(response_url)
        if isinstance(answer, ProviderResult):
            return answer
        try:
            return parse_result(answer.json())
        except ValueError:
            return failure(Outcome.UNAVAILABLE, "fal answered a result that is not JSON", answer.status_code)

    async def _poll(self, status_url: str, progress: _Progress) -> ProviderResult | None:
        """GET the status every ``poll_interval`` seconds until the job finished (None) or polling failed."""
        failures = 0
        wait = self.poll_interval
        while True:
            await asyncio.sleep(wait)
            wait = self.poll_interval
            answer = await self._get(status_url)
            if isinstance(answer, ProviderResult):
                failures += 1
                if answer.outcome in FALLBACK_OUTCOMES and failures < MAX_POLL_FAILURES:
                    wait = max(wait, answer.retry_after or 0.0)
                    continue
                if answer.outcome in FALLBACK_OUTCOMES or answer.outcome is Outcome.AUTH:
                    return answer
                # Our request cannot be malformed here (a GET of the URL fal gave us): the job is gone.
                return failure(Outcome.UNAVAILABLE, f"fal job status could not be read: {answer.message}")
            try:
                status = answer.json().get("status")
            except (ValueError, AttributeError):
                status = None
            if not isinstance(status, str):
                return failure(Outcome.UNAVAILABLE, "fal answered a status without a status", answer.status_code)
            failures = 0
            progress.status = status
            # IN_QUEUE, IN_PROGRESS and anything new keep polling: fal's dispatcher re-queues failed runners itself.
            if status in FINISHED_STATUSES:
                return None

    async def _get(self, url: str) -> httpx.Response | ProviderResult:
        """A 2xx answer, or the typed failure of the GET."""
        try:
            response = await self.client.get(url, headers=self._headers(), timeout=self.timeout)
        except httpx.HTTPError as exc:
            return transport_failure(exc, self.name)
        return self._classify(response) or response

    def _classify(self, response: httpx.Response) -> ProviderResult | None:
        """``classify_http`` with fal's readable 422 detail, and its content-policy 422 as a refusal."""
        failed = classify_http(response, fal_message(response))
        if failed is not None and response.status_code == 422 and _is_content_policy(response):
            return failure(Outcome.CONTENT_FILTERED, f"fal refused the content: {failed.message}", 422)
        return failed

    def _api_url(self, value: Any, what: str) -> tuple[str | None, str | None]:
        """A URL we send the key to: absolute http(s), and on the configured queue's own host."""
        try:
            url = httpx.URL(value) if isinstance(value, str) else None
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            return None, f"fal returned a {what} URL that is not an absolute http(s) URL: {str(value)[:200]!r}"
        base = httpx.URL(self.base_url)
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            # The key goes with every poll; never hand it to a host we were not configured for.
            return None, f"fal returned a {what} URL on another host than {self.base_url}: {str(value)[:200]!r}"
        return str(url), None

    async def _cancel(self, cancel_url: str) -> None:
        """Take a job we no longer wait for off the queue; best-effort, its failures do not matter."""
        with contextlib.suppress(httpx.HTTPError, TimeoutError):
            async with asyncio.timeout(CANCEL_TIMEOUT):
                await self.client.put(cancel_url, headers=self._headers(), timeout=CANCEL_TIMEOUT)
