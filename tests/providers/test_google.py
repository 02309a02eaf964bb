"""The Google adapter against a fake Generative Language API on 127.0.0.1: Imagen and Gemini map to typed outcomes."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest

from sentinel.providers.base import Outcome, ProviderResult
from sentinel.providers.google import GoogleProvider
from sentinel.store.images import sniff_mime
from sentinel_fakes.google import create_app
from sentinel_fakes.server import png_image
from tests.providers.harness import AdapterRunner, FakeApp, assert_typed_failure, closed_port_url

IMAGEN = "imagen-4.0-generate-001"
GEMINI = "gemini-2.5-flash-image"
KEY = {"x-goog-api-key": "test-key"}


@pytest.fixture(scope="module")
def fake_app() -> FakeApp:
    return create_app


generate = AdapterRunner(
    lambda base, client, timeout: GoogleProvider(base, "test-key", client, timeout=timeout), IMAGEN
)
generate_without_key = AdapterRunner(
    lambda base, client, timeout: GoogleProvider(base, None, client, timeout=timeout), IMAGEN
)


def generate_against(handler: Callable[[httpx.Request], httpx.Response], model: str) -> ProviderResult:
    """For answers the fake has no behaviour for: the same adapter over an in-memory transport."""
    return generate("http://google.test", model=model, transport=httpx.MockTransport(handler))


def test_imagen_success_returns_png_and_sends_the_documented_request(fake) -> None:
    base, script = fake
    result = generate(base, width=1792, height=1024, negative_prompt="text", seed=7)
    assert result.outcome is Outcome.OK
    assert sniff_mime(result.images[0].data) == "image/png"
    sent = script.requests[-1]
    assert sent["path"] == f"/v1beta/models/{IMAGEN}:predict"
    assert sent["body"] == {
        "instances": [{"prompt": "a red bicycle"}],
        "parameters": {
            "sampleCount": 1,
            "aspectRatio": "16:9",
            "includeRaiReason": True,
            "negativePrompt": "text",
            "seed": 7,
        },
    }


def test_imagen_aspect_ratio_param_wins_over_the_size(fake) -> None:
    base, script = fake
    assert generate(base, width=1024, height=1024, params={"aspect_ratio": "3:4"}).ok
    assert script.requests[-1]["body"]["parameters"]["aspectRatio"] == "3:4"


def test_gemini_success_returns_png_and_sends_the_documented_request(fake) -> None:
    base, script = fake
    result = generate(base, model=GEMINI, width=1792, height=1024)
    assert result.outcome is Outcome.OK
    assert sniff_mime(result.images[0].data) == "image/png"
    sent = script.requests[-1]
    assert sent["path"] == f"/v1beta/models/{GEMINI}:generateContent"
    assert sent["body"] == {
        "contents": [{"role": "user", "parts": [{"text": "a red bicycle"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "16:9"}},
    }


def test_square_gemini_request_leaves_the_default_shape(fake) -> None:
    base, script = fake
    assert generate(base, model=GEMINI).ok
    assert script.requests[-1]["body"]["generationConfig"] == {"responseModalities": ["TEXT", "IMAGE"]}


def test_gemini_negative_prompt_becomes_an_instruction_and_seed_goes_to_the_config(fake) -> None:
    base, script = fake
    assert generate(base, model=f"models/{GEMINI}", negative_prompt="text", seed=7).ok
    sent = script.requests[-1]
    assert sent["path"] == f"/v1beta/models/{GEMINI}:generateContent"
    assert sent["body"]["contents"][0]["parts"] == [{"text": "a red bicycle"}, {"text": "Do not include: text"}]
    assert sent["body"]["generationConfig"]["seed"] == 7


@pytest.mark.parametrize("model", [IMAGEN, GEMINI])
@pytest.mark.parametrize(
    ("behaviour", "outcome", "words"),
    [
        ("rate_limit", Outcome.RATE_LIMITED, "RESOURCE_EXHAUSTED"),
        ("unavailable", Outcome.UNAVAILABLE, "503"),
        # Google answers a wrong key with 400 INVALID_ARGUMENT + reason API_KEY_INVALID; it is still AUTH.
        ("bad_auth", Outcome.AUTH, "API key not valid"),
        # Google signals filtering by leaving the image out of a 200 (Imagen drops filtered images, Gemini ends
        # with STOP and no picture), so "empty" is a refusal: falling back with the same prompt would be refused too.
        ("empty", Outcome.CONTENT_FILTERED, "without"),
    ],
)
def test_failures_map_to_typed_outcomes(fake, model, behaviour, outcome, words) -> None:
    base, script = fake
    script.push(behaviour)
    assert_typed_failure(generate(base, model=model), behaviour, outcome, words)


@pytest.mark.parametrize(("model", "reason"), [(IMAGEN, "safety filter"), (GEMINI, "blockReason SAFETY")])
def test_content_filter_names_the_reason(fake, model, reason) -> None:
    base, script = fake
    script.push("content_filter")
    result = generate(base, model=model)
    assert result.outcome is Outcome.CONTENT_FILTERED
    assert reason in result.message


def test_slow_answer_is_a_timeout(fake) -> None:
    base, script = fake
    script.slow_seconds = 2.0
    script.push("slow")
    assert generate(base, timeout=0.3).outcome is Outcome.TIMEOUT


@pytest.mark.parametrize("model", [IMAGEN, GEMINI])
@pytest.mark.parametrize("behaviour", ["drift", "octet_url"])
def test_drifted_and_url_behaviours_still_give_bytes(fake, model, behaviour) -> None:
    # drift: Imagen nests the bytes in predictions[].image, Gemini says inline_data; octet_url: Google never
    # answers with URLs, so the fake answers it like ok.
    base, script = fake
    script.push(behaviour)
    result = generate(base, model=model)
    assert result.outcome is Outcome.OK
    assert sniff_mime(result.images[0].data) == "image/png"


@pytest.mark.parametrize("model", [IMAGEN, GEMINI])
def test_blank_image_is_returned_by_the_adapter(fake, model) -> None:
    # Blank outputs are caught by the router's output check, for every provider alike.
    base, script = fake
    script.push("blank")
    result = generate(base, model=model)
    assert result.outcome is Outcome.OK
    assert result.images[0].data == png_image(script.width, script.height, blank=True)


def test_missing_key_is_auth(fake) -> None:
    base, _ = fake
    result = generate_without_key(base)
    assert result.outcome is Outcome.AUTH
    assert "PERMISSION_DENIED" in result.message


def test_wrong_shaped_requests_are_refused_like_google(fake) -> None:
    base, _ = fake
    response = httpx.post(f"{base}/v1beta/models/{IMAGEN}:predict", json={"prompt": "x"}, headers=KEY)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("Invalid JSON payload received.")
    response = httpx.post(f"{base}/v1beta/models/{GEMINI}:generateContent", json={"prompt": "x"}, headers=KEY)
    assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
    wrong_type = {"contents": [{"parts": [{"text": 5}]}], "generationConfig": {"responseModalities": ["IMAGE"]}}
    response = httpx.post(f"{base}/v1beta/models/{GEMINI}:generateContent", json=wrong_type, headers=KEY)
    assert "contents[0].parts[0].text" in response.json()["error"]["message"]
    body = {"instances": [{"prompt": "x"}]}
    assert httpx.post(f"{base}/v1beta/models/{IMAGEN}:predict", json=body).status_code == 403


def test_closed_port_is_unavailable() -> None:
    assert generate(closed_port_url()).outcome is Outcome.UNAVAILABLE


def _gemini_answer(candidate: dict) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, json={"candidates": [candidate]})


def test_undecodable_base64_is_the_providers_fault() -> None:
    imagen = generate_against(
        lambda request: httpx.Response(200, json={"predictions": [{"bytesBase64Encoded": "%%not base64%%"}]}), IMAGEN
    )
    assert imagen.outcome is Outcome.UNRECOGNISED_ANSWER and "undecodable base64" in imagen.message
    parts = [{"inlineData": {"mimeType": "image/png", "data": "@@@"}}]
    gemini = generate_against(_gemini_answer({"content": {"parts": parts}, "finishReason": "STOP"}), GEMINI)
    assert gemini.outcome is Outcome.UNRECOGNISED_ANSWER and "undecodable base64" in gemini.message


def test_bytes_that_are_not_an_image_are_not_ok() -> None:
    encoded = base64.b64encode(b"<html>not an image</html>").decode()
    result = generate_against(
        lambda request: httpx.Response(200, json={"predictions": [{"bytesBase64Encoded": encoded}]}), IMAGEN
    )
    assert result.outcome is Outcome.UNRECOGNISED_ANSWER


def test_gemini_safety_finish_reason_and_words_only_are_content_filtered() -> None:
    said = {"parts": [{"text": "I can't make that picture."}]}
    result = generate_against(_gemini_answer({"content": said, "finishReason": "IMAGE_SAFETY"}), GEMINI)
    assert result.outcome is Outcome.CONTENT_FILTERED
    assert "IMAGE_SAFETY" in result.message and "I can't make that picture." in result.message
    result = generate_against(_gemini_answer({"content": said, "finishReason": "STOP"}), GEMINI)
    assert result.outcome is Outcome.CONTENT_FILTERED and "I can't make that picture." in result.message
    # A failure rather than a refusal: another provider may well succeed.
    result = generate_against(_gemini_answer({"finishReason": "NO_IMAGE"}), GEMINI)
    assert result.outcome is Outcome.UNAVAILABLE


def test_gemini_skips_interim_thought_images() -> None:
    draft = base64.b64encode(png_image(8, 8, seed=1)).decode()
    final = base64.b64encode(png_image(8, 8, seed=2)).decode()
    parts = [{"inlineData": {"data": draft}, "thought": True}, {"inlineData": {"data": final}}]
    result = generate_against(_gemini_answer({"content": {"parts": parts}, "finishReason": "STOP"}), GEMINI)
    assert result.ok and [image.data for image in result.images] == [png_image(8, 8, seed=2)]


def test_imagen_responsible_ai_refusal_is_content_filtered() -> None:
    message = "Image generation failed: the prompt contains sensitive words that violate Google's Responsible AI"
    error = {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
    result = generate_against(lambda request: httpx.Response(400, json=error), IMAGEN)
    assert result.outcome is Outcome.CONTENT_FILTERED


def test_quota_retry_delay_is_read_from_retry_info() -> None:
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}
    error = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": [retry]}}
    result = generate_against(lambda request: httpx.Response(429, json=error), GEMINI)
    assert result.outcome is Outcome.RATE_LIMITED and result.retry_after == 27.0
