"""The one small interface every image provider adapter implements, its typed outcomes, and the reading of
provider answers that is the same for every adapter (status codes, error text, base64 images, aspect ratios)."""

from __future__ import annotations

import binascii
import enum
import html
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

import httpx
import orjson
import pybase64

from sentinel.net.retry_after import asked_wait
from sentinel.net.untrusted import storable_text
from sentinel.providers.answer_json import NestedTooDeeply, json_body
from sentinel.store.images import sniff_mime


class Outcome(enum.StrEnum):
    """What a provider call came to. Every adapter maps its provider's answers onto these."""

    OK = "ok"
    #: 429 or a quota answer; ``retry_after`` holds the provider's Retry-After when it gave one.
    RATE_LIMITED = "rate_limited"
    #: 5xx, connection refused or reset, a job that failed on the provider's side.
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    #: The provider refused the prompt or the output (also when it hides in a 200: no image, a safety reason).
    CONTENT_FILTERED = "content_filtered"
    #: Our fault or the caller's (bad size, bad parameter): falling back would not help.
    INVALID_REQUEST = "invalid_request"
    #: Missing or rejected credentials.
    AUTH = "auth"
    #: The provider does not know the model (never existed, retired, shut down): the next candidate may serve the
    #: request, and this candidate is parked until the routing file changes.
    MODEL_NOT_FOUND = "model_not_found"
    #: A 200 in a shape the adapter does not recognise (contract drift): no image where the documented shape has
    #: one, and no safety signal either. The provider's fault, not a refusal; the next candidate may serve it.
    UNRECOGNISED_ANSWER = "unrecognised_answer"
    #: A finished (and billed) image our own checks refuse to take: its output address is in a network Sentinel
    #: may not fetch from (SENTINEL_FETCH_ALLOWED_NETWORKS), or it is larger than the image size cap. Delivered and
    #: refused, paid: the same every time until an operator changes the set-up, so no retry is invited and the
    #: candidate is not bought from again; the next candidate may serve.
    OUTPUT_REFUSED = "output_refused"


#: Outcomes after which the router tries the next candidate. A rejected key is the operator's to fix, and until then
#: that provider is as good as away: the next candidate serves (the call log and the attempt still say ``auth``).
FALLBACK_OUTCOMES = frozenset(
    {
        Outcome.RATE_LIMITED,
        Outcome.UNAVAILABLE,
        Outcome.TIMEOUT,
        Outcome.MODEL_NOT_FOUND,
        Outcome.UNRECOGNISED_ANSWER,
        Outcome.AUTH,
        Outcome.OUTPUT_REFUSED,
    }
)
#: Outcomes that may change if the same call is made again a little later.
TRANSIENT_OUTCOMES = frozenset({Outcome.RATE_LIMITED, Outcome.UNAVAILABLE, Outcome.TIMEOUT})
#: Outcomes after which a later pass over the route asks the same candidate again; anything else is its final word
#: for this request. Not a time-out: the call may still be running at the provider, and billed (an image model
#: charges for an image it finished after we stopped waiting), so asking again would pay and wait twice. A call that
#: never reached the provider (no connection in time) is UNAVAILABLE, and asked again.
REPEATABLE_OUTCOMES = frozenset({Outcome.RATE_LIMITED, Outcome.UNAVAILABLE})


class Operation(enum.StrEnum):
    """What a request asks of a provider: a new image, an edit of one, or a variation of one."""

    GENERATE = "generate"
    #: ``image`` (and an optional ``mask``, white = the region to change) edited as the prompt says.
    EDIT = "edit"
    #: ``image`` varied, with no prompt (OpenAI's DALL·E 2 variations).
    VARIATION = "variation"


@dataclass(frozen=True)
class OutputOptions:
    """OpenAI's optional per-model fields: the output fields, and an edit's ``input_fidelity`` and number of images.
    None means "not asked for": the provider's default applies. An adapter declares which it takes, with which values
    (``output_fields``); the gateway keeps only candidates that take every field asked for."""

    style: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    #: Edits: how much the model keeps of the input images' features (OpenAI's GPT image models: high or low).
    input_fidelity: str | None = None
    #: Edits: how many images were sent, set only when more than one (a single image every editor takes). Named as
    #: OpenAI names the field, so a refusal names ``image``.
    image: int | None = None

    def asked(self) -> dict[str, str | int]:
        """The fields the caller set, by name."""
        return {name: value for name, value in vars(self).items() if value is not None}


#: Values of OutputOptions every provider honours, because they only ask for the provider's own default.
NEUTRAL_OUTPUT_VALUES: dict[str, frozenset[str | int]] = {
    "background": frozenset({"auto"}),
    "moderation": frozenset({"auto"}),
}


def unsupported_output(options: OutputOptions, honoured: dict[str, frozenset[str | int] | None]) -> str | None:
    """The first asked-for output field an adapter cannot honour, by name; None when it honours them all.

    ``honoured`` maps a field to the values the adapter passes on (None: any value); absent fields are honoured only
    with their neutral values."""
    for name, value in options.asked().items():
        if name in honoured and (honoured[name] is None or value in (honoured[name] or ())):
            continue
        if value in NEUTRAL_OUTPUT_VALUES.get(name, ()):
            continue
        return name
    return None


@dataclass(frozen=True)
class GenerationRequest:
    """One image to make, already mapped to this candidate's parameters."""

    prompt: str
    #: The provider's own model id (e.g. "gpt-image-1", "imagen-4.0-generate-001").
    model: str
    width: int = 1024
    height: int = 1024
    #: Provider-specific parameters from the route's mapping (quality tier, aspect_ratio, steps, cfg...).
    params: dict[str, Any] = field(default_factory=dict)
    negative_prompt: str | None = None
    seed: int | None = None
    #: Edits: the source image and mask bytes (PNG), when the provider supports them.
    image: bytes | None = None
    mask: bytes | None = None
    #: Edits with several images (only adapters whose ``output_fields`` take ``image`` are sent them): the images
    #: after ``image``, in the caller's order; the mask applies to ``image``.
    more_images: tuple[bytes, ...] = ()
    user: str | None = None
    #: OpenAI's output fields (style, background, format...), passed on by adapters that honour them.
    output: OutputOptions = field(default_factory=OutputOptions)
    #: Generate, edit ``image`` or vary it; an adapter is only sent the operations its ``supports`` says it takes.
    operation: Operation = Operation.GENERATE
    #: The event loop's time (``loop.time()``) by which this call must be over, polling and all: the request's
    #: deadline, set by the router. A polling adapter stops there and cancels its job itself. None: only the
    #: provider's timeout bounds the call.
    deadline: float | None = None
    #: The model family the candidate behaves as (its routing file's ``family:``), when its name does not say it: a
    #: gateway's alias of an OpenAI model. None: the model's own name says it.
    family: str | None = None

    @property
    def behaves_as(self) -> str:
        """The model name whose rules the adapter applies: the declared family, else the model's own name."""
        return self.family or self.model


@dataclass(frozen=True)
class ProviderImage:
    """An image as the provider handed it over: bytes, or a URL we still have to download."""

    data: bytes | None = None
    url: str | None = None
    revised_prompt: str | None = None
    #: ``data``'s base64 exactly as encoding it gives (a view into the provider's answer), when the provider sent
    #: it so: an answer in ``b64_json`` passes it on instead of encoding the image again (see canonical_base64).
    base64: bytes | memoryview | None = None

    def __post_init__(self) -> None:
        # The provider's words: the revised prompt reaches the caller's answer, the URL our fetcher and its errors.
        for name in ("url", "revised_prompt"):
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, storable_text(value))


#: Every provider key an adapter of this process holds. A provider may echo the key it was sent ("Incorrect API key
#: provided: sk-…"), and its words reach the caller's error, the job's row and the call log: none may carry it.
_PROVIDER_KEYS: set[str] = set()
#: A shorter value is no key, and redacting it would eat ordinary words. Also the shortest run of a key's characters
#: redacted where only part of it is quoted (a prefix, a suffix, a key cut short).
MIN_KEY_CHARS = 8
#: Per provider key, every run of MIN_KEY_CHARS of its characters: where a quoted fragment of it may start.
_KEY_RUNS: dict[str, frozenset[str]] = {}
#: What a key, or a fragment of one, is replaced with.
KEY_REDACTED = "[provider key]"


def remember_key(key: str) -> None:
    """A provider key this process holds, from now on redacted (whole, or any run of ``MIN_KEY_CHARS`` or more of
    its characters) wherever a provider's words are kept or shown."""
    if len(key) >= MIN_KEY_CHARS and key not in _PROVIDER_KEYS:
        _KEY_RUNS[key] = frozenset(key[i : i + MIN_KEY_CHARS] for i in range(len(key) - MIN_KEY_CHARS + 1))
        _PROVIDER_KEYS.add(key)


def without_keys(text: str) -> str:
    """``text`` with every provider key of this process, and every run of ``MIN_KEY_CHARS`` or more characters of
    one (providers and gateways quote keys in part: "Incorrect API key provided: sk-proj-abc…", LiteLLM's
    "Received API Key = sk-…"), replaced by ``[provider key]``: whoever reads an error is not the key's owner."""
    # Whole keys first, the longest first: a run another key shares would otherwise cut a whole key into pieces
    # before it is seen ("sk-gw[provider key][provider key]").
    keys = sorted(_PROVIDER_KEYS, key=len, reverse=True)
    for key in keys:
        if key in text:
            text = text.replace(key, KEY_REDACTED)
    for key in keys:
        runs = _KEY_RUNS.get(key)
        if runs is None or len(text) < MIN_KEY_CHARS:
            continue
        text = _without_runs(text, key, runs)
    while KEY_REDACTED * 2 in text:
        text = text.replace(KEY_REDACTED * 2, KEY_REDACTED)
    return text


def _without_runs(text: str, key: str, runs: frozenset[str]) -> str:
    """``text`` with every longest run of ``key``'s characters (at least ``MIN_KEY_CHARS`` long) redacted."""
    kept: list[str] = []
    start = i = 0
    end = len(text) - MIN_KEY_CHARS
    while i <= end:
        if text[i : i + MIN_KEY_CHARS] not in runs:
            i += 1
            continue
        j = i + MIN_KEY_CHARS
        while j < len(text) and text[i : j + 1] in key:
            j += 1
        kept.append(text[start:i])
        kept.append(KEY_REDACTED)
        start = i = j
    if not kept:
        return text
    kept.append(text[start:])
    return "".join(kept)


@dataclass(frozen=True)
class ProviderResult:
    outcome: Outcome
    images: list[ProviderImage] = field(default_factory=list)
    #: For failures: what went wrong, in words a user can act on (includes the provider's own message).
    message: str = ""
    status_code: int | None = None
    retry_after: float | None = None
    #: The request field the provider named as wrong (OpenAI's ``param``), in OpenAI's field names.
    param: str | None = None
    #: The provider's own machine-readable error code (OpenAI's ``code``), when it gave one.
    code: str | None = None
    #: A failure after the provider finished (and billed) the work: its answer did not reach us (a finished job's
    #: result, or a made image's address, that kept failing to download). Not the provider being away: the call is
    #: logged at its price, and the same candidate is not asked again in this request, or it would bill again.
    paid: bool = False

    def __post_init__(self) -> None:
        # A provider's words are untrusted: they reach the call log (PostgreSQL refuses NUL in text, no encoder
        # writes a lone surrogate) and the caller's error, and its wait reaches a Retry-After header (``round(nan)``
        # raises).
        for name in ("message", "param", "code"):
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, storable_text(without_keys(value)))
        if self.retry_after is not None and not math.isfinite(self.retry_after):
            object.__setattr__(self, "retry_after", None)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def failure(
    outcome: Outcome, message: str, status_code: int | None = None, retry_after: float | None = None
) -> ProviderResult:
    return ProviderResult(outcome, [], message, status_code, retry_after)


#: Said of a candidate paid for an answer whose image could not be delivered: neither a later pass of the request nor
#: a later attempt of the same job calls it again (see ``RouteResult.undelivered``).
NOT_BOUGHT_AGAIN = "not bought again from this candidate"


def undelivered(failed: ProviderResult, what: str) -> ProviderResult:
    """``failed`` (the last failure to fetch ``what``, a finished job's result) re-filed as paid and undelivered: see
    :attr:`ProviderResult.paid`."""
    said = f"{what} was made and billed by the provider but could not be downloaded: {failed.message}"
    return replace(failed, paid=True, message=f"{said}; {NOT_BOUGHT_AGAIN}")


class HttpProvider:
    """What every HTTP adapter holds: where its provider is, the key, the shared client and the time limit."""

    #: The name routes know the provider by, unless the routing file names this entry otherwise.
    default_name: ClassVar[str] = ""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        client: httpx.AsyncClient,
        *,
        timeout: float = 60.0,
        name: str | None = None,
    ) -> None:
        self.name = name or self.default_name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        if api_key:
            remember_key(api_key)
        self.client = client
        self.timeout = timeout

    def cannot_honour(self, model: str, options: OutputOptions) -> str | None:
        """The first asked-for output field this adapter cannot pass on for ``model``; None when it passes them all."""
        return unsupported_output(options, self.output_fields(model))

    @classmethod
    def output_fields(cls, model: str) -> dict[str, frozenset[str | int] | None]:
        """The OutputOptions fields this adapter passes on for ``model``, with the values it takes (None: any). By
        default none, so only their neutral values are honoured: an adapter that maps a field overrides this. A class
        method: the catalog asks it of a provider that is not configured here too."""
        return {}

    @classmethod
    def supports(cls, model: str, operation: Operation) -> bool:
        """Whether this adapter can serve ``operation`` with ``model``; by default it only generates. A class
        method: the router asks it of a provider that is not configured here too."""
        return operation is Operation.GENERATE


class PollingHttpProvider(HttpProvider):
    """An adapter whose provider answers with a job to poll (Replicate, fal)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        client: httpx.AsyncClient,
        *,
        timeout: float = 60.0,
        poll_interval: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(base_url, api_key, client, timeout=timeout, name=name)
        self.poll_interval = poll_interval


class Provider(Protocol):
    """An adapter for one provider's HTTP API."""

    #: The provider's name in routes, e.g. "openai".
    name: str

    async def generate(self, request: GenerationRequest) -> ProviderResult:
        """Make one image; never raises for a provider's answer, only returns a typed result."""
        ...


def output_fields(provider: object, model: str) -> dict[str, frozenset[str | int] | None]:
    """The output fields an adapter (an instance or its class) passes on for ``model``; one that declares no
    ``output_fields`` (the local renderer) takes none but their neutral values."""
    declared = getattr(provider, "output_fields", None)
    return declared(model) if declared is not None else {}


#: The most images one edit may carry (OpenAI's GPT image models take up to 16), as an ``image`` field value.
MAX_EDIT_IMAGES = 16
#: The ``image`` values of an adapter that takes several images in one edit.
SEVERAL_IMAGES: frozenset[str | int] = frozenset(range(1, MAX_EDIT_IMAGES + 1))


def supports(provider: object, model: str, operation: Operation) -> bool:
    """Whether an adapter (an instance or its class) serves ``operation`` with ``model``; an adapter that declares
    no ``supports`` only generates."""
    declared = getattr(provider, "supports", None)
    return declared(model, operation) if declared is not None else operation is Operation.GENERATE


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The wait the provider asked for, in seconds (see :func:`sentinel.net.retry_after.asked_wait`)."""
    return asked_wait(response.headers)


def classify_http(response: httpx.Response, provider_message: str | Callable[[], str]) -> ProviderResult | None:
    """The outcome of a non-2xx answer by status code, the same for every provider; None for 2xx.

    ``provider_message`` may be a callable, read only for a failure: a success's body is megabytes of base64
    that must not be parsed once more just to build an error text nobody reads."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    message = provider_message() if callable(provider_message) else provider_message
    text = f"HTTP {status}: {message}".strip().rstrip(":")
    if status == 429:
        return failure(Outcome.RATE_LIMITED, text, status, retry_after_seconds(response))
    if status in (401, 403):
        return failure(Outcome.AUTH, text, status)
    if status == 402:
        # Payment Required: the provider's account (or a gateway's) is out of credit. Not the caller's request, and
        # nothing a retry changes until someone pays: a set-up failure, as a rejected key is, and the next candidate
        # is asked.
        return failure(Outcome.AUTH, f"{text} (the provider's account cannot pay: see its billing)", status)
    if status == 408 or status == 504:
        return failure(Outcome.TIMEOUT, text, status)
    if status in MODEL_GONE_STATUSES and not _from_the_api(response):
        # A proxy's or load balancer's page (an upstream restarting, a path being deployed) says nothing about the
        # model: filed as the provider being away (cooled down, tried again later), never as a retired model, which
        # would park the candidate until the routing file changes.
        return failure(Outcome.UNAVAILABLE, f"{text} (a page, not an answer of the provider's API)", status)
    if status >= 500:
        return failure(Outcome.UNAVAILABLE, text, status, retry_after_seconds(response))
    if status < 400:
        # A redirect (or any other non-error, non-success status) is the provider's address moving, a gateway in
        # maintenance or a wrong base_url: nothing the caller's request did, so the next candidate is asked.
        # Provider calls never follow redirects: the key would go to wherever the answer points.
        return failure(Outcome.UNAVAILABLE, _redirect_text(response, text), status)
    return failure(Outcome.INVALID_REQUEST, text, status)


def _redirect_text(response: httpx.Response, text: str) -> str:
    location = response.headers.get("location", "")[:200]
    if not location:
        return f"{text} (the provider's API answered neither an image nor an error)"
    return f"HTTP {response.status_code}: the provider's API redirects to {location} (not followed: check its base_url)"


#: Statuses with which a provider's API says a model does not exist (or no longer does).
MODEL_GONE_STATUSES = frozenset({404, 410})


def _from_the_api(response: httpx.Response) -> bool:
    """Whether an error answer is the provider's API speaking (a JSON body) rather than a page of something in
    front of it (HTML or plain text)."""
    return response.content.lstrip()[:1] in (b"{", b"[")


#: Words with which a provider's API says the model asked for is unknown: "The model `x` does not exist",
#: "models/imagen-… is not found", fal's "Application '…' not found", Azure's "The API deployment … does not
#: exist". A 404 naming none of them is about the address: Kong's "no Route matched with those values" while a
#: route deploys, OpenAI's "Invalid URL (POST …)" for a wrong base_url, a framework's bare "Not Found".
MODEL_WORDS = re.compile(r"\b(models?|application|app|deployments?|engines?|versions?)\b", re.IGNORECASE)


def says_model_gone(failed: ProviderResult, *, model_in_path: bool = False) -> bool:
    """Whether a failure is the provider's API answering 404 or 410 about the model it was asked for: its answer
    names a model, or the request's URL does (``model_in_path``: Replicate's and Stability's model paths, whose own
    404 says only "not found")."""
    return _api_not_found(failed) and (model_in_path or MODEL_WORDS.search(failed.message) is not None)


def read_not_found(failed: ProviderResult, *, model_in_path: bool = False) -> ProviderResult | None:
    """A 404 or 410 of the provider's API re-filed: the model not found (parked) when it is about the model (see
    :func:`says_model_gone`), else the provider away (fallback, cool-down, asked again later), since parking a
    candidate on a gateway's passing 404 would keep it out until the routing file changes. None for any other
    failure."""
    if not _api_not_found(failed):
        return None
    if says_model_gone(failed, model_in_path=model_in_path):
        return model_not_found(failed)
    note = "names no model: a wrong base_url path or a gateway in front of the API; asked again after its cool-down"
    return replace(failed, outcome=Outcome.UNAVAILABLE, message=f"{failed.message} ({note})")


def _api_not_found(failed: ProviderResult) -> bool:
    """A 404 or 410 in the provider API's own words (a page in front of it is filed as away by classify_http)."""
    return failed.status_code in MODEL_GONE_STATUSES and failed.outcome is not Outcome.UNAVAILABLE


def model_not_found(failed: ProviderResult) -> ProviderResult:
    """A failure re-filed as the provider saying it does not know (or no longer serves) the model."""
    return replace(failed, outcome=Outcome.MODEL_NOT_FOUND, images=[], message=f"model not found: {failed.message}")


def transport_failure(exc: httpx.HTTPError, provider: str) -> ProviderResult:
    """Connection-level failures: timeouts of a call that was sent are TIMEOUT, everything else UNAVAILABLE."""
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        # Nothing was sent: the provider runs (and bills) nothing, so this is a provider away, not a stalled call.
        return failure(Outcome.UNAVAILABLE, f"{provider} could not be reached in time ({type(exc).__name__})")
    if isinstance(exc, httpx.TimeoutException):
        return failure(Outcome.TIMEOUT, f"{provider} did not answer in time ({type(exc).__name__})")
    return failure(Outcome.UNAVAILABLE, f"{provider} could not be reached: {type(exc).__name__}: {exc}")


def error_message(response: httpx.Response) -> str:
    """The provider's own error text, from the JSON shapes providers use, else the start of the body; keys are
    redacted before it is cut (a cut through an echoed key would leave its start)."""
    return without_keys(_error_text(response))[:300]


def _error_text(response: httpx.Response) -> str:
    try:
        # Read as every provider answer is: a body nested 200000 deep is unreadable, never a RecursionError (a 500).
        body = json_body(response)
    except NestedTooDeeply as exc:
        return f"an error answer whose body is not readable ({exc})"
    except ValueError:
        return page_text(response.text[:20_000])[:1000]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            text = _as_text(error.get("message") or error.get("status") or error)[:1000]
            return f"{text} (param '{error['param']}')" if error.get("param") else text
        if isinstance(error, str):
            return error[:1000]
        for key in ("message", "detail", "name", "errors"):
            if key in body:
                return _as_text(body[key])[:1000]
    return _as_text(body)[:1000]


def _as_text(value: Any) -> str:
    """A value of an error body as the operator reads it: a string as it is, anything else as JSON (a FastAPI 422's
    ``detail`` list), never as a Python repr."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(value)


_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HTML_NOISE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


def page_text(text: str) -> str:
    """A body that is not JSON, as a message quotes it: an HTML page (a proxy's 502 or 503) by its title, else its
    words without the markup, so nginx's page reads "503 Service Temporarily Unavailable (an HTML page)"; any other
    text as it came."""
    stripped = text.strip()
    lowered = stripped[:2000].lower()
    if not stripped.startswith("<") or not any(tag in lowered for tag in ("<html", "<title", "<body")):
        return stripped
    title = _HTML_TITLE.search(stripped)
    words = title[1] if title else _HTML_TAG.sub(" ", _HTML_NOISE.sub(" ", stripped))
    words = _SPACES.sub(" ", html.unescape(words)).strip()
    return f"{words[:200]} (an HTML page)" if words else "an HTML page"


def canonical_base64(encoded: bytes | memoryview, data: bytes) -> bool:
    """Whether ``encoded``, which decoded strictly (``validate=True``: only the alphabet, padding only at the end)
    to ``data``, is exactly ``b64encode(data)``. A strict decode leaves one freedom, the unused low bits of the
    last group (``QR==`` decodes as ``QQ==`` does), so its length and its last four characters settle it."""
    if len(encoded) != 4 * ((len(data) + 2) // 3):
        return False
    if not data:
        return True
    tail = len(data) % 3 or 3
    return pybase64.b64encode(data[-tail:]) == encoded[-4:]


def decode_base64(value: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not (protobuf JSON accepts all four), ignoring line breaks, and the
    payload of a base64 ``data:`` URI sent where bare base64 belongs; None when it does not decode.

    None rather than an exception: a provider sending bad base64 is a failed answer each caller reports in its own
    words, not a crash.
    """
    try:
        # The usual answer, standard base64 on one line, decodes without a copy (SIMD: ~60 µs for 1 MiB).
        return pybase64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        pass
    compact = "".join(value.split())
    if compact[:5].lower() == "data:":
        # Gateways that wrap every image as a data URI do so in ``b64_json`` too (``data:image/png;base64,…``).
        header, comma, compact = compact.partition(",")
        if not comma or not header.lower().endswith(";base64"):
            return None
    # Padding carries no data: a strict decoder wants it, protobuf JSON and some gateways leave it out.
    compact = compact.rstrip("=")
    compact += "=" * (-len(compact) % 4)
    altchars = b"-_" if ("-" in compact or "_" in compact) else None
    try:
        return pybase64.b64decode(compact, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None


def image_from_bytes(data: bytes) -> ProviderImage | ProviderResult:
    """Bytes a provider sent as its image, or the UNRECOGNISED_ANSWER failure when they are empty or no image we can
    store: an answer that can never be an image is the same on every pass, so the candidate is not asked again for
    this request (and the next one may serve it)."""
    # What the provider says the type is does not matter: the bytes decide, and bytes that are no image are no success.
    if not data:
        return failure(Outcome.UNRECOGNISED_ANSWER, "provider answered 200 with an empty image", 200)
    if sniff_mime(data) is None:
        return failure(
            Outcome.UNRECOGNISED_ANSWER, "provider returned bytes that are not a PNG, JPEG, WebP or GIF image", 200
        )
    return ProviderImage(data=data)


def image_from_base64(encoded: str) -> ProviderImage | ProviderResult:
    """A base64 image from a 200 answer, or the UNRECOGNISED_ANSWER failure saying what was wrong with it (see
    :func:`image_from_bytes`)."""
    data = decode_base64(encoded)
    if data is None:
        return failure(Outcome.UNRECOGNISED_ANSWER, "provider returned undecodable base64", 200)
    return image_from_bytes(data)


def nearest_aspect_ratio(width: int, height: int, choices: tuple[str, ...]) -> str:
    """The supported ratio closest to width:height, compared on a log scale so 2:1 and 1:2 are equally far.

    Ties go to the earlier entry of ``choices``; a degenerate size asks for a square.
    """
    if width <= 0 or height <= 0:
        return "1:1"
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = (int(part) for part in ratio.split(":"))
        return abs(math.log(w / h) - target)

    return min(choices, key=distance)
