"""The OpenAI-shaped layer over the generation service: an Images API body in; an OpenAI answer, or the HTTP error
the last provider failure maps to, out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sentinel.errors import InvalidInput, SentinelError
from sentinel.evaluation.service import check_mask_fits
from sentinel.gateway.fields import honouring, output_options_of
from sentinel.gateway.schemas import ImagesEditRequest, ImagesGenerationRequest, ImagesVariationRequest
from sentinel.generation.service import (
    Generation,
    GenerationRequest,
    GenerationService,
    ImageNotRecorded,
    ImageNotStored,
)
from sentinel.http.base64_bytes import Base64Bytes
from sentinel.http.gated import Gated
from sentinel.keys.caller import Caller
from sentinel.providers.base import MAX_EDIT_IMAGES, Operation, Outcome
from sentinel.providers.router import Attempt, Disconnected, ImageSpec, Router, RouteResult
from sentinel.services import Services
from sentinel.store.images import ImageInfo, inspect_image
from sentinel.store.mask_region import check_marks_region
from sentinel.store.orientation import upright_bytes

__all__ = [
    "FAILURE_STATUS",
    "IMAGES_MISSING_HEADER",
    "NO_RETRY_HEADERS",
    "GatewayService",
    "Generation",
    "GenerationFailed",
    "ImageChange",
    "default_response_format",
    "response_format_of",
]

#: Tells the OpenAI SDKs not to retry an answer no retry can change (they retry every 5xx twice, with back-off).
NO_RETRY_HEADERS = {"x-should-retry": "false"}
#: How many of the ``n`` images asked for a 200 answer lacks (left out when it has them all).
IMAGES_MISSING_HEADER = "x-sentinel-images-missing"

#: The attempt outcome of a candidate the router passed over without calling it.
NOT_CALLED = "skipped"


class GenerationFailed(SentinelError):
    """No image could be delivered; the status and code follow the last provider failure."""

    error_type = "provider_error"


#: How a last failure becomes an HTTP answer: (status, OpenAI error type, code).
FAILURE_STATUS: dict[Outcome, tuple[int, str, str]] = {
    Outcome.RATE_LIMITED: (429, "rate_limit_error", "rate_limited"),
    Outcome.UNAVAILABLE: (503, "server_error", "providers_unavailable"),
    Outcome.TIMEOUT: (504, "server_error", "provider_timeout"),
    Outcome.CONTENT_FILTERED: (400, "invalid_request_error", "content_policy_violation"),
    Outcome.INVALID_REQUEST: (400, "invalid_request_error", "invalid_request"),
    Outcome.AUTH: (502, "server_error", "provider_auth_failed"),
    # Every candidate's provider no longer serves its model: the routing file needs an update, not the request.
    Outcome.MODEL_NOT_FOUND: (503, "server_error", "model_unavailable"),
    # The provider changed its answer's shape: its fault, and nothing the caller's prompt has to do with.
    Outcome.UNRECOGNISED_ANSWER: (502, "server_error", "provider_error"),
    # A paid image our own checks refuse to fetch (an address not allowed, too large): the operator's to allow.
    Outcome.OUTPUT_REFUSED: (502, "server_error", "provider_output_refused"),
}


@dataclass(frozen=True)
class ImageChange:
    """An edit or a variation as the endpoint read it: the form's fields and the uploaded bytes."""

    body: ImagesEditRequest | ImagesVariationRequest
    #: The image(s) to change, as uploaded (``image`` or ``image[]``): every one goes to a candidate that takes
    #: several (its ``output_fields`` take ``image``); the others are not asked when there are more than one.
    images: list[bytes]
    mask: bytes | None = None

    @property
    def operation(self) -> Operation:
        return Operation.EDIT if isinstance(self.body, ImagesEditRequest) else Operation.VARIATION


def response_format_of(body: ImagesGenerationRequest | ImagesEditRequest | ImagesVariationRequest) -> str:
    """The answer's shape: as asked, else OpenAI's default for the model asked by name. The GPT image models answer
    ``b64_json`` (they have no URLs); DALL·E models, and a request naming none (OpenAI's default is DALL·E 2),
    answer ``url``."""
    return body.response_format or default_response_format(body.model)


def default_response_format(model: str | None) -> str:
    """OpenAI's ``response_format`` default for a model asked by name (none: OpenAI's default model, DALL·E 2)."""
    return "b64_json" if (model or "").startswith("gpt-image") else "url"


def calls_made(results: list[RouteResult]) -> int:
    """Provider calls the results took: candidates passed over (cooling, unconfigured, size not offered) are none."""
    return sum(1 for result in results for attempt in result.attempts if attempt.outcome != NOT_CALLED)


def sentinel_headers(generation: Generation) -> dict[str, str]:
    """``x-sentinel-*`` of an answer, success or error: who served (for an error, who was called), and how many
    provider calls it took."""
    served = [r.image for r in generation.results if r.image is not None]
    if served:
        providers = [i.provider for i in served]
        models = [i.model for i in served]
    else:
        called = [a for r in generation.results for a in r.attempts if a.outcome != NOT_CALLED]
        providers, models = [a.provider for a in called], [a.model for a in called]
    headers = who_headers(providers, models) | {
        "x-sentinel-attempts": str(calls_made(generation.results)),
        "x-sentinel-request-id": generation.request_id,
    }
    if not generation.stored:
        headers["x-sentinel-stored"] = "false"
    missing = len(generation.results) - len(served)
    if served and missing:
        # A 200 with fewer images than ``n`` asked for: each missing one walked the whole route already (every
        # candidate, every pass), so it is not asked for again; the SDK shows only ``data``, where ``sentinel.failed``
        # says why each is missing.
        headers[IMAGES_MISSING_HEADER] = str(missing)
    return headers


def who_headers(providers: Iterable[str | None], models: Iterable[str | None]) -> dict[str, str]:
    """``x-sentinel-provider`` and ``x-sentinel-model`` naming each once, in order; left out when no provider was
    called (an empty header says nothing a missing one does not, and some clients refuse it)."""
    named = {
        "x-sentinel-provider": ", ".join(dict.fromkeys(p for p in providers if p)),
        "x-sentinel-model": ", ".join(dict.fromkeys(m for m in models if m)),
    }
    return {name: value for name, value in named.items() if value}


class GatewayService:
    def __init__(self, generation: GenerationService) -> None:
        self.generation = generation

    @property
    def services(self) -> Services:
        return self.generation.services

    @property
    def router(self) -> Router:
        return self.generation.router

    async def close(self) -> None:
        await self.generation.close()

    def prepare(self, body: ImagesGenerationRequest) -> GenerationRequest:
        """Everything checked before any provider is called: model, size, quality, and the output fields."""
        refuse_stream(body, "a generation")
        resolved, width, height = self.generation.resolve(body.model, body.task, body.size, body.quality)
        output = output_options_of(body)
        spec = ImageSpec(
            prompt=body.prompt,
            width=width,
            height=height,
            quality=self.router.quality_asked(resolved, body.quality),
            seed=body.seed,
            negative_prompt=body.negative_prompt,
            user=body.user,
            output=output,
        )
        if body.sentinel is not None and body.sentinel.models:
            # The caller's own fallback list: its models' candidates follow the route's, in the order named.
            resolved = self.router.with_fallbacks(resolved, body.sentinel.models, f"{width}x{height}")
        resolved = self.router.for_operation(resolved, Operation.GENERATE)  # an edit-only route cannot generate
        resolved = honouring(self.router, resolved, output, Operation.GENERATE)
        deadline = body.sentinel.deadline_seconds if body.sentinel is not None else None
        return GenerationRequest(
            model=resolved, spec=spec, n=body.n, request_id=f"gen_{uuid.uuid4().hex}", timeout_seconds=deadline
        )

    def check_uploads(self, change: ImageChange) -> ImageInfo:
        """The uploads, checked like every upload (size cap, a real image of an accepted type, the pixel limit) and
        the mask against the image's size; the first image's facts. Blocking (it parses headers): call it from a
        thread."""
        settings = self.services.settings
        if not change.images:
            raise InvalidInput("Missing required parameter: 'image'.", field="image")
        if change.operation is Operation.VARIATION and len(change.images) > 1:
            raise InvalidInput("a variation is made of one image: send one 'image'", field="image")
        if len(change.images) > MAX_EDIT_IMAGES:
            raise InvalidInput(
                f"{len(change.images)} images were sent; an edit takes at most {MAX_EDIT_IMAGES} (as OpenAI's GPT "
                "image models do)",
                field="image",
            )
        limits = {"max_bytes": settings.max_image_bytes, "max_pixels": settings.max_image_pixels}
        infos = [inspect_image(data, field="image", **limits) for data in change.images]
        if change.mask is not None:
            mask = inspect_image(change.mask, field="mask", **limits)
            check_mask_fits({"source": infos[0], "mask": mask})
            # A mask that marks nothing makes an edit that returns its source, paid for: refused before any call.
            check_marks_region(change.mask)
        return infos[0]

    def prepare_change(self, change: ImageChange) -> GenerationRequest:
        """An edit or a variation checked like a generation, and narrowed to the candidates that can serve it: a
        400 naming the model when none can. Without a ``size`` the result keeps the source's size. Blocking."""
        body = change.body
        refuse_stream(body, "an edit")
        source = self.check_uploads(change)
        quality = getattr(body, "quality", None)
        sized = body.size not in (None, "auto")
        resolved, width, height = self.generation.resolve(body.model, None, body.size if sized else None, quality)
        quality = self.router.quality_asked(resolved, quality)
        if not sized:
            width, height = source.width, source.height
        if body.sentinel is not None and body.sentinel.task is not None:
            error = InvalidInput(
                f"sentinel.task is not supported on image {change.operation.value}s yet: send the image to "
                "POST /v1/evaluations to judge it",
                field="sentinel.task",
            )
            error.code = "unsupported_parameter"
            raise error
        if body.sentinel is not None and body.sentinel.models:
            resolved = self.router.with_fallbacks(resolved, body.sentinel.models, f"{width}x{height}")
        resolved = self.router.for_operation(resolved, change.operation)
        output = output_options_of(body, len(change.images))
        resolved = honouring(self.router, resolved, output, change.operation)
        spec = ImageSpec(
            prompt=getattr(body, "prompt", ""),
            width=width,
            height=height,
            quality=quality,
            seed=body.seed,
            negative_prompt=getattr(body, "negative_prompt", None),
            user=body.user,
            image=upright_bytes(change.images[0]),
            mask=None if change.mask is None else upright_bytes(change.mask),
            more_images=tuple(upright_bytes(image) for image in change.images[1:]),
            output=output,
            operation=change.operation,
        )
        deadline = body.sentinel.deadline_seconds if body.sentinel is not None else None
        prefix = "edit" if change.operation is Operation.EDIT else "var"
        return GenerationRequest(
            model=resolved, spec=spec, n=body.n, request_id=f"{prefix}_{uuid.uuid4().hex}", timeout_seconds=deadline
        )

    async def change(
        self,
        change: ImageChange,
        caller: Caller | None = None,
        disconnected: Disconnected | None = None,
        answer_early: bool = False,
    ) -> Generation:
        """An edit or a variation, routed, stored and logged exactly like a generation (:meth:`generate`)."""
        prepared = await asyncio.to_thread(self.prepare_change, change)
        request = replace(prepared, disconnected=disconnected)
        generation = await self._generate(request, caller, change.body, answer_early)
        if not any(generation.image_ids) and generation.stored:
            raise self.failure(generation)
        return generation

    async def route(self, body: ImagesGenerationRequest) -> Generation:
        """Every requested image through the router, checked, neither stored nor charged (the CLI's offline run)."""
        return await self.generation.route(self.prepare(body))

    async def generate(
        self,
        body: ImagesGenerationRequest,
        caller: Caller | None = None,
        disconnected: Disconnected | None = None,
        answer_early: bool = False,
    ) -> Generation:
        """Every requested image, within the caller's spend cap, stored with the call log; raises GenerationFailed
        when none was delivered (its calls are logged all the same: they cost money). ``disconnected`` is asked
        before every provider call but an image's first: once the client has gone, no further provider is called for
        it. ``answer_early``: a ``b64_json`` answer may start before the images' rows and call log are committed
        (:meth:`response_body` then holds back the ``sentinel`` object, which ends the answer, until they are; an
        answer whose commit fails is cut short there)."""
        request = replace(self.prepare(body), disconnected=disconnected)
        generation = await self._generate(request, caller, body, answer_early)
        if not any(generation.image_ids) and generation.stored:
            raise self.failure(generation)
        return generation

    async def _generate(
        self,
        request: GenerationRequest,
        caller: Caller | None,
        body: ImagesGenerationRequest | ImagesEditRequest | ImagesVariationRequest,
        answer_early: bool = False,
    ) -> Generation:
        """The generation; when its images were delivered (and paid for) but the blob store could not keep them,
        or the database could not record them (it went away or stalled at the commit), a ``b64_json`` answer still
        carries them (the caller gets what it paid for, and a retry would pay again), marked not stored and saying
        why; a ``url`` answer has nothing to point at: 503 storage_unavailable (or database_unavailable) with
        ``x-should-retry: false`` (the OpenAI SDK's own retry would buy another image that could not be kept).
        Only a ``b64_json`` answer is answered early: its megabytes of base64 go out while the commit is made (a
        ``url`` answer is a few hundred bytes, and names an image that must be stored first); should the database
        fail that commit, the answer ends saying so (:meth:`response_body`)."""
        early = answer_early and response_format_of(body) == "b64_json"
        try:
            return await self.generation.generate(request, caller, answer_early=early)
        except (ImageNotStored, ImageNotRecorded) as exc:
            if response_format_of(body) != "b64_json":
                exc.headers = (exc.headers or {}) | sentinel_headers(exc.generation)
                raise
            exc.generation.stored = False
            exc.generation.not_stored = exc.cause.message if isinstance(exc, ImageNotStored) else exc.message
            return exc.generation

    @staticmethod
    def failure(generation: Generation) -> GenerationFailed:
        resolved, results = generation.model, generation.results
        last = generation.last_failure
        outcome = last.outcome if last else Outcome.UNAVAILABLE
        status, kind, code = FAILURE_STATUS[outcome]
        tried = attempts_said(results[0].attempts)
        headers = sentinel_headers(generation)
        if last and last.retry_after:
            headers["Retry-After"] = str(max(1, round(last.retry_after)))
        if results and all(result.unchanging or result.nothing_left for result in results):
            # A set-up the operator must change (no key here, a rejected key, a retired model, a paid image our
            # checks refuse to fetch) answers the same to every retry; so does a route whose every candidate left
            # was paid for an image it could not deliver (a retry would buy it again), as a judged request says.
            headers |= NO_RETRY_HEADERS
        # A field the provider refused is named as the caller named it (the OpenAI adapter's fields are OpenAI's).
        field = last.param if last and outcome is Outcome.INVALID_REQUEST else None
        error = GenerationFailed(
            f"no image could be generated with model '{resolved.requested}': {tried or 'no candidate'}",
            field=field,
            headers=headers,
        )
        if last and last.code and outcome is Outcome.INVALID_REQUEST:
            code = last.code
        error.status_code, error.error_type, error.code = status, kind, code
        return error

    def response_body(self, generation: Generation, response_format: str, base_url: str) -> dict[str, Any]:
        data: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for index, result in enumerate(generation.results):
            image = result.image
            if image is None:
                message = result.last_failure.message if result.last_failure else "no candidate could serve it"
                outcome = result.last_failure.outcome.value if result.last_failure else "unavailable"
                failed.append({"index": index, "outcome": outcome, "message": message})
                continue
            item: dict[str, Any]
            if response_format == "b64_json":
                item = {"b64_json": Base64Bytes(image.data, image.base64)}
            else:
                item = {"url": self.services.images.url(image.info.sha256, base_url)}
            if image.revised_prompt:
                item["revised_prompt"] = image.revised_prompt
            data.append(item)
        outcome: dict[str, Any] | Gated = self._outcome(generation, failed)
        committed = generation.committed
        if committed is not None:

            async def once_committed() -> None:
                # Shielded: a request cancelled while it waits must not cancel the commit of what it paid for.
                await asyncio.shield(committed)

            # Last in the answer, so everything before it (the images' base64) goes out while the commit is made.
            outcome = Gated(outcome, once_committed, not_recorded)
        return {"created": generation.created, "data": data, "sentinel": outcome}

    @staticmethod
    def _outcome(generation: Generation, failed: list[dict[str, Any]]) -> dict[str, Any]:
        """The answer's ``sentinel`` object: the request's id, the images' ids, whether they were stored, the
        attempts and the images that failed."""
        return {
            "id": generation.request_id,
            "model": generation.model.model,
            "requested_model": generation.model.requested,
            "failed": failed,
            **({} if generation.stored else {"stored": False, "not_stored": generation.not_stored}),
            "attempts": generation.attempts,
            "images": [
                {
                    "id": r.image.info.sha256,
                    "mime": r.image.info.mime,
                    "provider": r.image.provider,
                    "model": r.image.model,
                }
                for r in generation.results
                if r.image is not None
            ],
        }


def not_recorded(outcome: dict[str, Any], failure: BaseException) -> list[dict[str, Any]]:
    """What ends an early answer whose commit the database could not take, in the room its ``sentinel`` object had
    (its length was sent): the images went out all the same (paid for, and a retry would pay again), so the answer
    is completed saying they were not stored and why, with as much of the outcome as fits. Nothing for any other
    failure (the answer is cut short)."""
    if not isinstance(failure, ImageNotRecorded):
        return []
    said = {"stored": False, "not_stored": failure.message}
    brief = {"id": outcome.get("id"), **said}
    full = {key: value for key, value in outcome.items() if key != "attempts"} | said
    return [full, brief, brief | {"not_stored": "the database could not record it"}, {"stored": False}]


def refuse_stream(body: ImagesGenerationRequest | ImagesEditRequest | ImagesVariationRequest, what: str) -> None:
    """``stream=true`` refused with a 400 naming ``stream`` (``unsupported_parameter``): Sentinel answers once, with
    the final images. ``stream=false`` and ``partial_images`` without it are OpenAI's no-ops, accepted."""
    if getattr(body, "stream", None):
        error = InvalidInput(
            f"stream=true is not supported: Sentinel answers {what} once, with the final images; leave out "
            "stream (and partial_images)",
            field="stream",
        )
        error.code = "unsupported_parameter"
        raise error


def attempts_said(attempts: list[Attempt]) -> str:
    """The calls of a walk as the caller's error lists them, in the order first made; the same answer again from the
    same candidate (a later pass) is said once, with how many times it came, rather than quoted again."""
    said: dict[str, int] = {}
    for attempt in attempts:
        text = f"{attempt.provider}:{attempt.model} {attempt.outcome}" + (
            f" ({attempt.message})" if attempt.message else ""
        )
        said[text] = said.get(text, 0) + 1
    return "; ".join(text if times == 1 else f"{text}, {times} times" for text, times in said.items())
