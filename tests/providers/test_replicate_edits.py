"""Replicate inpainting (black-forest-labs/flux-fill-pro) against the fake predictions API, which checks the model's
documented input: the adapter's wire shape, and an edit routed to it through the router."""

from __future__ import annotations

import asyncio
import base64
import io
import ipaddress
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from sentinel.gateway.wiring import HTTP_LIMITS
from sentinel.net.transport import provider_client
from sentinel.providers.base import GenerationRequest, Operation, Outcome
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.replicate import ReplicateProvider
from sentinel.providers.router import ImageSpec, Router, RouteResult
from sentinel.settings import Settings
from sentinel_fakes.replicate import create_app
from sentinel_fakes.server import Script, png_image
from tests.providers.harness import AdapterRunner, FakeApp, assert_serves_png
from tests.providers.stopping import cancel_while_polling

FILL = "black-forest-labs/flux-fill-pro"
#: The router fetches Replicate's output URLs through its SSRF guard: the fake serves them on loopback.
LOOPBACK = Settings(fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])

run = AdapterRunner(
    lambda base, client, timeout: ReplicateProvider(base, "r8-test", client, timeout=timeout, poll_interval=0.02), FILL
)


@pytest.fixture(scope="module")
def fake_app() -> FakeApp:
    return create_app


def white_mask(width: int, height: int) -> bytes:
    """Sentinel's convention: white over the top-left quarter marks what to change."""
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).rectangle((0, 0, width // 2 - 1, height // 2 - 1), fill=255)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def decoded(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def creation(script: Script) -> dict[str, Any]:
    return next(r for r in reversed(script.requests) if r["method"] == "POST" and r["path"].endswith("/predictions"))


def test_an_edit_sends_source_and_white_mask_as_data_uris_and_keeps_the_source_size(fake) -> None:
    base, script = fake
    result = run(
        base,
        prompt="a vase",
        image=png_image(96, 80),
        mask=white_mask(96, 80),
        seed=3,
        params={"steps": 30},
        operation=Operation.EDIT,
    )
    assert result.outcome is Outcome.OK, result.message
    assert_serves_png(result.images[0].url, "image/png")
    served = Image.open(io.BytesIO(httpx.get(result.images[0].url or "").content))
    assert served.size == (96, 80)
    sent = creation(script)
    assert sent["path"] == f"/v1/models/{FILL}/predictions"
    inputs = sent["body"]["input"]
    # flux-fill-pro's documented input, and no aspect_ratio (the fill model takes none; the source decides).
    assert set(inputs) == {"prompt", "image", "mask", "seed", "steps"}
    assert inputs["prompt"] == "a vase" and inputs["seed"] == 3 and inputs["steps"] == 30
    assert decoded(inputs["image"]).size == (96, 80)
    mask = np.asarray(decoded(inputs["mask"]).convert("L")) > 127
    assert mask.mean() == pytest.approx(0.25) and mask[0, 0] and not mask[-1, -1]


def test_what_the_model_refuses_comes_back_as_an_invalid_request_naming_the_field(fake) -> None:
    base, _ = fake
    misfit = run(base, image=png_image(96, 80), mask=white_mask(64, 64), operation=Operation.EDIT)
    assert misfit.outcome is Outcome.INVALID_REQUEST and "same size" in misfit.message
    # A generation knob a route might carry over is not part of flux-fill-pro's input.
    extra = run(
        base, image=png_image(), mask=white_mask(64, 64), params={"aspect_ratio": "1:1"}, operation=Operation.EDIT
    )
    assert extra.outcome is Outcome.INVALID_REQUEST and "aspect_ratio" in extra.message
    unmasked = run(base, image=png_image(), operation=Operation.EDIT)
    assert unmasked.outcome is Outcome.INVALID_REQUEST and "mask" in unmasked.message


def test_edit_failures_are_typed_like_generations(fake) -> None:
    base, script = fake
    script.push("rate_limit")
    limited = run(base, image=png_image(), mask=white_mask(64, 64), operation=Operation.EDIT)
    assert limited.outcome is Outcome.RATE_LIMITED and limited.retry_after == 1
    script.push("content_filter")
    refused = run(base, image=png_image(), mask=white_mask(64, 64), operation=Operation.EDIT)
    assert refused.outcome is Outcome.CONTENT_FILTERED


def test_an_edit_prediction_given_up_on_is_cancelled(fake) -> None:
    base, script = fake
    script.slow_seconds, slow_seconds = 60.0, script.slow_seconds
    script.push("slow")
    try:
        seen = cancel_while_polling(
            lambda client: ReplicateProvider(base, "r8-test", client, timeout=30.0, poll_interval=0.02),
            GenerationRequest(
                prompt="p", model=FILL, image=png_image(), mask=white_mask(64, 64), operation=Operation.EDIT
            ),
            script,
            is_poll=lambda request: request["method"] == "GET" and request["path"].startswith("/v1/predictions/"),
        )
    finally:
        script.slow_seconds = slow_seconds
    polled = next(r["path"] for r in seen if r["method"] == "GET")
    assert {"method": "POST", "path": f"{polled}/cancel", "body": None} in seen


def test_inpainting_models_only_edit_and_the_others_only_generate() -> None:
    assert ReplicateProvider.supports(FILL, Operation.EDIT)
    assert ReplicateProvider.supports("black-forest-labs/flux-fill-dev", Operation.EDIT)
    assert ReplicateProvider.supports("stability-ai/stable-diffusion-inpainting", Operation.EDIT)
    assert not ReplicateProvider.supports(FILL, Operation.GENERATE)
    assert not ReplicateProvider.supports("black-forest-labs/flux-schnell", Operation.EDIT)
    assert not ReplicateProvider.supports(FILL, Operation.VARIATION)


# -- through the router ------------------------------------------------------------------------------------------


@pytest.fixture
def replicate_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FAKE_REPLICATE_TOKEN", "r8-test")
    yield


def edit_through_router(base: str, source: bytes, mask: bytes) -> RouteResult:
    """An edit on a route whose first candidate only generates (flux-schnell) and whose second inpaints."""
    config = RoutingConfig.model_validate(
        {
            "providers": {
                "replicate": {
                    "kind": "replicate",
                    "base_url": base,
                    "api_key_env": "FAKE_REPLICATE_TOKEN",
                    "timeout_seconds": 10,
                    "poll_interval_seconds": 0.02,
                }
            },
            "models": {
                "flux": {
                    "candidates": [
                        {
                            "target": "replicate:black-forest-labs/flux-schnell",
                            "sizes": {"1024x1024": {"aspect_ratio": "1:1"}},
                        },
                        {"target": f"replicate:{FILL}"},
                    ]
                }
            },
            "default_model": "flux",
        }
    )
    width, height = Image.open(io.BytesIO(source)).size

    async def go() -> RouteResult:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), LOOPBACK)
            resolved = router.for_operation(router.resolve("flux"), Operation.EDIT)
            assert [c.target for c in resolved.route.candidates] == [f"replicate:{FILL}"]
            spec = ImageSpec(
                prompt="a vase", width=width, height=height, image=source, mask=mask, operation=Operation.EDIT
            )
            return await router.generate(resolved, spec)

    return asyncio.run(go())


def test_an_edit_on_the_fill_route_delivers_the_source_size_and_skips_the_generation_only_model(
    fake, replicate_token
) -> None:
    base, script = fake
    mark = len(script.requests)
    result = edit_through_router(base, png_image(120, 72), white_mask(120, 72))
    assert result.image is not None, result.last_failure
    assert (result.image.info.width, result.image.info.height) == (120, 72)
    assert (result.image.provider, result.image.model) == ("replicate", FILL)
    # flux-schnell was never asked: no attempt, no call.
    assert [(a.model, a.outcome) for a in result.attempts] == [(FILL, "ok")]
    created = [r["path"] for r in script.requests[mark:] if r["method"] == "POST"]
    assert created == [f"/v1/models/{FILL}/predictions"]
