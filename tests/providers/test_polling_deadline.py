"""The request's deadline reaches fal's and Replicate's polling: a job still running when it passes is cancelled
then, by the adapter itself, not only once the provider's (longer) timeout is over."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from sentinel.providers.base import GenerationRequest, Outcome, ProviderResult
from sentinel.providers.fal import FalProvider
from sentinel.providers.replicate import ReplicateProvider
from sentinel_fakes import fal as fake_fal
from sentinel_fakes import replicate as fake_replicate
from sentinel_fakes.server import Script, serve

#: What the provider's own timeout would allow: far longer than any test may take.
PROVIDER_TIMEOUT = 120.0
#: The request's deadline, from the call's start.
DEADLINE = 0.5
#: A bound on the whole call that no busy machine reaches, yet far below the provider's timeout.
GENEROUS = 30.0

CASES = [
    (FalProvider, fake_fal, "fal-ai/flux/dev", "PUT", "/cancel"),
    (ReplicateProvider, fake_replicate, "black-forest-labs/flux-schnell", "POST", "/cancel"),
]


@pytest.mark.parametrize(("provider_class", "fake", "model", "method", "suffix"), CASES, ids=["fal", "replicate"])
def test_a_job_running_at_the_request_deadline_is_cancelled_then(
    provider_class: type, fake: Any, model: str, method: str, suffix: str
) -> None:
    script = Script(default="slow", slow_seconds=600)
    with serve(fake.create_app(script)) as server:

        async def call() -> tuple[ProviderResult, float]:
            async with httpx.AsyncClient() as client:
                adapter = provider_class(server.url, "key", client, timeout=PROVIDER_TIMEOUT, poll_interval=0.05)
                loop = asyncio.get_running_loop()
                started = loop.time()
                request = GenerationRequest(prompt="a red bicycle", model=model, deadline=started + DEADLINE)
                result = await asyncio.wait_for(adapter.generate(request), GENEROUS)
                return result, loop.time() - started

        started = time.monotonic()
        result, took = asyncio.run(call())
        assert time.monotonic() - started < GENEROUS
    assert result.outcome is Outcome.TIMEOUT, result.message
    assert "deadline" in result.message
    assert took >= DEADLINE
    cancels = [r for r in script.requests if r["method"] == method and r["path"].endswith(suffix)]
    assert len(cancels) == 1, script.requests
