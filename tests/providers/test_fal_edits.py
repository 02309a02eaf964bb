"""fal inpainting (FLUX.1 [pro] Fill) against the fake fal queue, which checks the fill endpoint's documented input:
the adapter's wire shape, and an edit routed to it through the router."""

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
from sentinel.providers.config import RoutingConfig, load_routing
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.fal import FalProvider
from sentinel.providers.registry import build_providers
from sentinel.providers.replicate import ReplicateProvider
from sentinel.providers.router import ImageSpec, Router, RouteResult
from sentinel.settings import Settings
from sentinel_fakes.fal import create_app
from sentinel_fakes.server import Script, png_image
from tests.providers.harness import AdapterRunner, FakeApp, assert_serves_png
from tests.providers.stopping import cancel_while_polling

FILL = "fal-ai/flux-pro/v1/fill"
#: The router fetches fal's output URLs through its SSRF guard: the fake serves them on loopback.
LOOPBACK = Settings(fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])

run = AdapterRunner(
    lambda base, client, timeout: FalProvider(base, "fal-test", client, timeout=timeout, poll_interval=0.02), FILL
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


def submission(script: Script) -> dict[str, Any]:
    return next(r for r in reversed(script.requests) if r["method"] == "POST")


def test_an_edit_sends_source_and_white_mask_as_data_uris_and_keeps_the_source_size(fake) -> None:
    base, script = fake
    source = png_image(96, 80)
    result = run(base, prompt="a vase", image=source, mask=white_mask(96, 80), seed=3, operation=Operation.EDIT)
    assert result.outcome is Outcome.OK, result.message
    assert_serves_png(result.images[0].url, "image/png")
    served = Image.open(io.BytesIO(httpx.get(result.images[0].url or "").content))
    assert served.size == (96, 80)
    body = submission(script)["body"]
    assert submission(script)["path"] == f"/{FILL}"
    # The documented fill input, and nothing the fill endpoint does not take (image_size, enable_safety_checker).
    assert set(body) == {"prompt", "image_url", "mask_url", "num_images", "seed"}
    assert body["prompt"] == "a vase" and body["num_images"] == 1 and body["seed"] == 3
    assert decoded(body["image_url"]).size == (96, 80)
    mask = np.asarray(decoded(body["mask_url"]).convert("L")) > 127
    assert mask.mean() == pytest.approx(0.25) and mask[0, 0] and not mask[-1, -1]


def test_an_openai_style_transparent_mask_arrives_white(fake) -> None:
    base, script = fake
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    ImageDraw.Draw(mask).rectangle((0, 0, 31, 63), fill=(0, 0, 0, 0))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    result = run(base, image=png_image(), mask=buffer.getvalue(), operation=Operation.EDIT)
    assert result.outcome is Outcome.OK, result.message
    white = np.asarray(decoded(submission(script)["body"]["mask_url"]).convert("L")) > 127
    assert white.mean() == pytest.approx(0.5) and white[:, 0].all()


def test_what_the_fill_endpoint_refuses_comes_back_as_an_invalid_request_naming_the_field(fake) -> None:
    base, _ = fake
    misfit = run(base, image=png_image(96, 80), mask=white_mask(64, 64), operation=Operation.EDIT)
    assert misfit.outcome is Outcome.INVALID_REQUEST and "mask_url" in misfit.message
    # A generation knob a route might carry over is not part of the fill endpoint's input.
    extra = run(
        base, image=png_image(), mask=white_mask(64, 64), params={"guidance_scale": 3.5}, operation=Operation.EDIT
    )
    assert extra.outcome is Outcome.INVALID_REQUEST and "guidance_scale" in extra.message
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


def test_an_edit_job_given_up_on_is_cancelled_on_the_queue(fake) -> None:
    base, script = fake
    script.slow_seconds, slow_seconds = 60.0, script.slow_seconds
    script.push("slow")
    try:
        seen = cancel_while_polling(
            lambda client: FalProvider(base, "fal-test", client, timeout=30.0, poll_interval=0.02),
            GenerationRequest(
                prompt="p", model=FILL, image=png_image(), mask=white_mask(64, 64), operation=Operation.EDIT
            ),
            script,
            is_poll=lambda request: request["path"].endswith("/status"),
        )
    finally:
        script.slow_seconds = slow_seconds
    root = seen[1]["path"].removesuffix("/status")
    assert {"method": "PUT", "path": f"{root}/cancel", "body": None} in seen


def test_inpainting_endpoints_only_edit_and_the_others_only_generate() -> None:
    assert FalProvider.supports(FILL, Operation.EDIT)
    assert FalProvider.supports("fal-ai/flux-lora/inpainting", Operation.EDIT)
    assert not FalProvider.supports(FILL, Operation.GENERATE)
    assert not FalProvider.supports("fal-ai/flux/dev", Operation.EDIT)
    assert not FalProvider.supports(FILL, Operation.VARIATION)


# -- through the router ------------------------------------------------------------------------------------------


@pytest.fixture
def fal_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FAKE_FAL_KEY", "fal-test")
    yield


def edit_through_router(base: str, source: bytes, mask: bytes) -> RouteResult:
    """An edit on a route whose first candidate only generates (fal's flux/dev) and whose second inpaints."""
    config = RoutingConfig.model_validate(
        {
            "providers": {
                "fal": {
                    "kind": "fal",
                    "base_url": base,
                    "api_key_env": "FAKE_FAL_KEY",
                    "timeout_seconds": 10,
                    "poll_interval_seconds": 0.02,
                }
            },
            "models": {
                "flux": {
                    "candidates": [
                        {"target": "fal:fal-ai/flux/dev", "sizes": {"1024x1024": {"image_size": "square_hd"}}},
                        {"target": f"fal:{FILL}"},
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
            assert [c.target for c in resolved.route.candidates] == [f"fal:{FILL}"]
            spec = ImageSpec(
                prompt="a vase", width=width, height=height, image=source, mask=mask, operation=Operation.EDIT
            )
            return await router.generate(resolved, spec)

    return asyncio.run(go())


def test_an_edit_on_the_fill_route_delivers_the_source_size_and_skips_the_generation_only_model(fake, fal_key) -> None:
    base, script = fake
    mark = len(script.requests)
    result = edit_through_router(base, png_image(120, 72), white_mask(120, 72))
    assert result.image is not None, result.last_failure
    assert (result.image.info.width, result.image.info.height) == (120, 72)
    assert (result.image.provider, result.image.model) == ("fal", FILL)
    # flux/dev was never asked: no attempt, no call.
    assert [(a.model, a.outcome) for a in result.attempts] == [(FILL, "ok")]
    assert [r["path"] for r in script.requests[mark:] if r["method"] == "POST"] == [f"/{FILL}"]


def test_the_shipped_fill_route_inpaints_on_fal_then_replicate() -> None:
    route = load_routing().models["flux-fill-pro"]
    assert [c.target for c in route.candidates] == [f"fal:{FILL}", "replicate:black-forest-labs/flux-fill-pro"]
    assert FalProvider.supports(FILL, Operation.EDIT)
    assert ReplicateProvider.supports("black-forest-labs/flux-fill-pro", Operation.EDIT)
