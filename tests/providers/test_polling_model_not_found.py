"""fal and Replicate saying, when a job is submitted, that they do not know the model: MODEL_NOT_FOUND, so the
router falls back and parks the candidate. A 404 while polling is something else (the job is gone), not this."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from sentinel.providers.base import GenerationRequest, Outcome, ProviderResult
from sentinel.providers.fal import FalProvider
from sentinel.providers.replicate import ReplicateProvider
from sentinel_fakes import fal as fake_fal
from sentinel_fakes import replicate as fake_replicate
from sentinel_fakes.server import Script, serve


def _generate(provider_class: type, fake_module: Any, model: str, script: Script) -> ProviderResult:
    with serve(fake_module.create_app(script)) as fake:

        async def call() -> ProviderResult:
            async with httpx.AsyncClient() as client:
                adapter = provider_class(fake.url, "key", client, timeout=10, poll_interval=0.02)
                return await adapter.generate(GenerationRequest(prompt="a red bicycle", model=model))

        return asyncio.run(call())


def test_fal_answering_an_unknown_application_on_submission_is_model_not_found() -> None:
    result = _generate(
        FalProvider, fake_fal, "fal-ai/flux-retired/dev", Script(missing_models={"fal-ai/flux-retired/dev"})
    )
    assert result.outcome is Outcome.MODEL_NOT_FOUND, result.message
    assert "not found" in result.message and result.status_code == 404


def test_replicate_answering_an_unknown_model_on_submission_is_model_not_found() -> None:
    model = "black-forest-labs/flux-gone"
    result = _generate(ReplicateProvider, fake_replicate, model, Script(missing_models={model}))
    assert result.outcome is Outcome.MODEL_NOT_FOUND, result.message
    assert result.status_code == 404


def test_replicate_answering_an_unknown_version_on_submission_is_model_not_found() -> None:
    version = "5f24084160c9089501c1b3545d9be3c27883ae2239b6f412990e82d4a6210f8f"
    model = f"bytedance/sdxl-lightning-4step:{version}"
    result = _generate(ReplicateProvider, fake_replicate, model, Script(missing_models={version}))
    assert result.outcome is Outcome.MODEL_NOT_FOUND, result.message
    assert "version does not exist" in result.message


def test_a_prediction_that_vanishes_while_polling_is_not_model_not_found() -> None:
    """Replicate answers 404 for a prediction it no longer has: the model exists, so parking it would be wrong."""

    def vanishing(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/predictions"):
            base = f"{request.url.scheme}://{request.url.host}"
            prediction = {"id": "p1", "status": "starting", "urls": {"get": f"{base}/v1/predictions/p1"}}
            return httpx.Response(201, json=prediction)
        return httpx.Response(404, json={"title": "Not found", "detail": "The requested resource could not be found."})

    async def call() -> ProviderResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(vanishing)) as client:
            adapter = ReplicateProvider("https://api.replicate.test", "key", client, timeout=10, poll_interval=0.01)
            return await adapter.generate(GenerationRequest(prompt="a red bicycle", model="owner/model"))

    result = asyncio.run(call())
    assert result.outcome is not Outcome.MODEL_NOT_FOUND
    assert result.outcome is Outcome.UNAVAILABLE
