"""The OpenAI adapter against a fake OpenAI Images API on 127.0.0.1: every answer maps to a typed outcome."""

from __future__ import annotations

import httpx
import pytest

from sentinel.providers.base import Outcome, OutputOptions
from sentinel.providers.openai import OpenAIProvider
from sentinel.store.images import sniff_mime
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import png_image
from tests.providers.harness import AdapterRunner, FakeApp, assert_serves_png, assert_typed_failure, closed_port_url


@pytest.fixture(scope="module")
def fake_app() -> FakeApp:
    return create_app


generate = AdapterRunner(
    lambda base, client, timeout: OpenAIProvider(f"{base}/v1", "sk-test", client, timeout=timeout), "dall-e-3"
)


def test_success_returns_png_bytes_and_sends_the_documented_request(fake) -> None:
    base, script = fake
    result = generate(base, width=1792, height=1024, params={"quality": "hd"})
    assert result.outcome is Outcome.OK
    assert sniff_mime(result.images[0].data) == "image/png"
    assert result.images[0].revised_prompt == "a red bicycle, highly detailed"
    sent = script.requests[-1]["body"]
    assert sent == {
        "model": "dall-e-3",
        "prompt": "a red bicycle",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "response_format": "b64_json",
    }


def test_gpt_image_models_are_not_sent_response_format(fake) -> None:
    base, script = fake
    assert generate(base, model="gpt-image-1").outcome is Outcome.OK
    assert "response_format" not in script.requests[-1]["body"]


@pytest.mark.parametrize(
    ("behaviour", "outcome", "words"),
    [
        ("rate_limit", Outcome.RATE_LIMITED, "Rate limit"),
        ("unavailable", Outcome.UNAVAILABLE, "503"),
        ("content_filter", Outcome.CONTENT_FILTERED, "content_policy_violation"),
        ("empty", Outcome.UNRECOGNISED_ANSWER, "without any image"),
        ("bad_auth", Outcome.AUTH, "401"),
    ],
)
def test_failures_map_to_typed_outcomes(fake, behaviour, outcome, words) -> None:
    base, script = fake
    script.push(behaviour)
    assert_typed_failure(generate(base), behaviour, outcome, words)


def test_slow_answer_is_a_timeout(fake) -> None:
    base, script = fake
    script.slow_seconds = 2.0
    script.push("slow")
    result = generate(base, timeout=0.3)
    assert result.outcome is Outcome.TIMEOUT


def test_drifted_shape_still_parses(fake) -> None:
    base, script = fake
    script.push("drift")
    result = generate(base)
    assert result.outcome is Outcome.OK
    assert sniff_mime(result.images[0].data) == "image/png"


def test_url_output_is_handed_back_not_downloaded(fake) -> None:
    base, script = fake
    script.push("octet_url")
    result = generate(base, model="gpt-image-1")
    assert result.outcome is Outcome.OK
    url = result.images[0].url
    assert url and result.images[0].data is None
    assert_serves_png(url, "application/octet-stream")


def test_blank_image_is_returned_by_the_adapter(fake) -> None:
    # Blank outputs are caught by the router's output check, for every provider alike.
    base, script = fake
    script.push("blank")
    result = generate(base)
    assert result.outcome is Outcome.OK and result.images[0].data


def test_wrong_shaped_request_is_refused_like_openai(fake) -> None:
    base, _ = fake
    auth = {"Authorization": "Bearer sk-test"}
    response = httpx.post(f"{base}/v1/images/generations", json={"prompt": "x", "colour": "red"}, headers=auth)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "Unknown parameter: 'colour'.",
        "type": "invalid_request_error",
        "param": "colour",
        "code": "unknown_parameter",
    }
    response = httpx.post(f"{base}/v1/images/generations", json={"prompt": "x", "size": "999x1"}, headers=auth)
    assert response.json()["error"]["param"] == "size"
    assert httpx.post(f"{base}/v1/images/generations", json={"prompt": "x"}).status_code == 401


def test_invalid_size_from_us_is_invalid_request(fake) -> None:
    base, _ = fake
    result = generate(base, width=1000, height=1000)
    assert result.outcome is Outcome.INVALID_REQUEST
    assert "size" in result.message


def test_edit_sends_multipart_with_image_and_mask(fake) -> None:
    base, script = fake
    result = generate(base, model="gpt-image-1", image=png_image(), mask=png_image())
    assert result.outcome is Outcome.OK
    assert script.requests[-1]["path"] == "/v1/images/edits"
    assert script.requests[-1]["body"]["image"] is True


def test_closed_port_is_unavailable() -> None:
    assert generate(closed_port_url()).outcome is Outcome.UNAVAILABLE


@pytest.mark.parametrize(
    ("behaviour", "keys"),
    [("unknown_list", "results[].b64_json"), ("unknown_item", "data[].img")],
)
def test_an_answer_in_an_unknown_shape_is_contract_drift_not_a_refusal(fake, caplog, behaviour, keys) -> None:
    base, script = fake
    script.push(behaviour)
    with caplog.at_level("WARNING", logger="sentinel.providers.openai"):
        result = generate(base, model="gpt-image-1")
    assert result.outcome is Outcome.UNRECOGNISED_ANSWER
    assert keys in result.message
    # The log names the provider and the keys it saw, never the image's bytes.
    [record] = [r for r in caplog.records if r.name == "sentinel.providers.openai"]
    assert "openai" in record.getMessage() and keys in record.getMessage()
    assert len(record.getMessage()) < 400


def test_a_refused_field_keeps_the_providers_param_and_code(fake) -> None:
    base, _ = fake
    result = generate(base, width=1000, height=1000)
    assert result.outcome is Outcome.INVALID_REQUEST
    assert (result.param, result.code) == ("size", "invalid_value")


def test_gpt_image_models_are_sent_their_output_fields(fake) -> None:
    base, script = fake
    output = OutputOptions(background="transparent", output_format="webp", output_compression=80, moderation="low")
    assert generate(base, model="gpt-image-1", output=output).outcome is Outcome.OK
    sent = script.requests[-1]["body"]
    assert (sent["background"], sent["output_format"], sent["output_compression"], sent["moderation"]) == (
        "transparent",
        "webp",
        80,
        "low",
    )
    assert "style" not in sent


def test_dall_e_3_is_sent_style_and_refuses_the_gpt_image_fields() -> None:
    adapter = OpenAIProvider("http://127.0.0.1:9/v1", "sk-test", httpx.AsyncClient())
    assert adapter.cannot_honour("dall-e-3", OutputOptions(style="natural")) is None
    assert adapter.cannot_honour("dall-e-3", OutputOptions(background="transparent")) == "background"
    assert adapter.cannot_honour("dall-e-2", OutputOptions(style="vivid")) == "style"
    assert adapter.cannot_honour("gpt-image-1", OutputOptions(style="vivid")) == "style"
    assert adapter.cannot_honour("gpt-image-2", OutputOptions(background="transparent")) == "background"
    # "auto" asks for the provider's own default, which every model honours.
    assert adapter.cannot_honour("dall-e-2", OutputOptions(background="auto", moderation="auto")) is None


def test_style_reaches_dall_e_3(fake) -> None:
    base, script = fake
    assert generate(base, output=OutputOptions(style="natural")).outcome is Outcome.OK
    assert script.requests[-1]["body"]["style"] == "natural"
