"""fal's queue API: submit to ``{base}/{model_id}``, poll ``status_url`` until COMPLETED, read ``response_url``.

fal never reports a failed job in the status: an invalid or crashed job still goes IN_QUEUE →
IN_PROGRESS → COMPLETED, and the reason (a 422 validation error, a 500...) surfaces only when
``response_url`` is read. Image URLs are handed back undownloaded; the router fetches them through
its SSRF-guarded fetcher.

Edits go to fal's inpainting endpoints (``fal-ai/flux-pro/v1/fill``; read 2026-12-05 at
https://fal.ai/models/fal-ai/flux-pro/v1/fill/llms.txt): ``prompt``, ``image_url`` and ``mask_url`` (white = change),
sent here as base64 data URIs so nothing has to be uploaded first, plus ``num_images``, ``seed`` and the route's
params (``safety_tolerance``, ``output_format``...). No ``image_size``: the result keeps the source's size.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from sentinel.providers._http import image_from_output, url_on_api_host
from sentinel.providers._polling import JobClient, JobProgress
from sentinel.providers.answer_json import json_body, json_object
from sentinel.providers.base import (
    TRANSIENT_OUTCOMES,
    GenerationRequest,
    Operation,
    Outcome,
    PollingHttpProvider,
    ProviderImage,
    ProviderResult,
    classify_http,
    decode_base64,
    error_message,
    failure,
    read_not_found,
    undelivered,
    without_keys,
)
from sentinel.providers.masks import data_uri, white_mask_for_edit

#: "namespace/app" with optional subpaths, e.g. "fal-ai/flux/dev"; no empty, "." or ".." segments.
MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)+$")
#: Status after which ``response_url`` holds the answer (success or failure alike).
COMPLETED = "COMPLETED"
#: Not documented for the queue but seen in third-party schemas; the response URL carries the reason either way.
#: Every other status (IN_QUEUE, IN_PROGRESS, anything new) keeps polling: fal's dispatcher re-queues failed runners.
FINISHED_STATUSES = frozenset({COMPLETED, "FAILED", "CANCELED", "CANCELLED"})
#: Statuses fal answers a submission with when it has no such app ("Application 'x' not found"), or no longer has.
#: Error types fal puts in a 422 ``detail`` item when a safety check refuses the prompt or an input.
CONTENT_POLICY_TYPES = ("content_policy_violation", "content_policy")
#: Last path segments of fal's inpainting endpoints ("fal-ai/flux-pro/v1/fill", "fal-ai/flux-lora/inpainting"):
#: they take an image and a mask, and make nothing from a prompt alone.
INPAINTING_SEGMENTS = frozenset({"fill", "inpaint", "inpainting"})


def is_inpainting(model: str) -> bool:
    """Whether a fal endpoint id names an inpainting endpoint."""
    return model.rstrip("/").rsplit("/", 1)[-1].lower() in INPAINTING_SEGMENTS


def build_edit_input(request: GenerationRequest) -> dict[str, Any] | str:
    """The JSON input of an inpainting job, or why it cannot be sent: the source and its white mask as data URIs."""
    if request.image is None:
        return f"fal {request.model} edits an image: none was given"
    mask = white_mask_for_edit(request.image, request.mask)
    if mask is None:
        return f"fal {request.model} needs a mask (or transparent pixels in the image) marking what to change"
    inputs: dict[str, Any] = {
        "prompt": request.prompt,
        "image_url": data_uri(request.image),
        "mask_url": data_uri(mask),
        "num_images": 1,
    }
    if request.seed is not None:
        inputs["seed"] = request.seed
    # The fill endpoint's own knobs (safety_tolerance, output_format, enhance_prompt) pass through as they are;
    # the fields above win over a param of the same name.
    for key, value in request.params.items():
        inputs.setdefault(key, value)
    return inputs


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
    (what ``sync_mode`` answers); or, with no URL, the bytes in the ``file_data`` of fal's File object."""
    if not isinstance(item, dict):
        return image_from_output(item)
    image = image_from_output(item.get("url"))
    if image is None and isinstance(item.get("file_data"), str):
        data = decode_base64(item["file_data"])
        image = ProviderImage(data=data) if data else None
    return image


def parse_result(body: Any) -> ProviderResult:
    """The outcome of a 2xx result: images minus those the safety checker flagged."""
    if not isinstance(body, dict):
        return failure(Outcome.UNAVAILABLE, "fal answered a result that is not a JSON object", 200)
    if body.get("error"):
        error = body["error"]
        said = error.get("message") or error if isinstance(error, dict) else error
        # Keys redacted before the cut, as error_message does: a cut through an echoed key would leave its start.
        return failure(Outcome.UNAVAILABLE, f"fal job failed: {without_keys(str(said))[:300]}", 200)
    # ``images`` is the documented list; single-image models answer ``image`` (one object).
    items = body.get("images")
    if items is None and body.get("image") is not None:
        items = [body["image"]]
    if items is None and body.get("detail"):
        # fal's error body (what its 422 carries), answered as a result by a gateway in front of fal: its words, and
        # a refusal when a safety check made it.
        words = f"fal answered a result that is an error: {_readable_detail(body['detail'])}"
        if _names_content_policy(body["detail"]):
            return failure(Outcome.CONTENT_FILTERED, f"fal refused the content: {words}", 200)
        return failure(Outcome.UNRECOGNISED_ANSWER, words, 200)
    if not isinstance(items, list):
        # No image list where fal's contract has one: the answer changed shape, the prompt was not refused.
        return failure(
            Outcome.UNRECOGNISED_ANSWER, f"fal answered a result without images (keys: {', '.join(body)[:200]})", 200
        )
    if not items:
        # Never ok: there is no image. An empty image list counts as a refusal (see Outcome).
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
    # The same result on every pass: the provider's fault, not a hiccup worth another (billed) job. Its keys, not
    # its values, are quoted: those may be megabytes of base64.
    return failure(Outcome.UNRECOGNISED_ANSWER, f"fal's result holds no image (entries: {_entry_shapes(items)})", 200)


def _entry_shapes(items: list[Any]) -> str:
    """What each image entry is, by its keys (or its type), never its values."""
    shapes = [f"{{{', '.join(map(str, item))}}}" if isinstance(item, dict) else type(item).__name__ for item in items]
    return "; ".join(shapes[:5])[:200]


def fal_message(response: httpx.Response) -> str:
    """fal's error text; its 422 ``detail`` is a FastAPI list of ``{loc, msg, type}``, made readable here."""
    detail = (json_object(response) or {}).get("detail")
    if isinstance(detail, list) and detail and all(isinstance(item, dict) for item in detail):
        return _readable_detail(detail)
    return error_message(response)


def _readable_detail(detail: Any) -> str:
    """A ``detail`` as words: each ``{loc, msg, type}`` item of a FastAPI list as "field: message", keys redacted
    and cut as every provider's words are."""
    if isinstance(detail, list) and detail and all(isinstance(item, dict) for item in detail):
        parts = []
        for item in detail[:5]:
            loc = ".".join(str(part) for part in item.get("loc", []) if part != "body")
            parts.append(f"{loc or 'input'}: {item.get('msg', item.get('type', 'invalid'))}")
        detail = "; ".join(parts)
    return without_keys(str(detail))[:300]


def _names_content_policy(detail: Any) -> bool:
    """Whether a ``detail`` (one item or a list) has an item whose type is a safety check's refusal."""
    items = detail if isinstance(detail, list) else [detail]
    return any(isinstance(item, dict) and str(item.get("type", "")) in CONTENT_POLICY_TYPES for item in items)


def _is_content_policy(response: httpx.Response) -> bool:
    return _names_content_policy((json_object(response) or {}).get("detail"))


class FalProvider(PollingHttpProvider):
    """Adapter for fal's queue: ``POST {base}/{model_id}``, then the status and response URLs it answers."""

    default_name = "fal"
    #: How long after its call was sent a queued request is read again by a worker that takes the call over after a
    #: crash (:meth:`resume`). fal documents no retention for queue results we could lean on; half an hour is far
    #: past any job's budget (``MAX_BUDGET_SECONDS``) plus a lease, and a result gone by then is bought again.
    resumable_seconds = 1800.0

    @classmethod
    def supports(cls, model: str, operation: Operation) -> bool:
        # An inpainting endpoint edits and every other endpoint generates; fal makes no variations here.
        if operation is Operation.EDIT:
            return is_inpainting(model)
        return operation is Operation.GENERATE and not is_inpainting(model)

    def _headers(self) -> dict[str, str]:
        # Public fal apps also answer without a key, so a missing one is not refused here.
        return {"Authorization": f"Key {self.api_key}"} if self.api_key else {}

    async def generate(self, request: GenerationRequest) -> ProviderResult:
        if not MODEL_ID.match(request.model):
            return failure(Outcome.INVALID_REQUEST, f"fal model id {request.model!r} is not like 'fal-ai/flux/dev'")
        if is_inpainting(request.model):
            inputs = build_edit_input(request)
            if isinstance(inputs, str):
                return failure(Outcome.INVALID_REQUEST, inputs)
        elif request.image is not None or request.mask is not None:
            # Generating from the prompt alone would silently ignore the source image.
            return failure(Outcome.INVALID_REQUEST, f"fal {request.model} does not edit images: route edits to fill")
        else:
            inputs = build_input(request)
        jobs = self._jobs(request)
        progress = JobProgress("not submitted")
        return await jobs.run_within_deadline(self._run(jobs, request.model, inputs, progress), progress)

    async def resume(self, request: GenerationRequest, task: str) -> ProviderResult | None:
        """The answer of the queued request at ``task`` (its ``response_url``, as :meth:`generate` had it recorded),
        made for this request by a worker that died: polled until it finished and its result read, within the
        request's deadline. None when its status cannot be read (gone, an address off the API host, an error): the
        caller then buys the image again."""
        response_url, _ = self._api_url(task, "response")
        if response_url is None:
            return None
        jobs = self._jobs(request)
        # Submitted (and billed) already: given up on by the deadline, it is a paid time-out, as in generate.
        progress = JobProgress("submitted before its worker stopped", created=True)
        progress.cancel_url = f"{response_url}/cancel"
        status_url = f"{response_url}/status"
        result = await jobs.run_within_deadline(self._follow(jobs, status_url, response_url, progress), progress)
        if result.ok or result.outcome is Outcome.TIMEOUT or progress.status in FINISHED_STATUSES:
            return result
        return None

    def _jobs(self, request: GenerationRequest) -> JobClient:
        return JobClient(
            self.client,
            provider=self.name,
            job_name="fal job",
            headers=self._headers(),
            classify=self._classify,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
            finished_statuses=FINISHED_STATUSES,
            cancel_method="PUT",
            deadline=request.deadline,
        )

    async def _run(self, jobs: JobClient, model: str, inputs: dict[str, Any], progress: JobProgress) -> ProviderResult:
        response = await jobs.submit(f"{self.base_url}/{model}", inputs)
        if isinstance(response, ProviderResult):
            # Only here: the submission names the app, so "not found" is about the model. A 404 on a status
            # or result URL is about the job.
            return read_not_found(response) or response
        queued = json_object(response)
        if queued is None:
            return failure(Outcome.UNAVAILABLE, "fal answered the submission with something that is not JSON")
        progress.status = str(queued.get("status") or "IN_QUEUE")
        status_url, status_problem = self._api_url(queued.get("status_url"), "status")
        response_url, response_problem = self._api_url(queued.get("response_url"), "response")
        # The request's address is kept with the call (when its status is where fal's queue puts it, beside it): a
        # worker that takes the call over after a crash reads this request (resume) rather than pay for another.
        beside = response_url is not None and status_url == f"{response_url}/status"
        progress.job_created(response_url if beside else None)
        # An unusable cancel URL only costs the best-effort cancel; the other two end the call.
        progress.cancel_url, _ = self._api_url(queued.get("cancel_url"), "cancel")
        if status_url is None:
            return failure(Outcome.UNAVAILABLE, status_problem or "")
        if response_url is None:
            return failure(Outcome.UNAVAILABLE, response_problem or "")
        return await self._follow(jobs, status_url, response_url, progress)

    async def _follow(
        self, jobs: JobClient, status_url: str, response_url: str, progress: JobProgress
    ) -> ProviderResult:
        """A queued request polled until it finished, and its result read."""
        polled = await jobs.poll(status_url, progress, _read_status)
        if polled is not None:
            return polled
        # The job finished and is billed: a passing failure to read its result is asked again, not resubmitted;
        # one that outlasts those tries is paid and undelivered, so the router does not submit (and pay for) another.
        answer = await jobs.fetch(response_url)
        if isinstance(answer, ProviderResult):
            if answer.outcome in TRANSIENT_OUTCOMES:
                return undelivered(answer, "the finished fal job's result")
            return answer
        try:
            return parse_result(json_body(answer))
        except ValueError:
            # A page of something in front of fal where the finished job's result belongs: paid, not delivered.
            unread = failure(Outcome.UNAVAILABLE, "fal answered a result that is not JSON", answer.status_code)
            return undelivered(unread, "the finished fal job's result")

    def _classify(self, response: httpx.Response) -> ProviderResult | None:
        """``classify_http`` with fal's readable 422 detail, and its content-policy 422 as a refusal."""
        failed = classify_http(response, lambda: fal_message(response))
        if failed is not None and response.status_code == 422 and _is_content_policy(response):
            return failure(Outcome.CONTENT_FILTERED, f"fal refused the content: {failed.message}", 422)
        return failed

    def _api_url(self, value: Any, what: str) -> tuple[str | None, str | None]:
        """A queue URL we send the key to: see ``url_on_api_host``."""
        return url_on_api_host(value, base_url=self.base_url, provider="fal", what=what)


def _read_status(response: httpx.Response) -> tuple[str, None] | ProviderResult:
    """A status answer's status; nothing else in it is kept, as the result waits at ``response_url``."""
    status = (json_object(response) or {}).get("status")
    if not isinstance(status, str):
        return failure(Outcome.UNAVAILABLE, "fal answered a status without a status", response.status_code)
    return status, None
