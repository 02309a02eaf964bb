"""Replicate's predictions API: create a prediction, poll ``urls.get`` until it settles, hand back the output URLs.

Output files are not downloaded here: the router fetches every provider URL through its SSRF-guarded
fetcher, so this adapter only checks that a URL is an absolute http(s) one.

Edits go to Replicate's inpainting models (``black-forest-labs/flux-fill-pro``; its input schema read 2026-12-05 at
https://replicate.com/black-forest-labs/flux-fill-pro/api): ``prompt``, ``image`` and ``mask`` (white = change, the
image's size), sent as base64 data URIs (Replicate takes a data URI wherever a file input is expected), plus
``seed`` and the route's params (``steps``, ``guidance``, ``safety_tolerance``, ``output_format``...). No aspect ratio
or size: the result keeps the source's size.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import httpx

from sentinel.providers._http import image_from_output, url_on_api_host
from sentinel.providers._polling import JobClient, JobProgress
from sentinel.providers.answer_json import json_body, json_object
from sentinel.providers.base import (
    GenerationRequest,
    Operation,
    Outcome,
    PollingHttpProvider,
    ProviderImage,
    ProviderResult,
    classify_http,
    error_message,
    failure,
    model_not_found,
    nearest_aspect_ratio,
    says_model_gone,
)
from sentinel.providers.masks import data_uri, white_mask_for_edit

#: "owner/name" runs the model's latest version through the models endpoint; "owner/name:version" pins a version.
MODEL_ID = re.compile(r"^(?P<owner>[A-Za-z0-9][\w.-]*)/(?P<name>[A-Za-z0-9][\w.-]*)(?::(?P<version>[A-Za-z0-9]+))?$")
#: Statuses after which a prediction never changes again; "aborted" is a prediction whose deadline passed before
#: it started (https://replicate.com/docs/topics/predictions/lifecycle).
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})
#: The wait in words, the only place Replicate's documented 429 gives it: "Your rate limit resets in ~30s."
#: (https://replicate.com/docs/topics/predictions/rate-limits), formerly "Expected available in 1 second.".
THROTTLE_WAIT = re.compile(r"(?:resets in|available in)\s*~?\s*(\d+(?:\.\d+)?)\s*s(?:ec(?:ond)?s?)?\b", re.I)
#: Words in a failed prediction's ``error`` that mean a safety checker refused the prompt or the output.
SAFETY_WORDS = ("nsfw", "sensitive", "safety", "unsafe", "content policy", "flagged")
#: Aspect ratios (nearly) every Replicate image model accepts (flux, sd3, ideogram, imagen...); a
#: width/height pair is sent as the nearest one, since most models refuse free-form sizes.
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "21:9", "9:21", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5")
#: ``request.params`` key (consumed, not sent) asking for ``width``/``height`` inputs too; the flux models
#: only read them with ``aspect_ratio: "custom"``, which asks for them as well.
SEND_SIZE_PARAM = "send_size"
#: Words in a model's name that make it an inpainting model (flux-fill-pro, flux-fill-dev, stable-diffusion-inpainting):
#: it takes an image and a mask, and makes nothing from a prompt alone.
INPAINTING_WORDS = frozenset({"fill", "inpaint", "inpainting"})


def is_inpainting(model: str) -> bool:
    """Whether a Replicate model id ("owner/name[:version]") names an inpainting model."""
    match = MODEL_ID.match(model)
    name = match["name"].lower() if match else ""
    return not INPAINTING_WORDS.isdisjoint(name.split("-"))


def build_edit_input(request: GenerationRequest) -> dict[str, Any] | str:
    """The prediction's ``input`` for an inpainting model, or why it cannot be sent: source and white mask as data
    URIs, then the seed and the route's params."""
    if request.image is None:
        return f"replicate {request.model} edits an image: none was given"
    mask = white_mask_for_edit(request.image, request.mask)
    if mask is None:
        return f"replicate {request.model} needs a mask (or transparent pixels in the image) marking what to change"
    inputs: dict[str, Any] = {"prompt": request.prompt, "image": data_uri(request.image), "mask": data_uri(mask)}
    if request.seed is not None:
        inputs["seed"] = request.seed
    for key, value in request.params.items():
        inputs.setdefault(key, value)
    return inputs


def build_input(request: GenerationRequest) -> dict[str, Any]:
    """The prediction's ``input``: prompt, aspect ratio, optional size/seed/negative prompt, then route params."""
    params = dict(request.params)
    send_size = bool(params.pop(SEND_SIZE_PARAM, False))
    aspect_ratio = params.pop("aspect_ratio", None) or nearest_aspect_ratio(
        request.width, request.height, ASPECT_RATIOS
    )
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


#: Keys under which a model whose output is an object puts its image (or list of images), beside a seed or timings.
OUTPUT_IMAGE_KEYS = ("image", "images", "output")


def parse_output(output: Any) -> tuple[list[ProviderImage], str | None]:
    """Images from a succeeded prediction's ``output``: one URL string, a list of them, or an object holding either
    under one of ``OUTPUT_IMAGE_KEYS``; returns (images, problem)."""
    if isinstance(output, dict):
        key = next((key for key in OUTPUT_IMAGE_KEYS if output.get(key) not in (None, "", [])), None)
        if key is None:
            return [], f"replicate's output holds no image URL (keys: {', '.join(map(str, output))[:200]})"
        output = output[key]
    items = output if isinstance(output, list) else [output]
    items = [item for item in items if item not in (None, "")]
    if not items:
        return [], None
    images = [image for image in map(image_from_output, items) if image is not None]
    if not images:
        return [], f"replicate's output holds no image URL: {str(output)[:200]}"
    return images, None


class ReplicateProvider(PollingHttpProvider):
    """Adapter for ``POST /v1/models/{owner}/{name}/predictions`` (or ``/v1/predictions`` for a pinned version)."""

    default_name = "replicate"
    #: How long after its call was sent a prediction is polled again by a worker that takes the call over after a
    #: crash (:meth:`resume`): Replicate removes an API prediction's input, output and files an hour after it was
    #: made (https://replicate.com/docs/topics/predictions/data-retention); half of that leaves time to fetch the
    #: output. Older calls are bought again.
    resumable_seconds = 1800.0

    @classmethod
    def supports(cls, model: str, operation: Operation) -> bool:
        # An inpainting model edits and every other model generates; no Replicate model makes OpenAI's variations.
        if operation is Operation.EDIT:
            return is_inpainting(model)
        return operation is Operation.GENERATE and not is_inpainting(model)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    async def generate(self, request: GenerationRequest) -> ProviderResult:
        match = MODEL_ID.match(request.model)
        if match is None:
            return failure(
                Outcome.INVALID_REQUEST,
                f"replicate model id {request.model!r} is not 'owner/name' or 'owner/name:version'",
            )
        if is_inpainting(request.model):
            edit = build_edit_input(request)
            if isinstance(edit, str):
                return failure(Outcome.INVALID_REQUEST, edit)
            inputs = edit
        elif request.image is not None or request.mask is not None:
            # Generating from the prompt alone would silently ignore the source image.
            return failure(
                Outcome.INVALID_REQUEST, f"replicate {request.model} does not edit images: route edits to a fill model"
            )
        else:
            inputs = build_input(request)
        if match["version"]:
            url = f"{self.base_url}/v1/predictions"
            body: dict[str, Any] = {"version": match["version"], "input": inputs}
        else:
            url = f"{self.base_url}/v1/models/{match['owner']}/{match['name']}/predictions"
            body = {"input": inputs}
        jobs = self._jobs(request)
        progress = JobProgress("not created")
        return await jobs.run_within_deadline(self._run(jobs, url, body, progress), progress)

    async def resume(self, request: GenerationRequest, task: str) -> ProviderResult | None:
        """The answer of the prediction at ``task`` (its ``urls.get``, as :meth:`generate` had it recorded), made for
        this request by a worker that died: polled until it settles, within the request's deadline, as if this call
        had created it. None when it cannot be read (gone, its data removed, an address off the API host, an error):
        the caller then buys the image again."""
        get_url, _ = self._api_url(task, "polling")
        if get_url is None:
            return None
        jobs = self._jobs(request)
        # Created (and billed) already: given up on by the deadline, it is a paid time-out, as in generate.
        progress = JobProgress("created before its worker stopped", created=True)
        result = await jobs.run_within_deadline(self._follow(jobs, get_url, progress), progress)
        if result.ok or result.outcome is Outcome.TIMEOUT or progress.status in TERMINAL_STATUSES:
            return result
        return None

    async def _follow(self, jobs: JobClient, get_url: str, progress: JobProgress) -> ProviderResult:
        """A prediction created earlier, read at once and polled until it settles."""
        answer = await jobs.get(get_url)
        if isinstance(answer, ProviderResult):
            return answer
        read = _read_prediction(answer)
        if isinstance(read, ProviderResult):
            return read
        status, prediction = read
        if prediction.get("data_removed"):
            # Past Replicate's retention: the output is gone, whatever the status says.
            return failure(Outcome.UNAVAILABLE, "the replicate prediction's data was removed", answer.status_code)
        progress.status = status
        urls = prediction.get("urls") if isinstance(prediction.get("urls"), dict) else {}
        progress.cancel_url, _ = self._api_url(urls.get("cancel"), "cancel")
        if status in TERMINAL_STATUSES:
            return self._settle(prediction)
        settled = await jobs.poll(get_url, progress, _read_prediction)
        return settled if isinstance(settled, ProviderResult) else self._settle(settled)

    def _jobs(self, request: GenerationRequest) -> JobClient:
        return JobClient(
            self.client,
            provider=self.name,
            job_name="replicate prediction",
            headers=self._headers(),
            classify=classify,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
            finished_statuses=TERMINAL_STATUSES,
            cancel_method="POST",
            deadline=request.deadline,
        )

    async def _run(self, jobs: JobClient, url: str, body: dict[str, Any], progress: JobProgress) -> ProviderResult:
        response = await jobs.submit(url, body)
        if isinstance(response, ProviderResult):
            if _model_unknown(response):
                return model_not_found(response)
            return response
        created = _read_prediction(response)
        if isinstance(created, ProviderResult):
            return created
        progress.status, prediction = created
        urls = prediction.get("urls") if isinstance(prediction.get("urls"), dict) else {}
        get_url, problem = self._api_url(urls.get("get"), "polling")
        # Its address is kept with the call: a worker that takes the call over after a crash polls this prediction
        # (resume) rather than pay for another.
        progress.job_created(get_url)
        # An unusable cancel URL only costs the best-effort cancel; an unusable get URL ends the call below.
        progress.cancel_url, _ = self._api_url(urls.get("cancel"), "cancel")
        if progress.status in TERMINAL_STATUSES:
            return self._settle(prediction)
        if get_url is None:
            return failure(Outcome.UNAVAILABLE, problem or "", response.status_code)
        settled = await jobs.poll(get_url, progress, _read_prediction)
        return settled if isinstance(settled, ProviderResult) else self._settle(settled)

    def _settle(self, prediction: dict[str, Any]) -> ProviderResult:
        status = prediction["status"]
        error = str(prediction.get("error") or "").strip()
        if status == "failed":
            if any(word in error.lower() for word in SAFETY_WORDS):
                return failure(Outcome.CONTENT_FILTERED, f"replicate's safety checker refused: {error}")
            return failure(Outcome.UNAVAILABLE, f"replicate prediction failed: {error or 'no error given'}")
        if status == "canceled":
            return failure(Outcome.UNAVAILABLE, "replicate prediction was canceled before it finished")
        if status == "aborted":
            # Its deadline passed before it started: nothing ran, so another provider can serve the request.
            return failure(Outcome.UNAVAILABLE, "replicate prediction was aborted before it started")
        images, problem = parse_output(prediction.get("output"))
        if problem:
            # A settled prediction's output never changes: running the model again would give the same shape, and
            # another bill.
            return failure(Outcome.UNRECOGNISED_ANSWER, problem, 200)
        if not images:
            # Never ok: there is no image. Content-filtered rather than unavailable because "succeeded"
            # with nothing to show is how models whose safety checker drops outputs (sdxl-style
            # pipelines) report a refusal, and base.Outcome files "a 200 without an image" there;
            # a genuine model bug looks the same from here, and then the caller sees no fallback.
            return failure(
                Outcome.CONTENT_FILTERED, "replicate prediction succeeded without any output (likely filtered)"
            )
        return ProviderResult(Outcome.OK, images, status_code=200)

    def _api_url(self, value: Any, what: str) -> tuple[str | None, str | None]:
        """A prediction URL we send the token to: see ``url_on_api_host``."""
        return url_on_api_host(value, base_url=self.base_url, provider="replicate", what=what)


def _model_unknown(submitted: ProviderResult) -> bool:
    """Whether a failed submission says the model (or the pinned version) does not exist, or no longer does.

    Only a submission names the model: ``/v1/models/{owner}/{name}/predictions`` answers 404 for a model Replicate
    does not have, ``/v1/predictions`` answers 422 "Invalid version or not permitted" ("The specified version does
    not exist ...") for a version it does not have. A 404 while polling means the prediction is gone, not the
    model, and never reaches here."""
    if says_model_gone(submitted, model_in_path=True):
        return True
    text = submitted.message.lower()
    return submitted.status_code == 422 and "version" in text and ("does not exist" in text or "not permitted" in text)


def _body_retry_after(response: httpx.Response) -> float | None:
    """The wait a 429 body gives: a ``retry_after`` number (seconds), else the seconds its ``detail`` names."""
    body = json_object(response)
    if body is None:
        return None
    value: Any = body.get("retry_after")
    if value is None and isinstance(body.get("detail"), str):
        said = THROTTLE_WAIT.search(body["detail"])
        value = float(said[1]) if said else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(max(float(value), 0.0), 3600.0)


def classify(response: httpx.Response) -> ProviderResult | None:
    """``classify_http`` plus Replicate's own answers: 429 carries ``retry_after`` in JSON. (Its 402 "Insufficient
    credit" is an account that cannot pay, as classify_http files every 402: no wait changes it, the next candidate
    is asked and the caller is not told to retry.)"""
    failed = classify_http(response, lambda: error_message(response))
    if failed is None:
        return None
    if failed.outcome is Outcome.RATE_LIMITED and failed.retry_after is None:
        return dataclasses.replace(failed, retry_after=_body_retry_after(response))
    return failed


def _problem_in_2xx(response: httpx.Response, body: dict[str, Any]) -> ProviderResult:
    """A 2xx whose body is Replicate's error (``{"title", "detail", "status"}``, RFC 7807, as a gateway in front of
    the API may answer any failure) read as that error at the status it names (a rejected key, a quota, an outage);
    any other is drift, with the error's words kept."""
    said = f"replicate answered {response.status_code} with an error instead of a prediction"
    status = body.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status < 600:
        return failure(Outcome.UNRECOGNISED_ANSWER, f"{said}: {error_message(response)}", response.status_code)
    named = httpx.Response(status, headers=response.headers, content=response.content, request=response.request)
    failed = classify(named)
    assert failed is not None
    # A refused request or a missing model or prediction depends on which call the gateway answered: kept as drift.
    outcome = Outcome.UNRECOGNISED_ANSWER if failed.outcome is Outcome.INVALID_REQUEST else failed.outcome
    return dataclasses.replace(
        failed, outcome=outcome, status_code=response.status_code, message=f"{said}: {failed.message}"
    )


def _read_prediction(response: httpx.Response) -> tuple[str, dict[str, Any]] | ProviderResult:
    """A 2xx answer as (status, prediction), or UNAVAILABLE when it is no prediction."""
    try:
        body = json_body(response)
    except ValueError:
        return failure(
            Outcome.UNAVAILABLE,
            f"replicate answered {response.status_code} with a body that is not JSON",
            response.status_code,
        )
    if isinstance(body, dict) and not isinstance(body.get("status"), str) and ("detail" in body or "title" in body):
        return _problem_in_2xx(response, body)
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return failure(
            Outcome.UNAVAILABLE,
            f"replicate answered {response.status_code} with something that is not a prediction",
            response.status_code,
        )
    return body["status"], body
