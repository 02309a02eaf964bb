"""Routing one image request across a model's candidates: fallback, cooldowns, output checks."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

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
from sentinel.providers._http import CALL_UNDER_WAY, MAY_BE_BILLED, CallUnderWay
from sentinel.providers.base import (
    FALLBACK_OUTCOMES,
    NOT_BOUGHT_AGAIN,
    REPEATABLE_OUTCOMES,
    TRANSIENT_OUTCOMES,
    GenerationRequest,
    Operation,
    Outcome,
    OutputOptions,
    Provider,
    ProviderImage,
    ProviderResult,
    failure,
    output_fields,
    supports,
    undelivered,
)
from sentinel.providers.config import SIZE, Candidate, ModelRoute, RoutingConfig
from sentinel.providers.cooldown import CandidateState, CooldownPolicy, CooldownStore
from sentinel.providers.pinning import pinned_route
from sentinel.providers.quality import QualityBoard, QualityPolicy, route_view
from sentinel.providers.registry import Unconfigured, adapter_class
from sentinel.settings import Settings
from sentinel.store.images import ImageInfo, check_image, decoded_pixels, sha256_of, sniff_mime

logger = logging.getLogger(__name__)

#: Pause before walking a route again after transient failures (grows with each walk).
RETRY_PAUSE_SECONDS = 0.1
#: How long a candidate that answered 429 without a usable Retry-After (none, a date in the past, junk) is not asked
#: again by the same request: it has just said "too many requests", and the moment after will say it again.
RATE_LIMITED_WAIT_SECONDS = 1.0
#: Answers that stay the same until the operator changes something (a key, the routing file): a rejected key, a
#: model the provider does not know.
#: And a paid image our own checks refuse to fetch (its address not allowed, too large): the operator's to allow.
SET_UP_OUTCOMES = frozenset({Outcome.AUTH, Outcome.MODEL_NOT_FOUND, Outcome.OUTPUT_REFUSED})
#: Failures only an operator can end (a rejected key or an account that cannot pay, a model the provider no longer
#: serves, a paid image our own checks refuse to fetch): each logged at WARNING, naming the candidate and the
#: provider's (redacted) words, at most once per candidate and outcome every OPERATOR_WARNING_SECONDS, so that
#: log-based alerting sees "our key was revoked" (the call log and metrics have every one).
OPERATOR_OUTCOMES = frozenset({Outcome.AUTH, Outcome.MODEL_NOT_FOUND, Outcome.OUTPUT_REFUSED})
OPERATOR_WARNING_SECONDS = 60.0
#: A wait this close to its end is over: a sleep until it ends may wake a clock tick early.
WAIT_SLACK_SECONDS = 0.001
#: Below this many bytes per pixel (or this many bytes) an image is suspiciously compressible and gets a
#: full blank check; ordinary images never pay for a decode on the request path.
BLANK_SUSPECT_BYTES_PER_PIXEL = 0.02
BLANK_SUSPECT_BYTES = 4096
#: From this size on, an image's SHA-256 (~0.6 ms for 1 MiB) is computed in a thread while the loop serves other
#: requests, where for a small image the thread hop would cost more than the hash; and its bytes are written to the
#: blob store (``write_ahead``) while they are hashed, where that store can.
HASH_ASIDE_BYTES = 256 * 1024
#: An image with a side shorter than this is no answer to any request (OpenAI's smallest size is 256 px): a 1×1
#: placeholder, a 16×16 icon, a 1-px strip. Providers legitimately answer other sizes than asked (a portrait's
#: 1024×1792, some models' 896×1152, a 512 for a 1024), so the floor is absolute rather than a share of the size
#: asked for (the bundled fake providers answer 64×64 to every size).
MIN_OUTPUT_SIDE = 64

#: The quality OpenAI's GPT image models default to: the candidate's own default (see ``Router.quality_asked``).
AUTO_QUALITY = "auto"

#: How an operation is named in errors.
OPERATION_NAMES = {Operation.GENERATE: "generations", Operation.EDIT: "edits", Operation.VARIATION: "variations"}

#: Asked before every provider call of a walk but its first: True when the client went away, so no further (billed)
#: call is made for it.
Disconnected = Callable[[], Awaitable[bool]]


#: Said of a call whose answer was read from the task it had created before its worker stopped (never with the words
#: of ``NOT_BOUGHT_AGAIN``: a task that failed unpaid must not keep a job's later attempts from its candidate).
RESUMED = "read from the task the provider made before the call's worker stopped, none made again"


@dataclass(frozen=True)
class TaskUnderWay:
    """A call of this request whose worker stopped after the provider had created its task (a Replicate prediction):
    the task may still be read, and its image is paid for already (see :meth:`CallJournal.left_under_way`)."""

    #: The call's row in the call log, which the task's answer completes.
    call_id: int
    provider: str
    provider_model: str
    #: Where the task is read (what the adapter's ``resume`` takes), as the adapter gave it when it was created.
    task: str
    #: Seconds since the call was sent.
    age_seconds: float

    @property
    def target(self) -> str:
        return f"{self.provider}:{self.provider_model}"


class CallJournal(Protocol):
    """Where a request's provider calls are written down before they are sent (a job's attempt: see
    :class:`sentinel.providers.calls.InFlightCalls`), so a process killed mid-call leaves a row for a call the provider
    may bill. ``sending`` returns the row's id, which the call's :class:`Attempt` carries so the answer completes that
    row; ``task_created`` keeps on it where the provider's task can be read, once there is one."""

    async def sending(self, provider: str, provider_model: str, cost: float) -> int: ...

    def task_created(self, call_id: int, task: str) -> None: ...

    def left_under_way(self) -> list[TaskUnderWay]:
        """The tasks an earlier run of this request left with their providers when its worker stopped."""
        ...


class SpendClaims(Protocol):
    """A capped request's spend, call by call (:class:`sentinel.spend.budget.ReservedSpend`): a call's price is
    claimed before it is made (the refusal when the key's cap has no room left for it) and given back when the call
    turned out unpaid. A walk that paid for an unusable answer so cannot buy past the cap."""

    async def claim(self, price: float) -> Exception | None: ...

    def give_back(self, price: float) -> None: ...


class WriteAhead(Protocol):
    """Where a delivered image's bytes start being written once they are known to be an image, before they are
    hashed (the filesystem blob store): the write then overlaps the hash and the rows' statements instead of following
    them. The router discards what it refuses; the caller claims or discards what it delivers."""

    def write_ahead(self, data: bytes) -> Any: ...

    def discard(self, staged: Any) -> None: ...


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
    #: Edits and variations: the image to change (PNG, JPEG or WebP bytes as uploaded).
    image: bytes | None = None
    #: Edits: white (or, OpenAI's way, fully transparent) marks the region to change; the image's size.
    mask: bytes | None = None
    #: Edits: the images after ``image`` (OpenAI's GPT image models take up to 16 in all).
    more_images: tuple[bytes, ...] = ()
    #: OpenAI's output fields; the gateway keeps only candidates whose adapter honours them.
    output: OutputOptions = field(default_factory=OutputOptions)
    #: Generate, edit ``image`` or vary it: only candidates whose adapter supports it are called (``for_operation``).
    operation: Operation = Operation.GENERATE


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
    #: The call-log row written before the call was sent (:class:`CallJournal`), which its answer completes.
    in_flight_id: int | None = None

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
    #: ``data``'s canonical base64 as the provider sent it, when it did (:attr:`ProviderImage.base64`).
    base64: bytes | memoryview | None = None
    #: ``data`` as written ahead to the blob store (:class:`WriteAhead`), for the caller to claim or discard.
    written_ahead: Any = None


@dataclass
class RouteResult:
    image: DeliveredImage | None
    attempts: list[Attempt] = field(default_factory=list)
    #: The failure that ended the walk, when no image was delivered.
    last_failure: ProviderResult | None = None
    #: No image came, and the same request made again cannot get one until the set-up changes: every candidate's
    #: provider is unconfigured or refused its key, its model is parked or gone, or it does not offer the size.
    unchanging: bool = False
    #: Candidates paid for an answer whose image could not be delivered (an output address that would not download,
    #: an animated or broken image), or whose call timed out after its request went out (the provider may still
    #: make, and bill, that image), with why: a job does not buy from them again in its later attempts.
    undelivered: dict[str, str] = field(default_factory=dict)
    #: No image came, and every candidate is either settled by the set-up (``unchanging``) or in ``undelivered`` or
    #: the ``avoid`` the walk was given: a later attempt of the same job has no candidate left to buy from.
    nothing_left: bool = False

    @property
    def calls(self) -> int:
        """Provider calls made (skipped candidates cost nothing and are not calls)."""
        return sum(1 for a in self.attempts if a.outcome != "skipped")


@dataclass
class _Walk:
    """One request's progress over a route, across passes."""

    result: RouteResult
    #: The loop time by which the walk must end, if any (the request's and the route's deadline, the earlier).
    deadline: float | None
    deadline_seconds: float | None
    disconnected: Disconnected | None
    #: Where delivered images' bytes start being written before they are checked (None: nowhere).
    write_ahead: WriteAhead | None = None
    #: Where each call is written down before it is sent (None: logged once answered, by the caller).
    journal: CallJournal | None = None
    #: Where each call's price is claimed before it is made (a capped key's request; None: not capped).
    claims: SpendClaims | None = None
    #: Candidates whose answer is final for this request (a refusal, an address check, a parked model, a missing
    #: provider): a later pass does not ask them again.
    settled: set[str] = field(default_factory=set)
    #: Candidates cooling down on the provider's own Retry-After (or answering 429 without one), with the loop time
    #: at which this request may ask them again: binding for the request, whatever the shared cool-downs say.
    waiting: dict[str, float] = field(default_factory=dict)
    #: Candidates whose cool-down skip is already in the attempts.
    noted: set[str] = field(default_factory=set)
    #: Candidates skipped because their breaker was open, with the loop time at which it closes: when every
    #: candidate is, the caller's 503 says when to come back (Retry-After).
    cooling: dict[str, float] = field(default_factory=dict)
    #: Candidates this request has called: one that failed (and so opened or kept open its breaker) is not probed
    #: again by a later pass of the same request.
    called: set[str] = field(default_factory=set)
    #: Candidates settled for a reason of the set-up, not of this request's moment (see ``RouteResult.unchanging``).
    unchanging: set[str] = field(default_factory=set)
    #: Why the walk must stop before the next call (deadline passed, client gone), once it must.
    stopped: ProviderResult | None = None
    #: Tasks an earlier run of this request left with their providers, by target: read before anything is bought.
    resumable: dict[str, TaskUnderWay] = field(default_factory=dict)
    #: Whether the walk has neither called a provider nor paused yet: its client was there when its request was read
    #: a moment ago, so its first call goes without asking ``disconnected``.
    fresh: bool = True
    #: Candidates not to call at all (see ``Router.generate``'s ``avoid``), with why.
    avoid: dict[str, str] = field(default_factory=dict)


class Router:
    def __init__(
        self,
        config: RoutingConfig,
        providers: dict[str, Provider | Unconfigured],
        cooldowns: CooldownStore,
        settings: Settings,
        quality: QualityBoard | None = None,
    ) -> None:
        self.config = config
        self.providers = providers
        self.cooldowns = cooldowns
        self.settings = settings
        #: The recent green shares ``order: quality`` routes are ranked by; without it they keep the configured order.
        self.quality = quality
        #: Walks (:meth:`generate`) in progress in this process: a lone one hashes on the loop (see ``_check``).
        self._walking = 0
        #: The (task, model) pairs whose passing over for the default model was logged (:meth:`_passed_over`).
        self._warned_passed_over: set[tuple[str | None, str]] = set()
        #: When each (candidate, outcome) that needs an operator was last logged (:meth:`_warn_operator`).
        self._operator_warned: dict[tuple[str, Outcome], float] = {}
        #: Candidates whose open breaker a request of this process is probing now (see ``_walk``).
        self._probing: set[str] = set()

    # -- resolving names ---------------------------------------------------------------------------

    def resolve(self, model: str | None, task: str | None = None, preferred: str | None = None) -> ResolvedModel:
        """The route for a model name; with no name, the task's preferred model, else the default.

        ``preferred`` is the task rubric's own choice; the routing file's ``task_models`` overrides it. Either
        is used only when the model is known here and one of its providers is configured.
        """
        if not model:
            named = self.config.task_models.get(task or "") or preferred
            choice = self.config.aliases.get(named or "", named)
            route = self.config.models.get(choice or "")
            model = choice if route is not None and self.usable(route) else self.config.default_model
            if named and model != choice:
                self._passed_over(task, named, route)
        if model in self.config.parked:
            raise ParkedModel(f"model '{model}' is parked: {self.config.parked[model]}", field="model")
        if model in self.config.aliases:
            target = self.config.aliases[model]
            return ResolvedModel(model, target, self.config.models[target], alias_of=target)
        route = self.config.models.get(model)
        if route is None and ":" in model:
            # One candidate pinned, with no fallback: a model comparison must know which model drew each image.
            route = pinned_route(self.config, model)
        if route is None:
            known = ", ".join(sorted([*self.config.models, *self.config.aliases]))
            raise UnknownModel(
                f"model '{model}' does not exist or is not allowed here; available: {known}, or one candidate of "
                "theirs as provider:model",
                field="model",
            )
        return ResolvedModel(model, model, route)

    def with_fallbacks(self, resolved: ResolvedModel, fallbacks: list[str], size: str) -> ResolvedModel:
        """The request's route followed by the candidates of the models it names as fallbacks (``sentinel.models``),
        in that order, each candidate priced by its own route. A fallback model that does not offer the size is
        refused: the caller named it, so it must be usable."""
        candidates = list(resolved.route.candidates)
        seen = {c.target for c in candidates}
        for name in fallbacks:
            fallback = self.resolve(name)
            self.check_size(fallback, size)
            for candidate in fallback.route.candidates:
                if candidate.target in seen:
                    continue
                seen.add(candidate.target)
                own_price = candidate.cost_per_image
                priced = own_price if own_price is not None else fallback.route.cost_per_image
                candidates.append(candidate.model_copy(update={"cost_per_image": priced}))
        route = resolved.route.model_copy(update={"candidates": candidates})
        return dataclasses.replace(resolved, route=route)

    def can(self, candidate: Candidate, operation: Operation) -> bool:
        """Whether the candidate's adapter serves ``operation`` with its model, or the family it declares it behaves
        as (asked of its class when the provider is not configured here, so a missing key does not change which models
        can edit)."""
        provider = self.providers.get(candidate.provider)
        if provider is not None and not isinstance(provider, Unconfigured):
            return supports(provider, candidate.behaves_as, operation)
        config = self.config.providers.get(candidate.provider)
        return config is not None and supports(adapter_class(config.kind), candidate.behaves_as, operation)

    def fields_of(self, candidate: Candidate) -> dict[str, frozenset[str | int] | None]:
        """The OpenAI fields (OutputOptions) the candidate's adapter passes on for its model, with the values it takes
        (None: any); asked of its class when the provider is not configured here, as :meth:`can` is."""
        provider = self.providers.get(candidate.provider)
        if provider is not None and not isinstance(provider, Unconfigured):
            return output_fields(provider, candidate.behaves_as)
        config = self.config.providers.get(candidate.provider)
        return output_fields(adapter_class(config.kind), candidate.behaves_as) if config is not None else {}

    def for_operation(self, resolved: ResolvedModel, operation: Operation) -> ResolvedModel:
        """The route narrowed to the candidates that can serve ``operation`` (all of them for a generation); a 400
        naming the model, and the models that can, when none of its candidates can."""
        kept = [c for c in resolved.route.candidates if self.can(c, operation)]
        if not kept:
            able = [
                name
                for name, route in self.config.models.items()
                if any(self.can(c, operation) for c in route.candidates)
            ]
            error = InvalidInput(
                f"model '{resolved.requested}' cannot serve image {OPERATION_NAMES[operation]}: none of its candidates "
                f"({', '.join(c.target for c in resolved.route.candidates)}) supports them; models that can: "
                f"{', '.join(able) or 'none'}",
                field="model",
            )
            error.code = "unsupported_operation"
            raise error
        if len(kept) == len(resolved.route.candidates):
            return resolved
        return dataclasses.replace(resolved, route=resolved.route.model_copy(update={"candidates": kept}))

    def passed_over_why(self, named: str, route: ModelRoute | None) -> str:
        """Why a task's own model is not the one its requests get (unknown here, or no provider of it callable)."""
        if route is None:
            return f"the routing file has no model '{named}'"
        reasons = sorted(
            {p.reason for c in route.candidates if isinstance(p := self.providers.get(c.provider), Unconfigured)}
        )
        return f"no provider of model '{named}' can be called here ({'; '.join(reasons)})"

    def _passed_over(self, task: str | None, named: str, route: ModelRoute | None) -> None:
        # Once per process and task: a rubric's misspelt model (or a missing key) otherwise sent every job of the
        # task to the default model without a word anywhere.
        if (task, named) in self._warned_passed_over:
            return
        self._warned_passed_over.add((task, named))
        logger.warning(
            "task '%s' prefers model '%s', but %s: its requests use the default model '%s' (`sentinel doctor` lists "
            "this)",
            task,
            named,
            self.passed_over_why(named, route),
            self.config.default_model,
        )

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

    @staticmethod
    def quality_asked(resolved: ResolvedModel, quality: str | None) -> str | None:
        """The quality tier a request asks of the route: ``auto`` (OpenAI's default for its GPT image models, which
        clients send explicitly) means each candidate's own default, as leaving quality out does, unless the route
        lists a tier of that name."""
        if quality == AUTO_QUALITY and AUTO_QUALITY not in resolved.route.qualities:
            return None
        return quality

    def check_quality(self, resolved: ResolvedModel, quality: str | None) -> None:
        quality = self.quality_asked(resolved, quality)
        if quality is not None and quality not in resolved.route.qualities:
            supported = ", ".join(resolved.route.qualities) or "none (leave quality out)"
            raise InvalidInput(
                f"quality '{quality}' is not supported by model '{resolved.requested}'; supported: {supported}",
                field="quality",
            )

    def unpriced(self, resolved: ResolvedModel) -> list[str]:
        """The route's paid candidates whose price is set nowhere (see ``ModelRoute.unpriced``)."""
        return resolved.route.unpriced(self.config.providers)

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
            if mapped is None and spec.operation is not Operation.GENERATE:
                # An edit at the source's own size: the adapter keeps the source's size (or its provider's nearest).
                mapped = {}
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
            more_images=spec.more_images,
            user=spec.user,
            output=spec.output,
            operation=spec.operation,
            family=candidate.family,
        )

    # -- generating --------------------------------------------------------------------------------

    async def generate(
        self,
        resolved: ResolvedModel,
        spec: ImageSpec,
        regeneration: int = 0,
        *,
        deadline: float | None = None,
        disconnected: Disconnected | None = None,
        task: str | None = None,
        write_ahead: WriteAhead | None = None,
        journal: CallJournal | None = None,
        claims: SpendClaims | None = None,
        avoid: Mapping[str, str] | None = None,
    ) -> RouteResult:
        """Walk the candidates until one delivers a checked image or a failure says stop.

        When a walk failed in transient ways (429, 5xx, timeouts), walk again, up to ``max_passes`` times, after a
        short pause: random provider hiccups rarely repeat. A later walk asks only the candidates whose answer
        could change (a refusal or a missing model is final), and never one whose provider asked to wait
        (Retry-After) before that time has passed. With nothing else left, a request waits for the earliest
        Retry-After when it is short (``max_retry_wait_seconds``) and passes remain; otherwise the result is
        RATE_LIMITED with the earliest Retry-After, and no call is made.
        ``regeneration`` (0 for a first attempt) rotates the candidates where the route asks for it.
        ``deadline`` (the event loop's clock) bounds the whole walk, with the route's ``deadline_seconds``;
        ``disconnected`` is asked before every call but the walk's first (made right after the request was read),
        so a client that left causes no further call.
        ``task`` (a job's) ranks an ``order: quality`` route by that task's recent verdicts (:meth:`candidates_for`).
        ``write_ahead`` starts writing a delivered image's bytes while they are hashed: the result's image carries
        what it started (``written_ahead``) for the caller to claim or discard.
        ``journal`` writes each call down before it is sent (a job's attempt); each attempt names its row.
        ``claims`` (a capped key's request) claims each call's price from the request's spend reservation before it
        is made: the walk stops rather than buy past the cap.
        ``avoid`` (a job's later attempt): candidates not to call, by target, with why (their paid images could not
        be delivered in an earlier attempt: see ``RouteResult.undelivered``); each is noted as skipped.
        """
        self._walking += 1
        try:
            walk = _Walk(RouteResult(image=None), None, None, disconnected, write_ahead, journal, claims)
            walk.avoid = dict(avoid or {})
            return await self._generate(resolved, spec, regeneration, deadline, task, walk)
        finally:
            self._walking -= 1

    async def _generate(
        self,
        resolved: ResolvedModel,
        spec: ImageSpec,
        regeneration: int,
        deadline: float | None,
        task: str | None,
        walk: _Walk,
    ) -> RouteResult:
        loop = asyncio.get_running_loop()
        route_deadline = resolved.route.deadline_seconds
        if route_deadline is not None:
            ends = loop.time() + route_deadline
            deadline = ends if deadline is None else min(deadline, ends)
        # Shown to the caller as "the N s deadline": the nominal figure, not what is left of it a microsecond later.
        walk.deadline = deadline
        walk.deadline_seconds = None if deadline is None else round(max(0.0, deadline - loop.time()), 1)
        # A candidate that cannot serve the operation (an edit sent to a generate-only adapter) is never asked, and
        # is no attempt: callers narrow the route first (``for_operation``) to tell the caller up front.
        candidates = await self.candidates_for(resolved, spec.operation, regeneration, task)
        for candidate in candidates:
            why = walk.avoid.get(candidate.target)
            if why is not None and candidate.target not in walk.settled:
                walk.settled.add(candidate.target)
                walk.result.attempts.append(Attempt(candidate.provider, candidate.model, "skipped", message=why))
        if candidates and all(c.target in walk.avoid for c in candidates):
            said = "; ".join(dict.fromkeys(walk.avoid[c.target] for c in candidates))
            walk.result.last_failure = failure(Outcome.UNAVAILABLE, f"no candidate left to buy from: {said}")
            walk.result.nothing_left = True
            return walk.result
        if walk.journal is not None:
            walk.resumable = self._resumable(walk.journal.left_under_way(), candidates, walk)
            # A task a dead worker's call left with its provider is read first: its image is paid for already.
            candidates = sorted(candidates, key=lambda c: c.target not in walk.resumable)
        passes = self.config.max_passes
        for number in range(passes):
            calls_before = walk.result.calls
            if await self._walk(resolved, candidates, spec, walk, last_walk=number == passes - 1):
                return walk.result
            if walk.stopped is not None or number == passes - 1:
                break
            pause = self._pause_before_next_walk(candidates, walk, number, called=walk.result.calls > calls_before)
            if pause is None or (deadline is not None and loop.time() + pause >= deadline):
                break
            walk.fresh = False
            await asyncio.sleep(pause)
        self._conclude(walk, candidates)
        return walk.result

    def _resumable(self, left: list[TaskUnderWay], candidates: list[Candidate], walk: _Walk) -> dict[str, TaskUnderWay]:
        """The tasks left under way worth reading, by target: of a candidate of this walk, whose adapter can take
        them over, recent enough for the provider to still keep their result (older ones are bought again)."""
        targets = {c.target for c in candidates if c.target not in walk.settled}
        resumable: dict[str, TaskUnderWay] = {}
        for task in left:
            adapter = self.providers.get(task.provider)
            kept = getattr(adapter, "resumable_seconds", None)
            if task.target in targets and kept is not None and task.age_seconds <= kept:
                resumable.setdefault(task.target, task)  # the latest first (see left_under_way)
        return resumable

    def _pause_before_next_walk(
        self, candidates: list[Candidate], walk: _Walk, number: int, called: bool
    ) -> float | None:
        """How long to pause before walking again; None when another walk could change nothing."""
        now = asyncio.get_running_loop().time()
        unsettled = [c.target for c in candidates if c.target not in walk.settled]
        free = [t for t in unsettled if walk.waiting.get(t, 0.0) <= now]
        if free and called:
            return RETRY_PAUSE_SECONDS * (number + 1)
        waits = [walk.waiting[t] - now for t in unsettled if walk.waiting.get(t, 0.0) > now]
        if waits and min(waits) <= self.config.max_retry_wait_seconds:
            # Every open candidate's provider asked to wait, briefly: wait it out rather than answer 429.
            return min(waits)
        return None

    def order(self, route: ModelRoute, regeneration: int = 0) -> list[Candidate]:
        """The candidates in the order this request tries them: rotated for a regeneration where the route asks,
        and each run of weighted neighbours shuffled by weight (the first pick is in proportion to the weights)."""
        candidates = list(route.candidates)
        if route.rotate_on_regenerate and regeneration:
            shift = regeneration % len(candidates)
            candidates = candidates[shift:] + candidates[:shift]
        ordered: list[Candidate] = []
        rank: list[Candidate] = []
        for candidate in [*candidates, None]:
            if candidate is not None and candidate.weight is not None:
                rank.append(candidate)
                continue
            ordered.extend(_weighted_order(rank))
            rank = []
            if candidate is not None:
                ordered.append(candidate)
        return ordered

    async def candidates_for(
        self, resolved: ResolvedModel, operation: Operation, regeneration: int = 0, task: str | None = None
    ) -> list[Candidate]:
        """The candidates that can serve ``operation``, in the order this request tries them (:meth:`order`). For an
        ``order: quality`` route and a request with a task: ranked by the task's recent green shares, or another first
        when it is this request's turn to explore (:mod:`sentinel.providers.quality`); a regeneration then starts at
        the next of that order where the route rotates."""
        route, board = resolved.route, self.quality
        if route.order != "quality" or not task or board is None:
            return [c for c in self.order(route, regeneration) if self.can(c, operation)]
        able = [c for c in self.order(route) if self.can(c, operation)]
        # The shares this process holds, read again at most every SENTINEL_QUALITY_REFRESH_SECONDS: never a query
        # per request.
        ordered = board.arrange(resolved.model, task, able, [c.target for c in able], await board.shares())
        if route.rotate_on_regenerate and regeneration and ordered:
            shift = regeneration % len(ordered)
            ordered = ordered[shift:] + ordered[:shift]
        return ordered

    async def quality_views(self) -> dict[str, dict[str, Any]]:
        """Per model with ``order: quality``: the order each task's requests take and why (see ``route_view``)."""
        names = [name for name, route in self.config.models.items() if route.order == "quality"]
        if not names:
            return {}
        board = self.quality
        shares = await board.shares() if board is not None else {}
        policy = board.policy if board is not None else QualityPolicy.of(self.settings)
        return {name: route_view(self.config.models[name], shares, policy) for name in names}

    def _conclude(self, walk: _Walk, candidates: list[Candidate]) -> None:
        """The failure the caller is told about, when no image came."""
        result = walk.result
        if result.image is not None:
            return
        # Also for a walk stopped early (its deadline passed during a call): a candidate given up on after its
        # request went out is paid and undelivered all the same, and a retry would buy it again.
        result.unchanging = bool(candidates) and all(c.target in walk.unchanging for c in candidates)
        result.nothing_left = bool(candidates) and all(
            c.target in walk.unchanging or c.target in result.undelivered or c.target in walk.avoid for c in candidates
        )
        if walk.stopped is not None:
            result.last_failure = walk.stopped
            return
        last = result.last_failure
        now = asyncio.get_running_loop().time()
        # Every candidate left cooling down after failures: the caller's 503 says when the first breaker closes,
        # rather than invite a retry that finds them all still cooling.
        open_breakers = [walk.cooling.get(c.target, 0.0) - now for c in candidates if c.target not in walk.settled]
        all_cooling = bool(open_breakers) and all(left > 0 for left in open_breakers)
        if all_cooling and last is not None and last.outcome in TRANSIENT_OUTCOMES and not last.retry_after:
            result.last_failure = last = dataclasses.replace(last, retry_after=min(open_breakers))
        waiting = {target: free_at - now for target, free_at in walk.waiting.items() if free_at > now}
        if waiting and (last is None or last.outcome in TRANSIENT_OUTCOMES):
            # Every open candidate waits on its provider's word: say when the earliest is free again. An outage that
            # said when to come back (a 503 with Retry-After) stays an outage: a 429 would tell the caller that *it*
            # is over its rate, when the provider is down.
            outage = last is not None and last.outcome is Outcome.UNAVAILABLE and last.retry_after is not None
            if not outage and (last is None or last.outcome is not Outcome.RATE_LIMITED):
                waits = ", ".join(f"{target} for {left:.0f} s" for target, left in waiting.items())
                last = failure(Outcome.RATE_LIMITED, f"every candidate's provider asked to wait: {waits}")
            result.last_failure = dataclasses.replace(last, retry_after=min(waiting.values()))

    async def _walk(
        self,
        resolved: ResolvedModel,
        candidates: list[Candidate],
        spec: ImageSpec,
        walk: _Walk,
        last_walk: bool,
    ) -> bool:
        result = walk.result
        probes: list[tuple[float, Candidate]] = []
        calls_before = result.calls
        for candidate in candidates:
            if candidate.target in walk.settled:
                continue
            state = await self.cooldowns.state(candidate.target, self.config.fingerprint)
            # A task left under way is read even while its candidate cools down: reading it buys nothing.
            if candidate.target not in walk.resumable and self._skip(candidate, state, walk):
                if state.cooling_seconds > 0 and not state.provider_said:
                    walk.cooling[candidate.target] = asyncio.get_running_loop().time() + state.cooling_seconds
                if (
                    state.cooling_seconds > 0
                    and not state.provider_said
                    and not _waits_on(walk, candidate)
                    and candidate.target not in walk.called
                ):
                    probes.append((state.cooling_seconds, candidate))
                continue
            if await self._try(candidate, resolved, spec, walk):
                return True
            if walk.stopped is not None:
                return False
        if probes and (last_walk or result.calls == calls_before):
            # Rather than fail while a breaker is merely open, probe the cooling candidates, soonest to recover
            # first: when nothing else is left to try, or on the last walk. (A provider's own Retry-After is never
            # probed early: see ``_skip``.) One probe of a candidate at a time in this process (half-open): the
            # requests that find it being probed do not call it too, so an open breaker sheds a burst's load.
            for cooling, candidate in sorted(probes, key=lambda item: item[0]):
                if candidate.target in self._probing:
                    said = f"{candidate.target} is cooling down after failures, and another request is probing it now"
                    if result.last_failure is None:
                        result.last_failure = failure(Outcome.UNAVAILABLE, said, retry_after=cooling)
                    continue
                self._probing.add(candidate.target)
                try:
                    done = await self._try(candidate, resolved, spec, walk)
                finally:
                    self._probing.discard(candidate.target)
                if done:
                    return True
                if walk.stopped is not None:
                    return False
        return False

    def _skip(self, candidate: Candidate, state: CandidateState, walk: _Walk) -> bool:
        """Whether this candidate is passed over on this walk, noting why (once per request) in the attempts."""
        result = walk.result
        if state.parked is not None:
            walk.settled.add(candidate.target)
            walk.unchanging.add(candidate.target)
            result.attempts.append(
                Attempt(candidate.provider, candidate.model, "skipped", message=f"parked: {state.parked}")
            )
            if result.last_failure is None or result.last_failure.outcome is Outcome.MODEL_NOT_FOUND:
                result.last_failure = failure(Outcome.MODEL_NOT_FOUND, f"{candidate.target} is parked: {state.parked}")
            return True
        now = asyncio.get_running_loop().time()
        if state.provider_said:
            walk.waiting[candidate.target] = max(walk.waiting.get(candidate.target, 0.0), now + state.cooling_seconds)
        own_wait = walk.waiting.get(candidate.target, 0.0) - now
        if state.cooling_seconds <= 0 and own_wait <= WAIT_SLACK_SECONDS:
            walk.waiting.pop(candidate.target, None)
            return False
        if candidate.target not in walk.noted:
            # Noted once per request, not once per walk: the attempts list tells what happened, not how often
            # we looked.
            walk.noted.add(candidate.target)
            if state.cooling_seconds > 0:
                message = f"cooling down for {_seconds(state.cooling_seconds)}" + (
                    " (the provider's Retry-After)" if state.provider_said else ""
                )
            else:
                message = f"answered 429 in this request: not asked again for {_seconds(own_wait)}"
            result.attempts.append(Attempt(candidate.provider, candidate.model, "skipped", message=message))
        return True

    def _must_stop(self, walk: _Walk) -> float | None:
        """Seconds left for the next call (None: no deadline); sets ``walk.stopped`` when no call may be made."""
        if walk.deadline is None:
            return None
        left = walk.deadline - asyncio.get_running_loop().time()
        if left <= 0:
            walk.stopped = self._past_deadline(walk)
        return left

    @staticmethod
    async def _resume(
        provider: Any, candidate: Candidate, request: GenerationRequest, left: TaskUnderWay, timeout: float
    ) -> ProviderResult | None:
        """The answer of a task a dead worker's call left with the provider, read within ``timeout``; None when it
        cannot be read (gone, expired, an error): the image is then bought again, as it was before tasks were kept."""
        resume = getattr(provider, "resume", None)
        if resume is None:
            return None
        try:
            async with asyncio.timeout(timeout):
                resumed: ProviderResult | None = await resume(request, left.task)
        except TimeoutError:
            said = f"{candidate.provider}'s task, made before its worker stopped, did not finish within {timeout:.3g} s"
            return ProviderResult(Outcome.TIMEOUT, message=f"{said}: {MAY_BE_BILLED}", paid=True)
        if resumed is None:
            logger.info("the task %s of %s left under way could not be read: buying again", left.task, left.target)
        return resumed

    @staticmethod
    def _past_deadline(walk: _Walk) -> ProviderResult:
        return failure(Outcome.TIMEOUT, f"no image within the {walk.deadline_seconds:g} s deadline of this request")

    async def _try(self, candidate: Candidate, resolved: ResolvedModel, spec: ImageSpec, walk: _Walk) -> bool:
        """One candidate; True when the walk is over (an image, or a failure that must not fall back)."""
        result = walk.result
        provider = self.providers.get(candidate.provider)
        if provider is None or isinstance(provider, Unconfigured):
            reason = provider.reason if provider else "not in the routing config"
            walk.settled.add(candidate.target)
            walk.unchanging.add(candidate.target)
            result.attempts.append(Attempt(candidate.provider, candidate.model, "skipped", message=reason))
            result.last_failure = result.last_failure or failure(
                Outcome.UNAVAILABLE, f"{candidate.provider} is not configured: {reason}"
            )
            return False
        request = self.map_request(candidate, spec)
        if isinstance(request, str):
            walk.settled.add(candidate.target)
            walk.unchanging.add(candidate.target)
            result.attempts.append(Attempt(candidate.provider, candidate.model, "skipped", message=request))
            return False
        if walk.disconnected is not None and not walk.fresh and await walk.disconnected():
            walk.stopped = failure(Outcome.TIMEOUT, "the client disconnected; no further provider was called")
            return False
        walk.fresh = False
        walk.called.add(candidate.target)
        left = self._must_stop(walk)
        if walk.stopped is not None:
            return False
        price = self._price(resolved, candidate, spec)
        claims = walk.claims
        refused = await claims.claim(price) if claims is not None else None
        if refused is not None:
            # The request paid for answers it could not use, and its key's cap has no room for another: stop here,
            # saying why, rather than buy past the cap.
            said = f"not called: {refused}"
            result.attempts.append(Attempt(candidate.provider, candidate.model, "skipped", message=said))
            last = result.last_failure
            walk.stopped = (
                dataclasses.replace(last, message=f"{last.message}; then {candidate.target} {said}")
                if last is not None
                else failure(Outcome.UNAVAILABLE, said)
            )
            return False
        timeout = self._timeout(candidate)
        by_deadline = left is not None and left < timeout
        if by_deadline:
            timeout = left
            # Polling adapters stop (and cancel their job) by the deadline themselves, not only when cut off.
            request = dataclasses.replace(request, deadline=asyncio.get_running_loop().time() + timeout)
        in_flight = None
        started = time.perf_counter()
        left = walk.resumable.pop(candidate.target, None)
        resumed = await self._resume(provider, candidate, request, left, timeout) if left is not None else None
        if resumed is not None and left is not None:
            # The dead worker's call answered: its row is completed with this answer, and nothing was bought again.
            said = f"{resumed.message}; {RESUMED}" if resumed.message else RESUMED
            answer, in_flight = dataclasses.replace(resumed, message=said), left.call_id
            if by_deadline and answer.outcome is Outcome.TIMEOUT:
                walk.stopped = self._past_deadline(walk)
        else:
            journal = walk.journal
            if journal is not None:
                # Written down (at its price) before it is sent: a process killed during the call still leaves its row.
                in_flight = await journal.sending(candidate.provider, candidate.model, price)
                started = time.perf_counter()
            row = in_flight
            # Whether the provider may be making (and billing) the image when we stop waiting: the transport says
            # when the request went out in full, a polling adapter when its job was created (and where to read it,
            # kept on the call's row).
            under_way = CallUnderWay(
                (lambda task: journal.task_created(row, task)) if journal is not None and row is not None else None
            )
            watching = CALL_UNDER_WAY.set(under_way)
            try:
                # A timeout scope, not wait_for: wait_for (3.11) runs the call as a task of its own, a loop pass more.
                async with asyncio.timeout(timeout):
                    answer = await provider.generate(request)
            except TimeoutError:
                said = f"{candidate.provider} did not answer within {timeout:.3g} s" + (
                    " (what was left of the request's deadline)" if by_deadline else ""
                )
                if under_way.started:
                    # Given up on after it was sent: the provider may finish, and bill, the image all the same.
                    said = f"{said}, after its request went out: {MAY_BE_BILLED}"
                    answer = ProviderResult(Outcome.TIMEOUT, message=said, paid=True)
                else:
                    answer = failure(
                        Outcome.TIMEOUT, f"{said}; its request had not gone out in full: nothing was billed"
                    )
                if by_deadline:
                    walk.stopped = self._past_deadline(walk)  # the deadline has passed: the walk ends here, saying so
            finally:
                CALL_UNDER_WAY.reset(watching)
        delivered: DeliveredImage | None = None
        # A time-out is final too: the call may still be running, and billed, at the provider (see REPEATABLE_OUTCOMES).
        # So is a paid answer that never reached us (a finished job's result that kept failing): asking again buys it
        # again, where the next candidate may serve.
        final = answer.outcome not in REPEATABLE_OUTCOMES or answer.paid
        # A success answer is a finished generation, billed whether or not its image passes our checks.
        paid, status_code = answer.ok or answer.paid, answer.status_code
        if claims is not None and not paid:
            claims.give_back(price)
        if answer.ok:
            checked = await self._deliver(
                answer.images[0], candidate, walk.write_ahead, (request.width, request.height)
            )
            if isinstance(checked, DeliveredImage):
                delivered = checked
            else:
                # Final whatever the refusal: asking the same candidate again in this request buys another image
                # like it (a cut, animated or unreachable output), where the next candidate may serve.
                answer, final = checked[0], True
                if answer.outcome is not Outcome.CONTENT_FILTERED:
                    # Paid and not delivered: the same for a job's later attempts (see RouteResult.undelivered). A
                    # blank image (a hidden filter) is about the prompt, which a regeneration changes.
                    if NOT_BOUGHT_AGAIN not in answer.message:
                        answer = dataclasses.replace(answer, message=f"{answer.message}; {NOT_BOUGHT_AGAIN}")
                    result.undelivered[candidate.target] = answer.message
        elif answer.paid:
            # A finished job's result (or a whole answer) paid for and never received, or a call given up on after its
            # request went out (the provider may still make, and bill, that image): see RouteResult.undelivered.
            result.undelivered[candidate.target] = answer.message
        attempt = Attempt(
            candidate.provider,
            candidate.model,
            answer.outcome.value,
            (time.perf_counter() - started) * 1000,
            answer.message,
            answer.status_code if answer.status_code is not None else status_code,
            len(delivered.data) if delivered else 0,
            price if paid else 0.0,
            in_flight,
        )
        result.attempts.append(attempt)
        # A call dropped because its client left (or the server stopped waiting) says nothing about the provider:
        # many clients leaving must not open its breaker for everyone.
        dropped = not answer.ok and walk.disconnected is not None and await walk.disconnected()
        if not dropped:
            await self.cooldowns.record(candidate.target, answer.outcome, answer.retry_after, self._policy(candidate))
        if delivered is not None:
            result.image = delivered
            return True
        if final:
            walk.settled.add(candidate.target)
            if answer.outcome in SET_UP_OUTCOMES:
                walk.unchanging.add(candidate.target)
        elif answer.retry_after or answer.outcome is Outcome.RATE_LIMITED:
            # The provider asked to wait: no later walk of this request calls it before that time. A 429 that says
            # not how long (no Retry-After, one in the past, junk) still says "not now".
            wait = (
                (self._policy(candidate) or CooldownPolicy()).cooldown_for(answer.retry_after)
                if answer.retry_after
                else RATE_LIMITED_WAIT_SECONDS
            )
            walk.waiting[candidate.target] = asyncio.get_running_loop().time() + wait
        if answer.outcome in OPERATOR_OUTCOMES:
            self._warn_operator(candidate, answer)
        if answer.outcome is Outcome.MODEL_NOT_FOUND:
            await self.cooldowns.park(candidate.target, self.config.fingerprint, answer.message)
        result.last_failure = answer
        if answer.outcome in FALLBACK_OUTCOMES:
            return False
        return not (answer.outcome is Outcome.CONTENT_FILTERED and resolved.route.fallback_on_content_filter)

    def _warn_operator(self, candidate: Candidate, answer: ProviderResult) -> None:
        """A failure only an operator can end, logged (see OPERATOR_OUTCOMES)."""
        now = time.monotonic()
        key = (candidate.target, answer.outcome)
        if now - self._operator_warned.get(key, -math.inf) < OPERATOR_WARNING_SECONDS:
            return
        self._operator_warned[key] = now
        logger.warning(
            "provider call to %s failed with %s, which only an operator can change: %s",
            candidate.target,
            answer.outcome.value,
            answer.message[:500],
            extra={"provider": candidate.provider, "provider_model": candidate.model, "outcome": answer.outcome.value},
        )

    @staticmethod
    def _price(resolved: ResolvedModel, candidate: Candidate, spec: ImageSpec) -> float:
        return resolved.route.price(candidate, f"{spec.width}x{spec.height}", spec.quality)

    def _policy(self, candidate: Candidate) -> CooldownPolicy | None:
        breaker = self.config.providers[candidate.provider].circuit_breaker
        return None if breaker is None else CooldownPolicy(**breaker.model_dump())

    async def parked(self) -> dict[str, str]:
        """Candidates parked since this routing file was loaded (provider:model → the provider's reason)."""
        return await self.cooldowns.parked(self.config.fingerprint)

    def _timeout(self, candidate: Candidate) -> float:
        return self.config.providers[candidate.provider].timeout_seconds

    def _base_url(self, candidate: Candidate) -> str | None:
        configured = self.config.providers.get(candidate.provider)
        return configured.base_url if configured is not None else None

    async def _deliver(
        self,
        image: ProviderImage,
        candidate: Candidate,
        write_ahead: WriteAhead | None = None,
        asked: tuple[int, int] | None = None,
    ) -> DeliveredImage | tuple[ProviderResult, bool]:
        """Bytes we can vouch for: downloaded through the guarded fetcher, sniffed, structurally checked, not blank.

        Otherwise the failure, and whether it is final for this request (asking the same provider again would give
        the same answer: an output address we refuse to fetch, a blank image) or worth another pass. A large image
        starts being written to ``write_ahead`` meanwhile: what is refused is discarded there."""
        settings = self.settings
        data = image.data
        if data is None and image.url:
            for tries_left in reversed(range(OUTPUT_DOWNLOAD_TRIES)):
                try:
                    fetched = await fetch_url(
                        image.url,
                        max_bytes=settings.max_image_bytes,
                        timeout=settings.fetch_timeout_seconds,
                        max_redirects=settings.fetch_max_redirects,
                        allowed_networks=settings.fetch_allowed_networks,
                        field="provider output",
                        # An output on the host the operator configured this provider at (a gateway in the
                        # VPC answering `url`) is fetched wherever that host is: Sentinel already calls it.
                        trusted_origin=self._base_url(candidate),
                    )
                    break
                except (DisallowedURL, ImageTooLarge) as exc:
                    # The provider's output address (or size) is refused by our own checks: the same again next time.
                    said = f"could not download the provider's image: {exc.message}"
                    return failure(Outcome.OUTPUT_REFUSED, said), True
                except FetchFailed as exc:
                    # The image is made and paid for: its address is asked again (a CDN's passing 502) before the
                    # walk moves on to buy another, from the next candidate: asking this one again would buy it twice.
                    if not tries_left:
                        unread = failure(Outcome.UNAVAILABLE, f"{exc.message} ({OUTPUT_DOWNLOAD_TRIES} tries)")
                        return undelivered(unread, "the provider's image"), True
                    await asyncio.sleep(OUTPUT_DOWNLOAD_PAUSE_SECONDS)
            data = fetched.content
        if not data:
            # An empty image (an empty b64_json, or an output address serving no bytes) is the provider's failed
            # answer, never its safety system refusing the caller's prompt: the next candidate may serve it.
            return failure(Outcome.UNRECOGNISED_ANSWER, "the provider answered 200 with an empty image", 200), True
        large = HASH_ASIDE_BYTES <= len(data) <= settings.max_image_bytes
        ahead: list[Any] = []
        if write_ahead is None or not large:
            return await self._check(image, data, candidate, large, None, ahead, asked)
        try:
            checked = await self._check(image, data, candidate, large, write_ahead, ahead, asked)
        except BaseException:
            for staged in ahead:
                write_ahead.discard(staged)
            raise
        if ahead and isinstance(checked, DeliveredImage):
            checked.written_ahead = ahead[0]
        else:
            for staged in ahead:
                write_ahead.discard(staged)
        return checked

    async def _check(
        self,
        image: ProviderImage,
        data: bytes,
        candidate: Candidate,
        large: bool,
        write_ahead: WriteAhead | None,
        ahead: list[Any],
        asked: tuple[int, int] | None = None,
    ) -> DeliveredImage | tuple[ProviderResult, bool]:
        """``data`` sniffed, structurally checked, of a usable size, hashed and found not blank (see :meth:`_deliver`);
        once it is known to be an image, its write to ``write_ahead`` starts (noted in ``ahead``) and goes on while it
        is hashed. ``asked``: the size the candidate was asked for, named when the image is too small."""
        settings = self.settings
        # A large image is hashed in a thread while the loop checks it and serves other requests; but a lone walk's
        # loop has no other request to serve, and the hop would only add its two wake-ups to the request's time.
        aside = large and self._walking > 1
        hashing = asyncio.ensure_future(asyncio.to_thread(sha256_of, data)) if aside else None
        try:
            mime, width, height = check_image(
                data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
            )
        except (BadImage, ImageTooLarge) as exc:
            # The intake's words end with advice to whoever sent the image ("send one frame as PNG, …"): here that
            # is the provider, not the caller, who sent none.
            reason = exc.message.split(": send ", 1)[0]
            said = f"the provider returned no usable image: {reason} (the provider's fault, not the request's)"
            if sniff_mime(data) is None:
                # No image at all (a page, JSON, text where the image belongs): the same on every pass, so the
                # provider's fault (502) and final for this request, where a cut or broken image may be a hiccup.
                return failure(Outcome.UNRECOGNISED_ANSWER, said, 200), True
            return failure(Outcome.UNAVAILABLE, said), False
        if min(width, height) < MIN_OUTPUT_SIDE:
            # A whole image, paid for, that is no answer to the request: the provider's fault, and the same provider
            # asked again would likely answer the same; the next candidate may serve. Checked before the blank check,
            # which would call a one-colour placeholder a hidden content filter.
            for_size = f" for a {asked[0]}×{asked[1]} request" if asked else ""
            said = (
                f"the provider returned an image of {width}×{height} px{for_size} (a side under {MIN_OUTPUT_SIDE} px "
                "is no usable image; the provider's fault, not the request's)"
            )
            return failure(Outcome.UNRECOGNISED_ANSWER, said, 200), True
        if write_ahead is not None:
            # Started after the (short) check, not before: its thread's start would hold the GIL the check needs,
            # where the hash below lets it go.
            ahead.append(write_ahead.write_ahead(data))
        sha256 = await hashing if hashing is not None else sha256_of(data)
        info = ImageInfo(sha256=sha256, mime=mime, width=width, height=height, size_bytes=len(data))
        suspect = max(BLANK_SUSPECT_BYTES, info.width * info.height * BLANK_SUSPECT_BYTES_PER_PIXEL)
        if info.size_bytes < suspect and await asyncio.to_thread(_is_blank, data, settings.max_image_pixels):
            return (
                failure(Outcome.CONTENT_FILTERED, "the provider returned a blank image (a hidden content filter)"),
                True,
            )
        # The provider's base64 is the checked bytes' only when they are the bytes it decoded to (not downloaded).
        encoded = image.base64 if image.data is not None and data is image.data else None
        return DeliveredImage(info, data, candidate.provider, candidate.model, image.revised_prompt, encoded)


#: Downloads of a generated image's output address before it counts as undelivered, and the pause between them.
OUTPUT_DOWNLOAD_TRIES = 2
OUTPUT_DOWNLOAD_PAUSE_SECONDS = 0.25


def _seconds(seconds: float) -> str:
    """A wait as a message says it: whole seconds, rounded up (a wait is not over before then), and never "0.0 s"
    for one that is nearly over."""
    return "less than 1 s" if seconds < 1 else f"{math.ceil(seconds)} s"


def _waits_on(walk: _Walk, candidate: Candidate) -> bool:
    """Whether this request may not ask ``candidate`` yet (see ``_Walk.waiting``)."""
    return walk.waiting.get(candidate.target, 0.0) - asyncio.get_running_loop().time() > WAIT_SLACK_SECONDS


def _is_blank(data: bytes, max_pixels: int) -> bool:
    try:
        # A blank image is blank at any scale: a reduced preview (JPEG draft mode) within the decode budget.
        pixels = decoded_pixels.preview(data, max_pixels)
    except (BadImage, DecodeBusy):
        # Not known to be blank: the judges' not_blank check still sees it.
        return False
    return float(pixels.std()) < 2.0


def _weighted_order(rank: list[Candidate]) -> list[Candidate]:
    """Candidates of one rank in a random order where each comes first in proportion to its weight."""
    # Efraimidis–Spirakis: sort by u^(1/w), a weighted sample without replacement in one pass.
    return sorted(rank, key=lambda c: random.random() ** (1.0 / (c.weight or 1.0)), reverse=True)
