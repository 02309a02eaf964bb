"""Asking each configured provider whether the models the routing file names still exist.

Every provider has its own way of saying which models it serves (checked 2026-12-05 against each one's reference):
OpenAI lists them at ``GET /v1/models``; the Gemini API at ``GET /v1beta/models`` (paged, each with the methods it
supports); Replicate describes one model at ``GET /v1/models/{owner}/{name}`` (and one version under
``/versions/{id}``), answering 404 for a model it does not have; fal's Platform API finds an endpoint at
``GET https://api.fal.ai/v1/models?endpoint_id=...`` (https://docs.fal.ai/platform-apis/v1/models), with its status
(``active`` or ``deprecated``). Stability AI's v2beta Stable Image API publishes no listing (its v1 engines list
does not name the v2beta services), so its candidates are "not checkable". The offline ``local`` renderer always
exists.
"""

from __future__ import annotations

import asyncio
import enum
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from sentinel.providers.answer_json import json_body
from sentinel.providers.base import error_message
from sentinel.providers.config import ProviderConfig, RoutingConfig
from sentinel.providers.openai import key_headers

#: Pages of Google's model list read at most (1000 models a page): a runaway page token cannot loop forever.
MAX_GOOGLE_PAGES = 20
#: fal's Platform API, where its model search lives (its queue, the adapter's base URL, has no listing).
FAL_PLATFORM_MODELS = "https://api.fal.ai/v1/models"


class Availability(enum.StrEnum):
    """What a provider's own listing says of one candidate's model."""

    LISTED = "listed"
    #: The provider does not list the model (never existed, retired, shut down): calls to it will fail.
    MISSING = "missing"
    #: Listed, but marked deprecated: it still answers, and will not for long.
    DEPRECATED = "deprecated"
    #: The provider publishes no listing to ask.
    NOT_CHECKABLE = "not checkable"
    #: The provider cannot be called here (no key): nothing to check.
    NOT_CONFIGURED = "not configured"
    #: The listing could not be read (unreachable, key refused, an error): not known either way.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CandidateCheck:
    """One candidate (provider:model) of the routing file, with what its provider's listing says of it."""

    target: str
    provider: str
    model: str
    #: The public models (routes) this candidate serves.
    routes: tuple[str, ...]
    state: Availability
    detail: str = ""

    @property
    def missing(self) -> bool:
        return self.state is Availability.MISSING

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"routes": list(self.routes), "state": self.state.value}


#: What a provider's listing says of each asked model: model → (state, detail).
Verdicts = dict[str, tuple[Availability, str]]


class _ListingFailed(Exception):
    """The listing could not be read; the message says why, in words an operator can act on."""


async def check_candidates(
    config: RoutingConfig,
    client: httpx.AsyncClient,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[CandidateCheck]:
    """Every candidate of every route, once, with what its provider's listing says of its model (providers asked
    concurrently, one listing per provider where the provider has one)."""
    environ = os.environ if environ is None else environ
    routes_of: dict[str, list[str]] = {}
    for name, route in config.models.items():
        for candidate in route.candidates:
            routes_of.setdefault(candidate.target, []).append(name)
    models_of: dict[str, list[str]] = {}
    for target in routes_of:
        provider, model = target.split(":", 1)
        models_of.setdefault(provider, []).append(model)

    async def verdicts_of(provider: str) -> Verdicts:
        settings = config.providers[provider]
        models = models_of[provider]
        key = environ.get(settings.api_key_env) if settings.api_key_env else None
        if settings.kind == "local":
            return dict.fromkeys(models, (Availability.LISTED, "built in"))
        if settings.kind == "stability":
            return dict.fromkeys(
                models, (Availability.NOT_CHECKABLE, "Stability AI publishes no model listing for its v2beta API")
            )
        if settings.api_key_env and not key:
            return dict.fromkeys(models, (Availability.NOT_CONFIGURED, f"{settings.api_key_env} is not set"))
        if not settings.base_url:
            return dict.fromkeys(models, (Availability.NOT_CONFIGURED, "no base_url in the routing config"))
        ask = _LISTERS[settings.kind]
        try:
            return await ask(client, settings, key, models)
        except _ListingFailed as exc:
            return dict.fromkeys(models, (Availability.UNKNOWN, str(exc)))

    providers = list(models_of)
    answers = await asyncio.gather(*(verdicts_of(provider) for provider in providers))
    verdicts = dict(zip(providers, answers, strict=True))
    checks = []
    for target, routes in routes_of.items():
        provider, model = target.split(":", 1)
        state, detail = verdicts[provider][model]
        checks.append(CandidateCheck(target, provider, model, tuple(routes), state, detail))
    return checks


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    """A GET whose transport failure or refused key is a ``_ListingFailed``; other statuses are the caller's."""
    try:
        response = await client.get(url, headers=headers, params=params or None)
    except httpx.HTTPError as exc:
        raise _ListingFailed(f"the listing could not be read: {type(exc).__name__}: {exc}".rstrip(": ")) from exc
    if response.status_code in (401, 403):
        raise _ListingFailed(f"the key was refused (HTTP {response.status_code}): {error_message(response)}")
    return response


def _failed(response: httpx.Response) -> _ListingFailed:
    return _ListingFailed(f"the listing answered HTTP {response.status_code}: {error_message(response)}")


def _json(response: httpx.Response) -> Any:
    try:
        return json_body(response)  # a body nested too deeply to read is no JSON either, never a RecursionError
    except ValueError as exc:
        raise _ListingFailed(f"the listing answered HTTP {response.status_code} with a body that is not JSON") from exc


async def _openai(client: httpx.AsyncClient, settings: ProviderConfig, key: str | None, models: list[str]) -> Verdicts:
    headers = key_headers(key, settings.auth_header)
    # The path before the base URL's query: an Azure OpenAI deployment's ``?api-version=`` is kept (see openai.py).
    base = httpx.URL(settings.base_url or "")
    response = await _get(client, str(base.copy_with(path=base.path.rstrip("/") + "/models")), headers)
    if not response.is_success:
        raise _failed(response)
    body = _json(response)
    listed = body.get("data") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        raise _ListingFailed("the listing has no `data` list")
    ids = {str(item.get("id")) for item in listed if isinstance(item, dict)}
    return {
        model: (Availability.LISTED, "") if model in ids else (Availability.MISSING, "not in GET /v1/models")
        for model in models
    }


async def _google(client: httpx.AsyncClient, settings: ProviderConfig, key: str | None, models: list[str]) -> Verdicts:
    headers = {"x-goog-api-key": key} if key else {}
    url = f"{(settings.base_url or '').rstrip('/')}/v1beta/models"
    methods: dict[str, list[str]] = {}
    token: str | None = None
    for _ in range(MAX_GOOGLE_PAGES):
        params: dict[str, Any] = {"pageSize": 1000} | ({"pageToken": token} if token else {})
        response = await _get(client, url, headers, **params)
        if not response.is_success:
            raise _failed(response)
        body = _json(response)
        for item in body.get("models") or [] if isinstance(body, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                supported = item.get("supportedGenerationMethods")
                methods[item["name"].removeprefix("models/")] = supported if isinstance(supported, list) else []
        token = body.get("nextPageToken") if isinstance(body, dict) else None
        if not token:
            break
    verdicts: Verdicts = {}
    for model in models:
        name = model.removeprefix("models/")
        # The method the adapter calls: Imagen predicts, every Gemini image model generates content.
        needed = "predict" if name.lower().startswith("imagen") else "generateContent"
        if name not in methods:
            verdicts[model] = (Availability.MISSING, "not in GET /v1beta/models")
        elif needed not in methods[name]:
            verdicts[model] = (Availability.MISSING, f"listed, but without {needed} (the method Sentinel calls)")
        else:
            verdicts[model] = (Availability.LISTED, "")
    return verdicts


async def _replicate(
    client: httpx.AsyncClient, settings: ProviderConfig, key: str | None, models: list[str]
) -> Verdicts:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    base = (settings.base_url or "").rstrip("/")

    async def one(model: str) -> tuple[Availability, str]:
        name, _, version = model.partition(":")
        path = f"/v1/models/{name}" + (f"/versions/{version}" if version else "")
        response = await _get(client, f"{base}{path}", headers)
        if response.status_code == 404:
            return Availability.MISSING, f"GET {path} answered 404"
        if not response.is_success:
            raise _failed(response)
        return Availability.LISTED, ""

    return dict(zip(models, await asyncio.gather(*(one(m) for m in models)), strict=True))


def fal_listing_url(base_url: str) -> str:
    """fal's model search: its Platform API for fal's own queue host, else the same host (a proxy or a fake)."""
    host = urlsplit(base_url).hostname or ""
    if host == "fal.run" or host.endswith(".fal.run"):
        return FAL_PLATFORM_MODELS
    return f"{base_url.rstrip('/')}/v1/models"


async def _fal(client: httpx.AsyncClient, settings: ProviderConfig, key: str | None, models: list[str]) -> Verdicts:
    headers = {"Authorization": f"Key {key}"} if key else {}
    url = fal_listing_url(settings.base_url or "")

    async def one(model: str) -> tuple[Availability, str]:
        response = await _get(client, url, headers, endpoint_id=model)
        if response.status_code == 404:
            return Availability.MISSING, "fal's model search does not know it"
        if not response.is_success:
            raise _failed(response)
        body = _json(response)
        found = [
            item
            for item in (body.get("models") or [] if isinstance(body, dict) else [])
            if isinstance(item, dict) and item.get("endpoint_id") == model
        ]
        if not found:
            return Availability.MISSING, "fal's model search does not list it"
        metadata = found[0].get("metadata") if isinstance(found[0].get("metadata"), dict) else {}
        if str(metadata.get("status", "")).lower() == "deprecated":
            return Availability.DEPRECATED, "fal marks it deprecated"
        return Availability.LISTED, ""

    return dict(zip(models, await asyncio.gather(*(one(m) for m in models)), strict=True))


_LISTERS: dict[str, Callable[[httpx.AsyncClient, ProviderConfig, str | None, list[str]], Awaitable[Verdicts]]] = {
    "openai": _openai,
    "google": _google,
    "replicate": _replicate,
    "fal": _fal,
}
