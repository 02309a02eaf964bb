"""A provider account without credit (OpenAI's 429 insufficient_quota) reaches the caller as the billing problem it
is, not as a rate limit (outside probe F4): 502 provider_auth_failed with ``x-should-retry: false``, so the OpenAI
SDK does not retry it and the provider is asked once, not again after a second pass's wait."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import httpx
import openai
import pytest
import yaml

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server


class Gateway(NamedTuple):
    base: str
    script: Script


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("no-credit")
    script = Script(default="no_credit")
    with serve(create_app(script)) as server:
        providers = {"broke": {"kind": "openai", "base_url": f"{server.url}/v1", "api_key_env": "BROKE_KEY"}}
        routes = {"providers": providers, "models": {"images": {"candidates": [{"target": "broke:dall-e-3"}]}}}
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes | {"default_model": "images"}))
        env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"), SENTINEL_ROUTES=str(tmp / "routes.yaml"), BROKE_KEY="k")
        process, base = start_server(env, tmp / "serve.log")
        try:
            yield Gateway(base, script)
        finally:
            process.stop()


def test_no_credit_is_a_billing_failure_the_sdk_does_not_retry(gateway: Gateway) -> None:
    sent: list[httpx.Request] = []
    http_client = httpx.Client(event_hooks={"request": [sent.append]}, timeout=30)
    client = openai.OpenAI(base_url=f"{gateway.base}/v1", api_key="unused", max_retries=2, http_client=http_client)
    with http_client, pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model="images", prompt="a lighthouse")
    error = caught.value
    assert error.status_code == 502 and error.code == "provider_auth_failed"
    assert error.response.headers["x-should-retry"] == "false"
    assert "retry-after" not in error.response.headers
    assert "cannot pay" in error.message
    assert len(sent) == 1
    # Asked once: no second pass after a rate limit's wait.
    assert len(gateway.script.requests) == 1
