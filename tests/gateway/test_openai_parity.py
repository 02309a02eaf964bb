"""OpenAI parity of the gateway, seen by a client migrating from OpenAI's endpoint: errors in OpenAI's shape with the
provider's ``param``, ``x-sentinel-*`` headers on errors too, contract drift reported as the provider's fault, and
OpenAI's output fields passed on (or refused by name) with OpenAI's ``response_format`` default per model."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import openai
import pytest
import yaml

from sentinel.store.images import sniff_mime
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import RunningProcess, clean_env, start_server


class Gateway(NamedTuple):
    url: str
    alpha: Script
    beta: Script
    server: RunningProcess


def write_routes(path: Path, alpha: str, beta: str) -> Path:
    def provider(url: str, key: str) -> dict[str, object]:
        return {"kind": "openai", "base_url": f"{url}/v1", "api_key_env": key, "timeout_seconds": 5}

    routes = {
        "providers": {
            "alpha": provider(alpha, "ALPHA_KEY"),
            "beta": provider(beta, "BETA_KEY"),
            # Its key is never set: a candidate the router passes over without calling it.
            "ghost": provider(alpha, "GHOST_KEY_NEVER_SET"),
        },
        "models": {
            "gpt-image-1": {
                "candidates": [{"target": "alpha:gpt-image-1"}, {"target": "beta:gpt-image-1"}],
                # 1000x1000 is ours to allow and OpenAI's to refuse: the provider's 400 names the field.
                "sizes": ["1024x1024", "1000x1000"],
            },
            "dall-e-3": {"candidates": [{"target": "alpha:dall-e-3"}]},
            "solo": {"candidates": [{"target": "alpha:gpt-image-1"}]},
            "mixed": {"candidates": [{"target": "alpha:dall-e-3"}, {"target": "beta:gpt-image-1"}]},
            "ghosted": {"candidates": [{"target": "ghost:gpt-image-1"}, {"target": "beta:gpt-image-1"}]},
        },
        "default_model": "gpt-image-1",
        "max_passes": 1,
    }
    path.write_text(yaml.safe_dump(routes))
    return path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    alpha, beta = Script(), Script()
    tmp = tmp_path_factory.mktemp("parity")
    with serve(create_app(alpha)) as alpha_server, serve(create_app(beta)) as beta_server:
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(write_routes(tmp / "routes.yaml", alpha_server.url, beta_server.url)),
            SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
            ALPHA_KEY="sk-alpha",
            BETA_KEY="sk-beta",
        )
        server, base = start_server(env, tmp / "serve.log")
        try:
            yield Gateway(base, alpha, beta, server)
        finally:
            server.stop()


def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused-by-the-embedded-default", max_retries=0)


def post(gateway: Gateway, **body: object) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/images/generations", json={"prompt": "a lighthouse"} | body, timeout=30)


# -- errors in OpenAI's shape ------------------------------------------------------------------------------------


def test_our_own_400s_use_openais_type_param_and_code(gateway) -> None:
    error = post(gateway, model="gpt-image-1", size="512x512").json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "size", "invalid_value")
    assert "size '512x512' is not supported" in error["message"]

    error = post(gateway, colour="red").json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "colour", "unknown_parameter")

    with pytest.raises(openai.BadRequestError) as caught:
        client(gateway.url).images.generate(model="gpt-image-1", prompt="x", n=9)
    assert (caught.value.code, caught.value.param, caught.value.type) == ("invalid_value", "n", "invalid_request_error")


def test_a_field_the_provider_refused_is_named_with_the_providers_code(gateway) -> None:
    response = post(gateway, model="gpt-image-1", size="1000x1000")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "size", "invalid_value")
    assert response.headers["x-sentinel-provider"] == "alpha"


# -- x-sentinel-* headers ----------------------------------------------------------------------------------------


def test_error_answers_say_who_was_called_and_how_often(gateway) -> None:
    gateway.alpha.push("unavailable")
    response = post(gateway, model="solo")
    assert response.status_code == 503
    assert response.headers["x-sentinel-provider"] == "alpha"
    assert response.headers["x-sentinel-model"] == "gpt-image-1"
    assert response.headers["x-sentinel-attempts"] == "1"
    assert response.headers["x-sentinel-request-id"].startswith("gen_")


def test_attempts_count_provider_calls_not_candidates_passed_over(gateway) -> None:
    calls_before = len(gateway.beta.requests)
    response = post(gateway, model="ghosted", response_format="url")
    assert response.status_code == 200, response.text
    assert response.headers["x-sentinel-provider"] == "beta"
    assert response.headers["x-sentinel-attempts"] == "1"
    assert len(gateway.beta.requests) == calls_before + 1


# -- an answer with no recognisable image ------------------------------------------------------------------------


def test_an_unknown_answer_shape_falls_back_to_the_next_candidate(gateway) -> None:
    gateway.alpha.push("unknown_list")
    response = post(gateway, model="gpt-image-1")
    assert response.status_code == 200, response.text
    assert response.headers["x-sentinel-provider"] == "beta"
    assert response.headers["x-sentinel-attempts"] == "2"
    assert response.json()["sentinel"]["attempts"][0]["outcome"] == "unrecognised_answer"


def test_an_unknown_answer_shape_is_a_provider_error_not_a_content_policy_refusal(gateway) -> None:
    gateway.alpha.push("unknown_item")
    with pytest.raises(openai.APIStatusError) as caught:
        client(gateway.url).images.generate(model="solo", prompt="a lighthouse")
    assert caught.value.status_code == 502
    assert caught.value.code == "provider_error"
    assert caught.value.type == "server_error"
    assert "data[].img" in caught.value.message
    # The operator reads which provider drifted and into what shape, from the keys alone.
    logged = [line for line in gateway.server.output().splitlines() if "shape with no image" in line]
    assert logged and "alpha" in logged[-1] and "data[].img" in logged[-1]


# -- OpenAI's output fields and response_format ------------------------------------------------------------------


def test_gpt_image_fields_reach_the_provider_and_the_answer_is_b64_json_by_default(gateway) -> None:
    images = client(gateway.url).images.generate(
        model="gpt-image-1",
        prompt="a logo",
        background="transparent",
        output_format="webp",
        output_compression=60,
        moderation="low",
    )
    sent = gateway.alpha.requests[-1]["body"]
    assert {k: sent[k] for k in ("background", "output_format", "output_compression", "moderation")} == {
        "background": "transparent",
        "output_format": "webp",
        "output_compression": 60,
        "moderation": "low",
    }
    # As OpenAI's gpt-image-1 does: base64, no URL, without asking.
    assert images.data[0].url is None
    assert sniff_mime(base64.b64decode(images.data[0].b64_json)) == "image/png"


def test_dall_e_3_is_sent_style_and_answers_a_url_by_default(gateway) -> None:
    images = client(gateway.url).images.generate(model="dall-e-3", prompt="a lighthouse", style="natural")
    assert gateway.alpha.requests[-1]["body"]["style"] == "natural"
    assert images.data[0].b64_json is None
    assert images.data[0].url.startswith(f"{gateway.url}/v1/images/")


def test_a_field_no_candidate_can_honour_is_refused_by_name_before_any_call(gateway) -> None:
    calls_before = len(gateway.alpha.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        client(gateway.url).images.generate(model="dall-e-3", prompt="a logo", background="transparent")
    assert caught.value.param == "background"
    assert caught.value.code == "unsupported_parameter"
    assert "alpha:dall-e-3" in caught.value.message
    assert len(gateway.alpha.requests) == calls_before


def test_candidates_that_cannot_honour_a_field_are_passed_over(gateway) -> None:
    alpha_before = len(gateway.alpha.requests)
    response = post(gateway, model="mixed", output_format="webp")
    assert response.status_code == 200, response.text
    assert response.headers["x-sentinel-provider"] == "beta"
    assert response.headers["x-sentinel-attempts"] == "1"
    assert gateway.beta.requests[-1]["body"]["output_format"] == "webp"
    assert len(gateway.alpha.requests) == alpha_before


def test_a_judged_request_refuses_output_fields_it_cannot_pass_on(gateway) -> None:
    response = post(gateway, model="gpt-image-1", background="transparent", sentinel={"task": "text-to-image"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("background", "unsupported_parameter")
