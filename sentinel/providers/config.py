"""The routing configuration: providers, public models with their candidate lists, aliases, parked models."""

from __future__ import annotations

import hashlib
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from sentinel.errors import ConfigError
from sentinel.yamlfile import read_yaml

#: The routing file shipped with Sentinel; ``SENTINEL_ROUTES`` replaces it.
DEFAULT_ROUTES = Path(__file__).with_name("routes.yaml")
ProviderKind = Literal["local", "openai", "google", "stability", "replicate", "fal"]
SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
#: The OpenAI model families a candidate of an ``openai`` provider may declare it behaves as (``family:``): each is
#: the start of its models' names (the gpt-image-2 family is the whole 2.x line), so the adapter applies a family's
#: rules (edits, variations, ``image[]``, ``response_format``, output fields, ``input_fidelity``) exactly as it does
#: to a model named so. A gateway's alias (LiteLLM, Azure deployments, a company's own) is named anything.
OPENAI_FAMILIES = ("gpt-image-2", "gpt-image-1.5", "gpt-image-1-mini", "gpt-image-1", "dall-e-3", "dall-e-2")
#: A fal model id: "namespace/app" with optional subpaths, e.g. "fal-ai/flux/dev"; no empty, "." or ".." segments.
FAL_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)+$")
#: Provider kinds whose ``base_url`` may carry a query string, kept on every call (the path goes before it): an
#: Azure OpenAI deployment's ``?api-version=…``. The other adapters' URLs take no query of the operator's.
QUERY_KINDS = frozenset({"openai"})
#: How an ``openai`` provider sends its key: ``authorization`` (``Authorization: Bearer <key>``: OpenAI and most
#: OpenAI-compatible APIs) or ``api-key`` (``api-key: <key>``: Azure OpenAI's key authentication).
AuthHeader = Literal["authorization", "api-key"]
#: Provider kinds whose key header the routing file may choose (``auth_header``); the others send theirs as their
#: API documents it.
AUTH_HEADER_KINDS = frozenset({"openai"})


class BreakerConfig(BaseModel):
    """When a provider's candidates cool down after failures without a Retry-After (the circuit breaker)."""

    model_config = ConfigDict(extra="forbid")

    #: Failures (429, 5xx, timeouts) within ``window_seconds`` that open the breaker.
    failure_threshold: int = Field(3, ge=1, le=100)
    window_seconds: float = Field(60.0, gt=0, le=3600)
    #: How long an opened breaker stays open when the provider gave no Retry-After.
    cooldown_seconds: float = Field(30.0, gt=0, le=3600)
    #: Upper bound on the breaker's own cool-down; a provider's Retry-After is binding (up to an hour), never cut.
    max_cooldown_seconds: float = Field(300.0, gt=0, le=3600)


class ProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ProviderKind
    base_url: str | None = None
    #: Name of the environment variable holding the key; keys never live in files.
    api_key_env: str | None = None
    #: How the key is sent (``openai`` providers only; see AuthHeader): ``api-key`` for Azure OpenAI. Left out of the
    #: dump when it is the default, so the routing's fingerprint (parked candidates are filed under it) is what it was.
    auth_header: AuthHeader = Field(default="authorization", exclude_if=lambda header: header == "authorization")
    timeout_seconds: float = Field(120.0, gt=0, le=600)
    poll_interval_seconds: float = Field(1.0, gt=0, le=30)
    #: This provider's circuit breaker; the defaults when unset.
    circuit_breaker: BreakerConfig | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, base_url: str | None, info: ValidationInfo) -> str | None:
        """An absolute http(s) URL with a host, no credentials and no fragment: anything else loaded fine and then
        failed every call (an unsupported protocol, httpx refusing credentials beside the key's header, a password
        quoted in every error). A query only for the kinds that keep it (QUERY_KINDS)."""
        if base_url is None:
            return None
        try:
            url = httpx.URL(base_url.strip())
        except httpx.InvalidURL as exc:
            # Its words, not the value: the value may hold a password.
            raise ValueError(f"is not a URL: {exc}") from None
        if url.scheme not in ("http", "https"):
            got = f"not '{url.scheme}:'" if url.scheme else "it has no scheme"
            raise ValueError(f"must start with http:// or https:// (e.g. https://api.openai.com/v1); {got}")
        if not url.host:
            raise ValueError("names no host (e.g. https://api.openai.com/v1)")
        if url.userinfo:
            # Never echoed: it holds a password.
            raise ValueError(
                "holds credentials (user:password@), which are not supported: put the key in the environment "
                "variable api_key_env names"
            )
        if url.fragment:
            raise ValueError(f"has a fragment ('#{url.fragment[:40]}'), which no API call keeps")
        kind = info.data.get("kind")
        if url.query and kind not in QUERY_KINDS:
            raise ValueError(
                f"has a query string ('?{url.query.decode()[:80]}'), which a `{kind}` provider's calls do not keep; "
                "only an `openai` provider's is (an Azure OpenAI deployment's ?api-version=)"
            )
        # As written: the routing's fingerprint (parked candidates are filed under it) is made of it.
        return base_url

    @field_validator("auth_header")
    @classmethod
    def _auth_header(cls, auth_header: AuthHeader, info: ValidationInfo) -> AuthHeader:
        kind = info.data.get("kind")
        if auth_header != "authorization" and kind not in AUTH_HEADER_KINDS:
            raise ValueError(
                f"is for an `openai` provider (Azure OpenAI's `api-key` header); a `{kind}` provider sends its key as "
                "its API documents"
            )
        return auth_header


class Candidate(BaseModel):
    """One provider:model a public model can be served by, with how to map the request onto it."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(pattern=r"^[a-z0-9_-]+:.+$", description="provider:model")
    #: Extra parameters always sent to this candidate (steps, guidance, ...).
    params: dict[str, Any] = Field(default_factory=dict)
    #: Requested size → this candidate's size ("WxH") or parameters ({aspect_ratio: "16:9"}); unlisted sizes skip it.
    sizes: dict[str, str | dict[str, Any]] | None = None
    #: Requested quality tier → this candidate's parameters.
    quality: dict[str, dict[str, Any]] | None = None
    #: Estimated USD per image on this candidate; the route's cost_per_image when unset.
    cost_per_image: float | None = Field(default=None, ge=0)
    #: Prices by requested "SIZE/QUALITY", "SIZE" or "*/QUALITY" (first match wins), e.g. {"1024x1024/hd": 0.08}.
    prices: dict[str, float] = Field(default_factory=dict)
    #: Share of traffic among neighbouring candidates that all set a weight: such a run of candidates is one rank,
    #: ordered anew for every request, each first in proportion to its weight (the others follow as fallbacks).
    weight: float | None = Field(default=None, gt=0, le=1000)
    #: The OpenAI model family this model behaves as (one of OPENAI_FAMILIES), for an ``openai`` provider whose
    #: model name does not say it (a gateway's alias). Unset: the family its name starts with, if any. Left out of
    #: the dump when unset, so the routing's fingerprint (under which parked candidates are filed) is what it was.
    family: str | None = Field(default=None, exclude_if=lambda family: family is None)

    @property
    def provider(self) -> str:
        return self.target.split(":", 1)[0]

    @property
    def model(self) -> str:
        return self.target.split(":", 1)[1]

    @property
    def behaves_as(self) -> str:
        """The model name whose rules the adapter applies (what it supports, the fields it sends): the declared
        family, else the model's own name."""
        return self.family or self.model

    @field_validator("family")
    @classmethod
    def _family(cls, family: str | None) -> str | None:
        if family is not None and family not in OPENAI_FAMILIES:
            raise ValueError(f"unknown family '{family}'; one of: {', '.join(OPENAI_FAMILIES)}")
        return family


class ModelRoute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    candidates: list[Candidate] = Field(min_length=1)
    #: Also fall back when a provider's content filter refuses the prompt (not all routes want that).
    fallback_on_content_filter: bool = False
    #: A job's regeneration starts at the next candidate (attempt 2 at the second, ...): a red result
    #: is often the model's habit, not bad luck.
    rotate_on_regenerate: bool = False
    #: ``configured``: the candidates as listed (weighted neighbours sharing first choice). ``quality``: a request
    #: with a task (a job, a judged gateway request) tries first the candidates whose recent images for that task were
    #: green most often (sentinel/providers/quality.py); requests without a task keep the configured order.
    order: Literal["configured", "quality"] = "configured"
    #: Sizes callers may ask for; the first is the default.
    sizes: list[str] = Field(default_factory=lambda: ["1024x1024", "1792x1024", "1024x1792"])
    #: Quality tiers callers may ask for. Unset: every tier some candidate maps (``quality:``), so a route whose
    #: candidates map none takes no quality; listed: each must be mapped by at least one candidate.
    qualities: list[str] = Field(default_factory=list)
    #: Estimated USD per image for the call log and the dashboard.
    cost_per_image: float = Field(0.0, ge=0)
    #: The most one image of this route may take, all passes and candidates together; a request's own
    #: ``sentinel.deadline_seconds`` can only shorten it.
    deadline_seconds: float | None = Field(default=None, gt=0, le=3600)

    def unpriced(self, providers: dict[str, ProviderConfig]) -> list[str]:
        """The targets of this route's candidates on a paid provider (any kind but ``local``) whose price is set
        nowhere, neither on them nor as the route's ``cost_per_image``: spend caps and cost reports count them $0."""
        if "cost_per_image" in self.model_fields_set:
            return []
        return [
            c.target
            for c in self.candidates
            if providers[c.provider].kind != "local" and c.cost_per_image is None and not c.prices
        ]

    def price(self, candidate: Candidate, size: str, quality: str | None) -> float:
        """Estimated USD for one image of this size and quality on this candidate."""
        tier = quality or "standard"
        for key in (f"{size}/{tier}", size, f"*/{tier}"):
            if key in candidate.prices:
                return candidate.prices[key]
        return candidate.cost_per_image if candidate.cost_per_image is not None else self.cost_per_image

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, sizes: list[str]) -> list[str]:
        for size in sizes:
            if not SIZE.match(size):
                raise ValueError(f"size '{size}' must look like 1024x1024")
        return sizes

    @model_validator(mode="after")
    def _qualities(self) -> ModelRoute:
        # A tier no candidate maps would be accepted and then silently ignored by every provider.
        mapped = list(dict.fromkeys(tier for c in self.candidates for tier in (c.quality or {})))
        if "qualities" not in self.model_fields_set:
            self.qualities = mapped
            return self
        unmapped = [tier for tier in self.qualities if tier not in mapped]
        if unmapped:
            raise ValueError(
                f"qualities {unmapped} are mapped by no candidate (a candidate's `quality:` maps a tier to its "
                f"parameters); mapped: {mapped or 'none'}"
            )
        return self


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: dict[str, ProviderConfig]
    models: dict[str, ModelRoute] = Field(min_length=1)
    default_model: str
    aliases: dict[str, str] = Field(default_factory=dict)
    #: Models that are known but never tried, with the reason a caller is given.
    parked: dict[str, str] = Field(default_factory=dict)
    #: Task → the public model that suits it (a text-heavy task → a model good at typography).
    task_models: dict[str, str] = Field(default_factory=dict)
    #: Walks over a route's candidates before giving up, when every failure was transient (429, 5xx, timeout).
    max_passes: int = Field(2, ge=1, le=5)
    #: When every candidate left waits on its provider's Retry-After, a request waits this long at most for the
    #: earliest to pass (then calls it) before answering 429 with that Retry-After instead.
    max_retry_wait_seconds: float = Field(2.0, ge=0, le=60)

    def unpriced(self) -> list[str]:
        """``model → provider:model`` of every candidate on a paid provider (any kind but ``local``) whose price is
        set nowhere: neither its own ``cost_per_image``/``prices`` nor its route's ``cost_per_image``. Spend caps and
        cost reports count its images as $0."""
        return [
            f"{name} → {target}" for name, route in self.models.items() for target in route.unpriced(self.providers)
        ]

    @cached_property
    def fingerprint(self) -> str:
        """Names this routing as written: parked candidates are filed under it, so a changed file starts afresh."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    @model_validator(mode="after")
    def _references(self) -> RoutingConfig:
        families: dict[str, tuple[str | None, str]] = {}
        for name, route in self.models.items():
            for index, candidate in enumerate(route.candidates):
                loc = ("models", name, "candidates", index)
                if candidate.provider not in self.providers:
                    raise _located(
                        (*loc, "target"),
                        f"unknown provider '{candidate.provider}'; known: {', '.join(self.providers)}",
                    )
                kind = self.providers[candidate.provider].kind
                if kind == "fal" and not FAL_MODEL_ID.match(candidate.model):
                    # Found on load, not as every caller's 400 for a mistake in this file.
                    raise _located(
                        (*loc, "target"),
                        f"fal model id '{candidate.model}' is not like 'fal-ai/flux/dev' (namespace/app[/path])",
                    )
                if candidate.family is not None and kind != "openai":
                    raise _located(
                        (*loc, "family"),
                        f"only a candidate of an `openai` provider (an OpenAI-compatible API) has an OpenAI family; "
                        f"'{candidate.provider}' is `{kind}`",
                    )
                # One model of one provider behaves one way, whichever route lists it (a pinned candidate is the
                # first listing's).
                where = f"models.{name}.candidates[{index}]"
                first, first_where = families.setdefault(candidate.target, (candidate.family, where))
                if first != candidate.family:
                    raise _located(
                        (*loc, "family"),
                        f"{candidate.target} behaves as {candidate.family or 'its name says'} here and as "
                        f"{first or 'its name says'} at {first_where}; give every listing of it the same family",
                    )
        for alias, target in self.aliases.items():
            if target not in self.models:
                raise _located(("aliases", alias), f"points to unknown model '{target}'")
        for task, model in self.task_models.items():
            if model not in self.models:
                raise _located(("task_models", task), f"unknown model '{model}'")
        if self.default_model not in self.models:
            raise _located(("default_model",), f"'{self.default_model}' is not one of models")
        return self


def _located(loc: tuple[str | int, ...], message: str) -> ValidationError:
    """A check across fields as an error at ``loc``, so the routing file's error names that field and its line."""
    error = PydanticCustomError("routing", "{message}", {"message": message})
    return ValidationError.from_exception_data("RoutingConfig", [InitErrorDetails(type=error, loc=loc, input=None)])


def load_routing(path: Path | None = None) -> RoutingConfig:
    path = path or DEFAULT_ROUTES
    if not path.is_file():
        raise ConfigError(f"routing file {path} does not exist")
    return read_yaml(path).validate(RoutingConfig)
