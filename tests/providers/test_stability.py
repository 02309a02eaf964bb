"""The Stability adapter against a fake v2beta Stable Image API on 127.0.0.1: every answer maps to a typed outcome."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from sentinel.providers.base import Outcome, ProviderResult
from sentinel.providers.stability import StabilityProvider
from sentinel.store.images import sniff_mime
from sentinel_fakes.server import png_image
from sentinel_fakes.stability import create_app
from tests.providers.harness import AdapterRunner, FakeApp, assert_typed_failure, closed_port_url

CORE = "stable-image-core"
AUTH = {"Authorization": "Bearer sk-test"}


@pytest.fixture(scope="module")
def fake_app() -> FakeApp:
    return create_app


generate = AdapterRunner(
    lambda base, client, timeout: StabilityProvider(base, "sk-test", client, timeout=timeout), CORE
)


def generate_against(handler: Callable[[httpx.Request], httpx.Response]) -> ProviderResult:
    """For answers the fake has no behaviour for: the same adapter over an in-memory transport."""
    return generate("http://stability.test", transport=httpx.MockTransport(handler))


def test_core_success_returns_png_and_sends_the_documented_multipart_form(fake) -> None:
    base, script = fake
    result = generate(base, width=1792, height=1024, negative_prompt="text", seed=7)
    assert result.outcome is Outcome.OK
    assert sniff_mime(result.images[0].data) == "image/png"
    sent = script.requests[-1]
    # The fake parsed it as multipart/form-data (it refuses anything else), so these are form fields.
    assert sent["path"] == "/v2beta/stable-image/generate/core"
    assert sent["body"] == {
        "prompt": "a red bicycle",
        "aspect_ratio": "16:9",
        "output_format": "png",
        "negative_prompt": "text",
        "seed": "7",
    }


@pytest.mark.parametrize(
    ("model", "path", "model_field"),
    [
        ("stable-image-ultra", "ultra", None),
        ("sd3.5-large", "sd3", "sd3.5-large"),
        ("sd3.5-medium", "sd3", "sd3.5-medium"),
    ],
)
def test_model_ids_pick_the_endpoint(fake, model, path, model_field) -> None:
    base, script = fake
    assert generate(base, model=model, params={"aspect_ratio": "2:3"}).ok
    sent = script.requests[-1]
    assert sent["path"] == f"/v2beta/stable-image/generate/{path}"
    assert sent["body"].get("model") == model_field
    assert sent["body"]["aspect_ratio"] == "2:3"


def test_unknown_model_is_invalid_request_without_a_call(fake) -> None:
    base, script = fake
    before = len(script.requests)
    result = generate(base, model="dall-e-3")
    assert result.outcome is Outcome.INVALID_REQUEST
    assert len(script.requests) == before


@pytest.mark.parametrize(
    ("behaviour", "outcome", "words"),
    [
        ("rate_limit", Outcome.RATE_LIMITED, "rate_limit_exceeded"),
        ("unavailable", Outcome.UNAVAILABLE, "503"),
        ("bad_auth", Outcome.AUTH, "401"),
        ("content_filter", Outcome.CONTENT_FILTERED, "CONTENT_FILTERED"),
        # Stability always flags a filter explicitly (finish_reason or 403 content_moderation), so a SUCCESS
        # without an image is a fault on its side: UNAVAILABLE, which lets the router try the next candidate.
        ("empty", Outcome.UNAVAILABLE, "without an image"),
    ],
)
def test_failures_map_to_typed_outcomes(fake, behaviour, outcome, words) -> None:
    base, script = fake
    script.push(behaviour)
    assert_typed_failure(generate(base), behaviour, outcome, words)


def test_content_moderation_403_is_content_filtered_not_auth(fake) -> None:
    base, _ = fake
    result = generate(base, prompt="please moderate-me")
    assert result.outcome is Outcome.CONTENT_FILTERED
    assert result.status_code == 403
    assert "content_moderation" in result.message


def test_slow_answer_is_a_timeout(fake) -> None:
    base, script = fake
    script.slow_seconds = 2.0
    script.push("slow")
    assert generate(base, timeout=0.3).outcome is Outcome.TIMEOUT


@pytest.mark.parametrize("behaviour", ["drift", "octet_url"])
def test_raw_bytes_and_url_behaviours_still_give_bytes(fake, behaviour) -> None:
    # drift: raw image bytes with a finish-reason header although JSON was asked for; octet_url: Stability
    # never answers with URLs, so the fake answers it like ok.
    base, script = fake
    script.push(behaviour)
    result = generate(base)
    assert result.outcome is Outcome.OK
    assert sniff_mime(result.images[0].data) == "image/png"


def test_blank_image_is_returned_by_the_adapter(fake) -> None:
    # Blank outputs are caught by the router's output check, for every provider alike.
    base, script = fake
    script.push("blank")
    result = generate(base)
    assert result.outcome is Outcome.OK
    assert result.images[0].data == png_image(script.width, script.height, blank=True)


def test_invalid_parameter_from_us_is_invalid_request(fake) -> None:
    base, _ = fake
    result = generate(base, seed=2**40)
    assert result.outcome is Outcome.INVALID_REQUEST
    assert "seed" in result.message


def test_wrong_shaped_requests_are_refused_like_stability(fake) -> None:
    base, _ = fake
    url = f"{base}/v2beta/stable-image/generate/core"
    response = httpx.post(url, json={"prompt": "x"}, headers=AUTH)
    assert response.status_code == 400
    body = response.json()
    assert body["name"] == "bad_request" and "prompt: required" in body["errors"] and body["id"]
    response = httpx.post(url, files={"aspect_ratio": (None, "1:1")}, headers=AUTH)
    assert response.status_code == 400 and response.json()["errors"] == ["prompt: required"]
    response = httpx.post(url, files={"prompt": (None, "x")})
    assert response.status_code == 401 and response.json()["name"] == "unauthorized"


def test_raw_bytes_answer_with_filtered_header_is_content_filtered() -> None:
    headers = {"content-type": "image/png", "finish-reason": "CONTENT_FILTERED"}
    result = generate_against(lambda request: httpx.Response(200, content=png_image(8, 8), headers=headers))
    assert result.outcome is Outcome.CONTENT_FILTERED


def test_undecodable_base64_and_non_images_are_the_providers_fault() -> None:
    result = generate_against(lambda request: httpx.Response(200, json={"image": "%%%", "finish_reason": "SUCCESS"}))
    assert result.outcome is Outcome.UNRECOGNISED_ANSWER and "undecodable base64" in result.message
    page = b"<html><body>maintenance</body></html>"
    result = generate_against(lambda request: httpx.Response(200, content=page, headers={"content-type": "image/png"}))
    assert result.outcome is Outcome.UNRECOGNISED_ANSWER


def test_closed_port_is_unavailable() -> None:
    assert generate(closed_port_url()).outcome is Outcome.UNAVAILABLE
