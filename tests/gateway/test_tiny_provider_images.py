"""Outside probe F20: a provider that answers a 1024×1024 request with an absurdly small image (1×1, a 16×16 icon, a
1-px strip) made a failed candidate, not a success: logged at its price (the provider billed it), the next candidate
asked, and with none left a 502 naming the size that tells the OpenAI SDK not to buy it again. Other sizes than asked
(896×1152 on some models) are served as ever. And F16: an answer with fewer images than `n` asked for says how many
are missing (`x-sentinel-images-missing`)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import yaml
from sqlalchemy import create_engine
from sqlmodel import Session, col, select

from sentinel.models import ProviderCall
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, png_bytes, start_server


class Gateway(NamedTuple):
    base: str
    alpha: Script
    beta: Script
    data: Path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("tiny-images")
    alpha, beta = Script(), Script()
    with serve(create_app(alpha)) as alpha_server, serve(create_app(beta)) as beta_server:
        providers: dict[str, Any] = {
            "alpha": {"kind": "openai", "base_url": f"{alpha_server.url}/v1", "api_key_env": "ALPHA_KEY"},
            "beta": {"kind": "openai", "base_url": f"{beta_server.url}/v1", "api_key_env": "BETA_KEY"},
        }
        models = {
            "solo": {"candidates": [{"target": "alpha:dall-e-3"}], "cost_per_image": 0.04},
            "pair": {"candidates": [{"target": "alpha:dall-e-3"}, {"target": "beta:dall-e-3"}], "cost_per_image": 0.04},
        }
        # Two passes: a walk that asked the tiny image's candidate again would buy it twice.
        routes = {"providers": providers, "models": models, "default_model": "solo", "max_passes": 2}
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            ALPHA_KEY="sk-alpha",
            BETA_KEY="sk-beta",
        )
        process, base = start_server(env, tmp / "serve.log")
        try:
            yield Gateway(base, alpha, beta, tmp / "data")
        finally:
            process.stop()


@pytest.fixture(autouse=True)
def fresh_scripts(gateway: Gateway) -> None:
    for script in (gateway.alpha, gateway.beta):
        script.images.clear()
        script.requests.clear()


def calls_of(gateway: Gateway, request_id: str) -> list[ProviderCall]:
    with Session(create_engine(f"sqlite:///{gateway.data / 'sentinel.db'}")) as session:
        return list(session.exec(select(ProviderCall).where(col(ProviderCall.request_id) == request_id)))


def generate(gateway: Gateway, model: str) -> httpx.Response:
    body = {"model": model, "prompt": "a lighthouse", "size": "1024x1024", "response_format": "b64_json"}
    return httpx.post(f"{gateway.base}/v1/images/generations", json=body, timeout=60)


TINY = [(1, 1), (16, 16), (1, 1024)]


@pytest.mark.parametrize(("width", "height"), TINY, ids=["1x1", "16x16", "1x1024 strip"])
def test_a_tiny_image_with_no_candidate_left_is_a_502_naming_its_size(gateway, width, height) -> None:
    gateway.alpha.images.extend([png_bytes(width, height)] * 2)
    response = generate(gateway, "solo")
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert f"{width}×{height}" in error["message"] and "1024×1024" in error["message"], error
    # Bought once, and a retry is not invited to buy it again.
    assert len(gateway.alpha.requests) == 1
    assert response.headers["x-should-retry"] == "false"
    [call] = calls_of(gateway, response.headers["x-sentinel-request-id"])
    assert (call.outcome, call.status_code, call.cost_estimate) == ("unrecognised_answer", 200, pytest.approx(0.04))


@pytest.mark.parametrize(("width", "height"), TINY, ids=["1x1", "16x16", "1x1024 strip"])
def test_a_tiny_image_falls_back_to_the_next_candidate(gateway, width, height) -> None:
    gateway.alpha.images.append(png_bytes(width, height))
    good = png_bytes(256, 256)
    gateway.beta.images.append(good)
    response = generate(gateway, "pair")
    assert response.status_code == 200, response.text
    assert base64.b64decode(response.json()["data"][0]["b64_json"]) == good
    assert response.headers["x-sentinel-provider"] == "beta"
    calls = calls_of(gateway, response.headers["x-sentinel-request-id"])
    tiny = [call for call in calls if call.provider == "alpha"]
    assert [(c.outcome, c.cost_estimate) for c in tiny] == [("unrecognised_answer", pytest.approx(0.04))]
    assert f"{width}×{height}" in tiny[0].message


def test_another_usable_size_than_asked_is_served(gateway) -> None:
    portrait = png_bytes(896, 1152)
    gateway.alpha.images.append(portrait)
    response = generate(gateway, "solo")
    assert response.status_code == 200, response.text
    assert base64.b64decode(response.json()["data"][0]["b64_json"]) == portrait


# -- F16: fewer images than n ----------------------------------------------------------------------------------------


def test_fewer_images_than_n_says_how_many_are_missing(gateway) -> None:
    # Two of the four images come back as 1×1 placeholders: their walks end with no image (the one candidate is not
    # bought from again), the other two are served.
    gateway.alpha.images.extend([png_bytes(1, 1), png_bytes(1, 1), png_bytes(256, 256), png_bytes(256, 256)])
    body = {"model": "solo", "prompt": "a lighthouse", "n": 4, "response_format": "b64_json"}
    response = httpx.post(f"{gateway.base}/v1/images/generations", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 2
    assert response.headers["x-sentinel-images-missing"] == "2"
    assert len(response.json()["sentinel"]["failed"]) == 2


def test_all_n_images_say_nothing_is_missing(gateway) -> None:
    body = {"model": "solo", "prompt": "a lighthouse", "n": 2, "response_format": "b64_json"}
    response = httpx.post(f"{gateway.base}/v1/images/generations", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 2
    assert "x-sentinel-images-missing" not in response.headers


def test_a_judged_request_with_fewer_images_than_n_says_how_many_are_missing(gateway) -> None:
    gateway.alpha.images.extend([png_bytes(1, 1), png_bytes(1024, 1024)])
    body = {
        "model": "solo",
        "prompt": "a lighthouse",
        "n": 2,
        "size": "1024x1024",
        "sentinel": {"task": "text-to-image", "max_attempts": 1},
    }
    response = httpx.post(f"{gateway.base}/v1/images/generations", json=body, timeout=120)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 1
    assert response.headers["x-sentinel-images-missing"] == "1"
