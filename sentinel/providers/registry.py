"""Building the provider adapters named in the routing config."""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from sentinel.providers.base import HttpProvider, PollingHttpProvider, Provider
from sentinel.providers.config import ProviderConfig, RoutingConfig


@dataclass(frozen=True)
class Unconfigured:
    """A provider that cannot be called here, and why (a missing key)."""

    name: str
    reason: str


def build_provider(name: str, config: ProviderConfig, client: httpx.AsyncClient) -> Provider | Unconfigured:
    api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
    if config.kind == "local":
        from sentinel.providers.local import LocalProvider

        return LocalProvider(name)
    if config.api_key_env and not api_key:
        return Unconfigured(name, f"{config.api_key_env} is not set")
    if not config.base_url:
        return Unconfigured(name, "no base_url in the routing config")
    adapter = _adapter(config.kind)
    if issubclass(adapter, PollingHttpProvider):
        return adapter(
            config.base_url,
            api_key,
            client,
            timeout=config.timeout_seconds,
            poll_interval=config.poll_interval_seconds,
            name=name,
        )
    if config.kind == "openai":
        from sentinel.providers.openai import OpenAIProvider

        return OpenAIProvider(
            config.base_url, api_key, client, timeout=config.timeout_seconds, name=name, auth_header=config.auth_header
        )
    return adapter(config.base_url, api_key, client, timeout=config.timeout_seconds, name=name)


def adapter_class(kind: str) -> type:
    """The adapter class for a provider kind, asked what it supports (``supports``) without building it."""
    if kind == "local":
        from sentinel.providers.local import LocalProvider

        return LocalProvider
    return _adapter(kind)


def _adapter(kind: str) -> type[HttpProvider]:
    # Imported on demand: a deployment pays only for the adapters its routing file names.
    if kind == "openai":
        from sentinel.providers.openai import OpenAIProvider

        return OpenAIProvider
    if kind == "google":
        from sentinel.providers.google import GoogleProvider

        return GoogleProvider
    if kind == "stability":
        from sentinel.providers.stability import StabilityProvider

        return StabilityProvider
    if kind == "replicate":
        from sentinel.providers.replicate import ReplicateProvider

        return ReplicateProvider
    from sentinel.providers.fal import FalProvider

    return FalProvider


def build_providers(config: RoutingConfig, client: httpx.AsyncClient) -> dict[str, Provider | Unconfigured]:
    return {name: build_provider(name, provider, client) for name, provider in config.providers.items()}
