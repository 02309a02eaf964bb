"""Building the provider adapters named in the routing config."""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from sentinel.providers.base import Provider
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
    timeout = config.timeout_seconds
    if config.kind == "openai":
        from sentinel.providers.openai import OpenAIProvider

        return OpenAIProvider(config.base_url, api_key, client, timeout=timeout, name=name)
    if config.kind == "google":
        from sentinel.providers.google import GoogleProvider

        return _named(GoogleProvider(config.base_url, api_key, client, timeout=timeout), name)
    if config.kind == "stability":
        from sentinel.providers.stability import StabilityProvider

        return _named(StabilityProvider(config.base_url, api_key, client, timeout=timeout), name)
    if config.kind == "replicate":
        from sentinel.providers.replicate import ReplicateProvider

        provider = ReplicateProvider(
            config.base_url, api_key, client, timeout=timeout, poll_interval=config.poll_interval_seconds
        )
        return _named(provider, name)
    from sentinel.providers.fal import FalProvider

    provider = FalProvider(
        config.base_url, api_key, client, timeout=timeout, poll_interval=config.poll_interval_seconds
    )
    return _named(provider, name)


def _named(provider: Provider, name: str) -> Provider:
    # Two entries of one kind (say, two OpenAI-compatible gateways) keep the names the routes use.
    provider.name = name
    return provider


def build_providers(config: RoutingConfig, client: httpx.AsyncClient) -> dict[str, Provider | Unconfigured]:
    return {name: build_provider(name, provider, client) for name, provider in config.providers.items()}
