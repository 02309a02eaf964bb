"""Routing one image request across a model's candidates: fallback, cooldowns, output checks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from sentinel.errors import (
    BadImage,
    DecodeBusy,
    DisallowedURL,
    FetchFailed,
    ImageTooLarge,
    InvalidInput,
    NotFound,
    SentinelError,
)
from sentinel.net.fetch import fetch_url
from sentinel.providers.base import (
    FALLBACK_OUTCOMES,
    GenerationRequest,
    Outcome,
    Provider,
    ProviderImage,
    ProviderResult,
    failure,
)
from sentinel.providers.config import SIZE, Candidate, ModelRoute, RoutingConfig
from sentinel.providers.cooldown import CooldownStore
from sentinel.providers.registry import Unconfigured
from sentinel.settings import Settings
from sentinel.store.images import ImageInfo, decoded_pixels, inspect_image

#: Pause before walking a route again after transient failures (grows with each walk).
RETRY_PAUSE_SECONDS = 0.1
#: Below this many bytes per pixel (or this many bytes) an image is suspiciously compressible and gets a
#: full blank check; ordinary images never pay for a decode on the request path.
BLANK_SUSPECT_BYTES_PER_PIXEL = 0.02
BLANK_SUSPECT_BYTES = 4096


class UnknownModel(NotFound):
    error_type = "invalid_request_error"
    code = "model_not_found"


class ParkedModel(SentinelError):
    status_code = 410
    error_type = "invalid_request_error"
    code = "model_parked"


@dataclass(frozen=True)
class ImageSpec:
    """What the caller asked for, before it is mapped onto a candidate."""

    prompt: str
    width: int = 1024
    height: int = 1024
    quality: str | None = None
    seed: int | None = None
    negative_prompt: str | None = None
    user: str | None = None
    image: bytes | None = None
    mask: bytes | None = None


@dataclass(frozen=True)
class ResolvedModel:
    requested: str
    model: str
    route: ModelRoute
    alias_of: str | None = None


@dataclass
class Attempt:
    provider: str
    model: str
    outcome: str
    latency_ms: float = 0.0
    message: str = ""
    status_code: int | None = None
    bytes: int = 0
    cost: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "outcome": self.outcome,
            "latency_ms": round(self.latency_ms, 1),
            "message": self.message,
            "status_code": self.status_code,
            "bytes": self.bytes,
        }


@dataclass
class DeliveredImage:
    info: ImageInfo
    data: bytes
    provider: str
    model: str
    revised_prompt: str | None = None


@dataclass
class RouteResult:
    image: DeliveredImage | None
    attempts: list[Attempt] = field(default_factory=list)
    #: The failure that ended the walk, when no image was delivered.
    last_failure: ProviderResult | None = None


class Router:
    def __init__(
        self,
        config: RoutingConfig,
        providers: dict[str, Provider | Unconfigured],
        cooldowns: CooldownStore,
        settings: Settings,
    ) -> None:
        self.config = config
        self.providers = providers
        self.cooldowns = cooldowns
        self.settings = settings

    # -- resolving names ---------------------------------------------------------------------------

    def resolve(self, model: str | None, task: str | None = None, preferred: str | None = None) -> ResolvedModel:
        """The route for a model name; with no name, the task's preferred model, else the default.

        ``preferred`` is the task rubric's own choice; the routing file's ``task_models`` overrides it. Either
        is used only when the model is known here and one of its providers is configured.
        """
        if not model:
            choice = self.config.task_models.get(task or "") or preferred
            choice = self.config.aliases.get(choice or "", choice)
            route = self.config.models.get(choice or "")
            model = choice if route is not None and self.usable(route) else self.config.default_model
        if model in self.config.parked:
            raise ParkedModel(f"model '{model}' is parked: {self.config.parked[model]}", field="model")
        if model in self.config.aliases:
            target = self.config.aliases[model]
            return ResolvedModel(model, target, self.config.models[target], alias_of=target)
        route = self.config.models.get(model)
        if route is None:
            known = ", ".join(sorted([*self.config.models, *self.config.aliases]))
            raise UnknownModel(
                f"model '{model}' does not exist or is not allowed here; available: {known}", field="model"
            )
        return ResolvedModel(model, model, route)

    def usable(self, route: ModelRoute) -> bool:
        return any(not isinstance(self.providers.get(c.provider), Unconfigured) for c in route.candidates)

    def check_size(self, resolved: ResolvedModel, size: str) -> tuple[int, int]:
        match = SIZE.match(size)
        if not match or size not in resolved.route.sizes:
            raise InvalidInput(
                f"size '{size}' is not supported by model '{resolved.requested}'; "
                f"supported: {', '.join(resolved.route.sizes)}",
                field="size",
            )
        return int(match.group(1)), int(match.group(2))

    def check_quality(self, resolved: ResolvedModel, quality: str | None) -> None:
        if quality is not None and quality not in resolved.route.qualities:
            raise InvalidInput(
                f"quality '{quality}' is not supported by model '{resolved.requested}'; "
                f"supported: {', '.join(resolved.route.qualities)}",
                field="quality",
            )

    @staticmethod
    def most_expensive(resolved: ResolvedModel, spec: ImageSpec) -> float:
        """The most one image of this request can cost, whichever candidate ends up serving it."""
        size = f"{spec.width}x{spec.height}"
        return max(resolved.route.price(c, size, spec.quality) for c in resolved.route.candidates)

    # -- mapping -----------------------------------------------------------------------------------

    @staticmethod
    def map_request(candidate: Candidate, spec: ImageSpec) -> GenerationRequest | str:
        """The request for this candidate, or why it cannot take this request."""
        params = dict(candidate.params)
        width, height = spec.width, spec.height
        size = f"{spec.width}x{spec.height}"
        if candidate.sizes is not None:
            mapped = candidate.sizes.get(size)
            if mapped is None:
                return f"size {size} is not offered by {candidate.target}"
            if isinstance(mapped, str):
                match = SIZE.match(mapped)
                if match:
                    width, height = int(match.group(1)), int(match.group(2))
                params["size"] = mapped
            else:
                params.update(mapped)
        if spec.quality is not None and candidate.quality is not None:
            params.update(candidate.quality.get(spec.quality, {}))
        return GenerationRequest(
            prompt=spec.prompt,
            model=candidate.model,
            width=width,
            height=height,
            params=params,
            negative_prompt=spec.negative_prompt,
            seed=spec.seed,
            image=spec.image,
            mask=spec.mask,
            user=spec.user,
        )

    # -- generating --------------------------------------------------------------------------------

    async def generate(self, resolved: ResolvedModel, spec: ImageSpec, regeneration: int = 0) -> RouteResult:
        """Walk the candidates until one delivers a checked image or a failure says stop.

        When a whole walk failed only in transient ways (429, 5xx, timeouts), walk again, up to
        ``max_passes`` times, after a short pause: random provider hiccups rarely repeat.
        ``regeneration`` (0 for a first attempt) rotates the candidates where the route asks for it.
        """
        candidates = list(resolved.route.candidates)
        if resolved.route.rotate_on_regenerate and regeneration:
            shift = regeneration % len(candidates)
            candidates = candidates[shift:] + candidates[:shift]
        result = RouteResult(image=None)
        for walk in range(self.config.max_passes):
            tried = len(result.attempts)
            if await self._walk(resolved, candidates, spec, result, last_walk=walk == self.config.max_passes - 1):
                return result
            attempted = [a for a in result.attempts[tried:] if a.outcome != "skipped"]
            if not attempted:
                return result  # nothing could even be tried; another walk would change nothing
            await asyncio.sleep(RETRY_PAUSE_SECONDS * (walk + 1))
        return result

    async def _walk(
        self,
        resolved: ResolvedModel,
        candidates: list[Candidate],
        spec: ImageSpec,
        result: RouteResult,
        last_walk: bool,
    ) -> bool:
        cooling: list[tuple[float, Candidate]] = []
        tried = len(result.attempts)
        for candidate in candidates:
            remaining = await self.cooldowns.remaining(candidate.target)
            if remaining > 0:
                cooling.append((remaining, candidate))
                result.attempts.append(
                    Attempt(
                        candidate.provider, candidate.model, "skipped", message=f"cooling down for {remaining:.1f} s"
                    )
                )
                continue
            if await self._try(candidate, resolved, spec, result):
                return True
        if cooling and (last_walk or all(a.outcome == "skipped" for a in result.attempts[tried:])):
            # Rather than fail while a candidate merely cools down, probe the cooling ones, soonest to recover
            # first: when nothing else is left to try, or on the last walk.
            for _, candidate in sorted(cooling, key=lambda item: item[0]):
                if await self._try(candidate, resolved, spec, result):
                    return True
        return False

    async def _try(self, candidate: Candidate, resolved: ResolvedModel, spec: ImageSpec, result: RouteResult) -> bool:
        """One candidate; True when the walk is over (an image, or a failure that must not fall back)."""
        provider = self.providers.get(candidate.provider)
        if provider is None or isinstance(provider, Unconfigured):
            reason = provider.reason if provider else "not in the routing config"
            result.attempts.append(Attempt(candidate.provider, candidate.model, "skipped", message=reason))
            result.last_failure = result.last_failure or failure(
                Outcome.UNAVAILABLE, f"{candidate.provider} is not configured: {reason}"
            )
            return False
        request = self.map_request(candidate, spec)
        if isinstance(request, str):
            result.attempts.append(Attempt(candidate.provider, candidate.model, "skipped", message=request))
            return False
        started = time.perf_counter()
        try:
            answer = await asyncio.wait_for(provider.generate(request), timeout=self._timeout(candidate))
        except TimeoutError:
            answer = failure(
                Outcome.TIMEOUT, f"{candidate.provider} did not answer within {self._timeout(candidate):g} s"
            )
        delivered: DeliveredImage | None = None
        if answer.ok:
            checked = await self._deliver(answer.images[0], candidate)
            if isinstance(checked, DeliveredImage):
                delivered = checked
            else:
                answer = checked
        attempt = Attempt(
            candidate.provider,
            candidate.model,
            answer.outcome.value,
            (time.perf_counter() - started) * 1000,
            answer.message,
            answer.status_code,
            len(delivered.data) if delivered else 0,
            resolved.route.price(candidate, f"{spec.width}x{spec.height}", spec.quality) if delivered else 0.0,
        )
        result.attempts.append(attempt)
        await self.cooldowns.record(candidate.target, answer.outcome, answer.retry_after)
        if delivered is not None:
            result.image = delivered
            return True
        result.last_failure = answer
        if answer.outcome in FALLBACK_OUTCOMES:
            return False
        return not (answer.outcome is Outcome.CONTENT_FILTERED and resolved.route.fallback_on_content_filter)

    def _timeout(self, candidate: Candidate) -> float:
        return self.config.providers[candidate.provider].timeout_seconds

    async def _deliver(self, image: ProviderImage, candidate: Candidate) -> DeliveredImage | ProviderResult:
        """Bytes we can vouch for: downloaded through the guarded fetcher, sniffed, structurally checked, not blank."""
        settings = self.settings
        data = image.data
        if data is None and image.url:
            try:
                fetched = await fetch_url(
                    image.url,
                    max_bytes=settings.max_image_bytes,
                    timeout=settings.fetch_timeout_seconds,
                    max_redirects=settings.fetch_max_redirects,
                    allowed_networks=settings.fetch_allowed_networks,
                    field="provider output",
                )
            except (DisallowedURL, FetchFailed, ImageTooLarge) as exc:
                return failure(Outcome.UNAVAILABLE, f"could not download the provider's image: {exc.message}")
            data = fetched.content
        if not data:
            return failure(Outcome.CONTENT_FILTERED, "the provider answered without an image")
        try:
            info = inspect_image(data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
        except (BadImage, ImageTooLarge) as exc:
            return failure(Outcome.UNAVAILABLE, f"the provider returned no usable image: {exc.message}")
        suspect = max(BLANK_SUSPECT_BYTES, info.width * info.height * BLANK_SUSPECT_BYTES_PER_PIXEL)
        if info.size_bytes < suspect and await asyncio.to_thread(_is_blank, data, settings.max_image_pixels):
            return failure(Outcome.CONTENT_FILTERED, "the provider returned a blank image (a hidden content filter)")
        return DeliveredImage(info, data, candidate.provider, candidate.model, image.revised_prompt)


def _is_blank(data: bytes, max_pixels: int) -> bool:
    try:
        # A blank image is blank at any scale: a reduced preview (JPEG draft mode) within the decode budget.
        pixels = decoded_pixels.preview(data, max_pixels)
    except (BadImage, DecodeBusy):
        # Not known to be blank: the judges' not_blank check still sees it.
        return False
    return float(pixels.std()) < 2.0
