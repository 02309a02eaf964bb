"""What the adapter contract tests share: running an adapter once, and the checks every adapter's tests make alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
from starlette.applications import Starlette

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.base import GenerationRequest, Outcome, Provider, ProviderResult
from sentinel.store.images import sniff_mime
from sentinel_fakes.server import Script, free_port

#: The prompt an adapter test sends unless it says otherwise (expected request bodies spell it out).
PROMPT = "a red bicycle"

#: A fake provider's ``create_app``: the Starlette app answering as its ``Script`` says.
FakeApp = Callable[[Script], Starlette]


class RunningFake(NamedTuple):
    """A fake provider serving on 127.0.0.1: its base URL and the script it answers by."""

    url: str
    script: Script


#: Builds the adapter under test for a base URL, on the given client, with the given timeout.
BuildAdapter = Callable[[str, httpx.AsyncClient, float], Provider]


class AdapterRunner:
    """An adapter's ``generate``, run once to completion from synchronous test code on a fresh client.

    ``generate(base, width=..., seed=...)`` sends ``PROMPT`` to the module's default model unless told otherwise;
    ``transport`` swaps the network for an in-memory provider, for answers no fake gives.
    """

    def __init__(self, build: BuildAdapter, model: str) -> None:
        self._build = build
        self.model = model

    def __call__(
        self,
        base: str,
        *,
        model: str | None = None,
        prompt: str = PROMPT,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        **request_fields: Any,
    ) -> ProviderResult:
        request = GenerationRequest(prompt=prompt, model=self.model if model is None else model, **request_fields)

        async def call() -> ProviderResult:
            # The production client, unless the test swapped the network for an in-memory provider.
            client = provider_client(HTTP_LIMITS, httpx.Timeout(timeout))
            if transport is not None:
                client = httpx.AsyncClient(transport=transport)
            async with client:
                return await self._build(base, client, timeout).generate(request)

        return asyncio.run(call())


def closed_port_url() -> str:
    """The base URL of a port nothing listens on: every adapter must make a refused connection UNAVAILABLE."""
    return f"http://127.0.0.1:{free_port()}"


def assert_typed_failure(result: ProviderResult, behaviour: str, outcome: Outcome, words: str) -> None:
    """A scripted failure came back as ``outcome``, naming ``words``, without images; a 'rate_limit' answer also
    passes on the fake's Retry-After (``Script.retry_after``, 1 s)."""
    assert result.outcome is outcome
    assert words in result.message
    assert not result.images
    if behaviour == "rate_limit":
        assert result.retry_after == 1.0


def assert_serves_png(url: str | None, content_type: str) -> None:
    """The output URL an adapter handed back serves a PNG under ``content_type`` (the router sniffs the bytes)."""
    assert url
    served = httpx.get(url)
    assert served.headers["content-type"] == content_type
    assert sniff_mime(served.content) == "image/png"
