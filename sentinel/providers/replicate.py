"""Replicate's predictions API: create a prediction, poll ``urls.get`` until it settles, hand back the output URLs.

Output files are not downloaded here: the router fetches every provider URL through its SSRF-guarded
fetcher, so this adapter only checks that a URL is an absolute http(s) one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import math
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

#: "owner/name" runs the model's latest version through the models endpoint; "owner/name:version" pins a version.
MODEL_ID = re.compile(r"^(?P<owner>[A-Za-z0-9][\w.-]*)/(?P<name>[A-Za-z0-9][\w.-]*)(?::(?P<version>[A-Za-z0-9]+))?$")
#: Statuses after which a prediction never changes again.
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})
#: Words in a failed prediction's ``error`` that mean a safety checker refused the prompt or the output.
SAFETY_WORDS = ("nsfw", "sensitive", "safety", "unsafe", "content policy", "flagged")
#: Aspect ratios (nearly) every Replicate image model accepts (flux, sd3, ideogram, imagen...); a
#: width/height pair is sent as the nearest one, since most models refuse free-form sizes.
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "21:9", "9:21", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5")
#: ``request.params`` key (consumed, not sent) asking for ``width``/``height`` inputs too; the flux models
#: only read them with ``aspect_ratio: "custom"``, which asks for them as well.
SEND_SIZE_PARAM = "send_size"
#: Seconds the best-effort cancel may take after we gave up: it must not delay the fallback for long.
CANCEL_TIMEOUT = 2.0
#: Consecutive failed polls (429, 5xx, network) tolerated: a hiccup should not throw away a running prediction.
MAX_POLL_FAILURES = 3


@dataclass
class _Progress:
    """What is known about the prediction so far; read after a timeout to cancel it and to explain."""

    status: str = "not created"
    cancel_url: str | None = None


def nearest_aspect_ratio(width: int, height: int) -> str:
    """The supported aspect ratio closest to width:height (compared on a log scale, so 2:1 and 1:2 are symmetric)."""
    if width <= 0 or height <= 0:
        return "1:1"
    wanted = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = (int(part) for part in ratio.split(":"))
        return abs(math.log(w / h) - wanted)

    return min(ASPECT_RATIOS, key=distance)


def build_input(request: GenerationRequest) -> dict[str, Any]:
    """The prediction's ``input``: prompt, aspect ratio, optional size/seed/negative prompt, then route params."""
    params = dict(request.params)
    send_size = bool(params.pop(SEND_SIZE_PARAM, False))
    aspect_ratio = params.pop("aspect_ratio", None) or nearest_aspect_ratio(request.width, request.height)
    inputs: dict[str, Any] = {"prompt": request.prompt, "aspect_ratio": aspect_ratio}
    if send_size or aspect_ratio == "custom":
        inputs["width"] = request.width
        inputs["height"] = request.height
    if request.seed is not None:
        inputs["seed"] = request.seed
    if request.negative_prompt:
        inputs["negative_prompt"] = request.negative_prompt
    # Model-specific knobs (num_inference_steps, guidance, output_format...) pass through as they are;
    # the request's own fields win over a param of the same name.
    for key, value in params.items():
        inputs.setdefault(key, value)
    return inputs


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _output_image(value: Any) -> ProviderImage | None:
    """One output item as an image: an absolute http(s) URL, or a base64 ``data:image/...`` URI decoded here."""
    if not isinstance(value, str):
        return None
    if value.startswith("data:image/") and ";base64," in value:
        try:
            return ProviderImage(data=base64.b64decode(value.split(",", 1)[1], validate=True))
        except (binascii.Error, ValueError):
            return None
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        return None
    return ProviderImage(url=value) if url.scheme in ("http", "https") and url.host else None


def parse_output(output: Any) -> tuple[list[ProviderImage], str | None]:
    """Images from a succeeded prediction's ``output``: one URL string or a list of them; returns (images, problem)."""
    items = output if isinstance(output, list) else [output]
    items = [item for item in items if item not in (None, "")]
    if not items:
        return [], None
    images = [image for image in map(_output_image, items) if image is not None]
    if not images:
        return [], f"replicate's output holds no image URL: {str(output)[:200]}"
    return images, None


class ReplicateProvider:
    """Adapter for ``POST /v1/models/{owner}/{name}/predictions`` (or ``/v1/predictions`` for a pinned version)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        client: httpx.AsyncClient,
        *,
        timeout: float = 60.0,
        poll_interval: float = 1.0,
        name: str = "replicate",
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.client = client
        self.timeout = timeout
        self.poll_interval = poll_interval

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    async def generate(self, request: GenerationRequest) -> ProviderResult:
        match = MODEL_ID.match(request.model)
        if match is None:
            return failure(
                Outcome.INVALID_REQUEST,
                f"replicate model id {request.model!r} is not 'owner/name' or 'owner/name:version'",
            )
        if request.image is not None or request.mask is not None:
            # Generating from the prompt alone would silently ignore the source image.
            return failure(Outcome.INVALID_REQUEST, "the replicate adapter does not support image edits")
        inputs = build_input(request)
        if match["version"]:
            url = f"{self.base_url}/v1/predictions"
            body: dict[str, Any] = {"version": match["version"], "input": inputs}
        else:
            url = f"{self.base_url}/v1/models/{match['owner']}/{match['name']}/predictions"
            body = {"input": inputs}
        progress = _Progress()
        try:
            async with asyncio.timeout(self.timeout):
                result = await self._run(url, body, progress)
        except TimeoutError:
            result = failure(
                Outcome.TIMEOUT,
                f"replicate prediction did not finish within {self.timeout:g} s (last status: {progress.status})",
            )
        if not result.ok and progress.cancel_url and progress.status not in TERMINAL_STATUSES:
            await self._cancel(progress.cancel_url)
        return result

    async def _run(self, url: str, body: dict[str, Any], progress: _Progress) -> ProviderResult:
        try:
            response = await self.client.post(url, json=body, headers=self._headers(), timeout=self.timeout)
        except httpx.HTTPError as exc:
            return transport_failure(exc, self.name)
        failed = self._classify(response)
        if failed is not None:
            return failed
        prediction, problem = self._prediction(response)
        if prediction is None:
            return failure(Outcome.UNAVAILABLE, problem or "", response.status_code)
        progress.status = prediction["status"]
        urls = prediction.get("urls") if isinstance(prediction.get("urls"), dict) else {}
        # An unusable cancel URL only costs the best-effort cancel; an unusable get URL ends the call below.
        progress.cancel_url, _ = self._api_url(urls.get("cancel"), "cancel")
        if prediction["status"] in TERMINAL_STATUSES:
            return self._settle(prediction)
        get_url, problem = self._api_url(urls.get("get"), "polling")
        if get_url is None:
            return failure(Outcome.UNAVAILABLE, problem or "", response.status_code)
        return await self._poll(get_url, progress)

    async def _poll(self, get_url: str, progress: _Progress) -> ProviderResult:
        """GET the prediction every ``poll_interval`` seconds until it settles (the caller bounds the total time)."""
        failures = 0
        wait = self.poll_interval
        while True:
            await asyncio.sleep(wait)
            wait = self.poll_interval
            answer = await self._get(get_url)
            if isinstance(answer, ProviderResult):
                failures += 1
                if answer.outcome in FALLBACK_OUTCOMES and failures < MAX_POLL_FAILURES:
                    wait = max(wait, answer.retry_after or 0.0)
                    continue
                if answer.outcome in FALLBACK_OUTCOMES or answer.outcome is Outcome.AUTH:
                    return answer
                # Our request cannot be malformed here (a GET of the URL Replicate gave us): the prediction is gone.
                return failure(
                    Outcome.UNAVAILABLE, f"replicate prediction could not be read: {answer.message}", answer.status_code
                )
            prediction, problem = self._prediction(answer)
            if prediction is None:
                return failure(Outcome.UNAVAILABLE, problem or "", answer.status_code)
            failures = 0
            progress.status = prediction["status"]
            # Unknown statuses keep polling: a new intermediate state must not end a running prediction.
            if prediction["status"] in TERMINAL_STATUSES:
                return self._settle(prediction)

    async def _get(self, url: str) -> httpx.Response | ProviderResult:
        """A 2xx answer, or the typed failure of the GET."""
        try:
            response = await self.client.get(url, headers=self._headers(), timeout=self.timeout)
        except httpx.HTTPError as exc:
            return transport_failure(exc, self.name)
        return self._classify(response) or response

    def _settle(self, prediction: dict[str, Any]) -> ProviderResult:
        status = prediction["status"]
        error = str(prediction.get("error") or "").strip()
        if status == "failed":
            if any(word in error.lower() for word in SAFETY_WORDS):
                return failure(Outcome.CONTENT_FILTERED, f"replicate's safety checker refused: {error}")
            return failure(Outcome.UNAVAILABLE, f"replicate prediction failed: {error or 'no error given'}")
        if status == "canceled":
            return failure(Outcome.UNAVAILABLE, "replicate prediction was canceled before it finished")
        images, problem = parse_output(prediction.get("output"))
        if problem:
            return failure(Outcome.UNAVAILABLE, problem)
        if not images:
            # Never ok: there is no image. Content-filtered rather than unavailable because "succeeded"
            # with nothing to show is how models whose safety checker drops outputs (sdxl-style
            # pipelines) report a refusal, and base.Outcome files "a 200 without an image" there;
            # a genuine model bug looks the same from here, and then the caller sees no fallback.
            return failure(
                Outcome.CONTENT_FILTERED, "replicate prediction succeeded without any output (likely filtered)"
            )
        return ProviderResult(Outcome.OK, images, status_code=200)

    def _classify(self, response: httpx.Response) -> ProviderResult | None:
        """``classify_http`` plus Replicate's own answers: 402 is a quota, and 429 carries ``retry_after`` in JSON."""
        failed = classify_http(response, error_message(response))
        if failed is None:
            return None
        if response.status_code == 402:
            # "Insufficient credit": a quota answer, which another provider can serve.
            return dataclasses.replace(failed, outcome=Outcome.RATE_LIMITED)
        if failed.outcome is Outcome.RATE_LIMITED and failed.retry_after is None:
            return dataclasses.replace(failed, retry_after=_body_retry_after(response))
        return failed

    def _prediction(self, response: httpx.Response) -> tuple[dict[str, Any] | None, str | None]:
        try:
            body = response.json()
        except ValueError:
            return None, f"replicate answered {response.status_code} with a body that is not JSON"
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            return None, f"replicate answered {response.status_code} with something that is not a prediction"
        return body, None

    def _api_url(self, value: Any, what: str) -> tuple[str | None, str | None]:
        """A URL we send the token to: absolute http(s), and on the configured API's own host."""
        try:
            url = httpx.URL(value) if isinstance(value, str) else None
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            return None, f"replicate returned a {what} URL that is not an absolute http(s) URL: {str(value)[:200]!r}"
        if _origin(url) != _origin(httpx.URL(self.base_url)):
            # The token goes with every poll; never hand it to a host we were not configured for.
            return None, f"replicate returned a {what} URL on another host than {self.base_url}: {str(value)[:200]!r}"
        return str(url), None

    async def _cancel(self, cancel_url: str) -> None:
        """Stop paying for a prediction we no longer wait for; best-effort, its failures do not matter."""
        with contextlib.suppress(httpx.HTTPError, TimeoutError):
            async with asyncio.timeout(CANCEL_TIMEOUT):
                await self.client.post(cancel_url, headers=self._headers(), timeout=CANCEL_TIMEOUT)


def _body_retry_after(response: httpx.Response) -> float | None:
    """Replicate repeats the wait in its 429 body as ``retry_after`` (seconds)."""
    try:
        value = response.json().get("retry_after")
    except (ValueError, AttributeError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(max(float(value), 0.0), 3600.0)
