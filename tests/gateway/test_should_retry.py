"""An answer no retry can change (no provider key here, a key the provider refused, a model it no longer serves) tells
the OpenAI SDK not to retry it (`x-should-retry: false`); an outage still gets the SDK's retries (outside probe F15)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import openai
import pytest
import yaml

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server


class Gateway(NamedTuple):
    base: str
    alpha: Script


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("should-retry")
    alpha = Script(missing_models={"retired-model"})
    with serve(create_app(alpha)) as server:
        providers: dict[str, Any] = {
            "alpha": {"kind": "openai", "base_url": f"{server.url}/v1", "api_key_env": "ALPHA_KEY"},
            # A fresh install: the provider is in the routing file, its key is not set.
            "ghost": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "GHOST_KEY"},
        }
        models = {
            "nokey": {"candidates": [{"target": "ghost:gpt-image-1"}]},
            "retired": {"candidates": [{"target": "alpha:retired-model"}, {"target": "ghost:gpt-image-1"}]},
            "alpha": {"candidates": [{"target": "alpha:dall-e-3"}]},
            "nokey-then-alpha": {"candidates": [{"target": "ghost:gpt-image-1"}, {"target": "alpha:dall-e-3"}]},
        }
        routes = {"providers": providers, "models": models, "default_model": "alpha"}
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"), SENTINEL_ROUTES=str(tmp / "routes.yaml"), ALPHA_KEY="sk-alpha"
        )
        env.pop("GHOST_KEY", None)
        process, base = start_server(env, tmp / "serve.log")
        try:
            yield Gateway(base, alpha)
        finally:
            process.stop()


@pytest.fixture(autouse=True)
def fresh_script(gateway: Gateway) -> None:
    gateway.alpha.queue.clear()
    gateway.alpha.requests.clear()
    gateway.alpha.default = "ok"
    gateway.alpha.slow_seconds = 2.0


def sdk_requests(gateway: Gateway, model: str, **extra: Any) -> tuple[openai.APIStatusError, int]:
    """The error the OpenAI SDK (two retries, its default) raises for ``model``, and how many requests it sent."""
    sent: list[httpx.Request] = []
    http_client = httpx.Client(event_hooks={"request": [sent.append]}, timeout=30)
    client = openai.OpenAI(
        base_url=f"{gateway.base}/v1", api_key="unused-by-the-embedded-default", max_retries=2, http_client=http_client
    )
    with http_client, pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model=model, prompt="a lighthouse", **extra)
    return caught.value, len(sent)


@pytest.mark.parametrize("model", ["nokey", "retired"])
def test_a_set_up_answer_is_asked_once(gateway, model) -> None:
    error, requests = sdk_requests(gateway, model)
    assert requests == 1
    assert error.status_code == 503
    assert error.response.headers["x-should-retry"] == "false"
    if model == "nokey":
        assert "GHOST_KEY is not set" in error.message


def test_a_key_the_provider_refused_is_asked_once(gateway) -> None:
    gateway.alpha.default = "bad_auth"
    error, requests = sdk_requests(gateway, "alpha")
    assert requests == 1
    assert error.status_code == 502 and error.code == "provider_auth_failed"
    assert len(gateway.alpha.requests) == 1


@pytest.mark.parametrize("model", ["alpha", "nokey-then-alpha"])
def test_an_outage_is_still_retried_by_the_sdk(gateway, model) -> None:
    gateway.alpha.default = "unavailable"
    error, requests = sdk_requests(gateway, model)
    assert error.status_code == 503
    assert "x-should-retry" not in error.response.headers
    assert requests == 3


def test_a_call_cut_by_the_requests_deadline_after_it_went_out_is_asked_once(gateway) -> None:
    # The provider may still make, and bill, the image: a retry would buy another (outside probe F7).
    gateway.alpha.default = "slow"
    gateway.alpha.slow_seconds = 5.0
    error, requests = sdk_requests(gateway, "alpha", extra_body={"sentinel": {"deadline_seconds": 1}})
    assert error.status_code == 504
    assert "after its request went out" in error.message
    assert error.response.headers["x-should-retry"] == "false"
    assert requests == 1
    assert len(gateway.alpha.requests) == 1
