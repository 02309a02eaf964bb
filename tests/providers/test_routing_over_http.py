"""The router's Retry-After, deadline, disconnect and parking rules as a client of `sentinel serve` sees them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import yaml
from sqlalchemy import create_engine
from sqlmodel import Session, select

from sentinel.models import ProviderCall
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server

NAMES = ("alpha", "beta", "gamma")


class Gateway(NamedTuple):
    base: str
    scripts: dict[str, Script]
    database: Path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("routing")
    scripts = {name: Script() for name in NAMES}
    with (
        serve(create_app(scripts["alpha"])) as alpha,
        serve(create_app(scripts["beta"])) as beta,
        serve(create_app(scripts["gamma"])) as gamma,
    ):
        urls = {"alpha": alpha.url, "beta": beta.url, "gamma": gamma.url}
        routes: dict[str, Any] = {
            "providers": {
                name: {
                    "kind": "openai",
                    "base_url": f"{urls[name]}/v1",
                    "api_key_env": "FAKE_KEY",
                    "timeout_seconds": 1,
                }
                for name in NAMES
            },
            "models": {
                "waits": {"candidates": [{"target": "alpha:dall-e-3"}]},
                "slow": {"candidates": [{"target": "beta:dall-e-3"}, {"target": "gamma:dall-e-3"}]},
                "retired": {"candidates": [{"target": "gamma:dall-e-2"}, {"target": "beta:dall-e-3"}]},
            },
            "default_model": "waits",
        }
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"), SENTINEL_ROUTES=str(tmp / "routes.yaml"), FAKE_KEY="k")
        server, base = start_server(env, tmp / "serve.log")
        try:
            yield Gateway(base, scripts, tmp / "data" / "sentinel.db")
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def fresh_scripts(gateway: Gateway) -> None:
    for script in gateway.scripts.values():
        script.queue.clear()
        script.requests.clear()
        script.default = "ok"
        script.missing_models = set()


def generate(gateway: Gateway, model: str, timeout: float = 30, **extra: Any) -> httpx.Response:
    body = {"prompt": "a lighthouse", "model": model, "response_format": "b64_json", **extra}
    return httpx.post(f"{gateway.base}/v1/images/generations", json=body, timeout=timeout)


def test_a_provider_asking_to_wait_is_not_called_again_and_the_client_gets_its_retry_after(gateway) -> None:
    alpha = gateway.scripts["alpha"]
    alpha.retry_after = 30
    alpha.default = "rate_limit"
    answers = [generate(gateway, "waits") for _ in range(5)]
    assert len(alpha.requests) == 1
    for answer in answers:
        assert answer.status_code == 429, answer.text
        assert 25 <= int(answer.headers["retry-after"]) <= 30


def test_a_request_deadline_stops_the_walk(gateway) -> None:
    beta, gamma = gateway.scripts["beta"], gateway.scripts["gamma"]
    beta.default = "slow"
    beta.slow_seconds = 5
    answer = generate(gateway, "slow", sentinel={"deadline_seconds": 0.5})
    assert answer.status_code == 504, answer.text
    assert "deadline" in answer.text
    assert len(beta.requests) == 1
    assert gamma.requests == []


def test_a_client_that_hung_up_causes_no_further_provider_call(gateway) -> None:
    beta, gamma = gateway.scripts["beta"], gateway.scripts["gamma"]
    beta.default = "slow"
    beta.slow_seconds = 5  # beta times out after its 1 s; gamma would be next
    prompt = f"hung up {time.time_ns()}"
    with pytest.raises(httpx.ReadTimeout):
        generate(gateway, "slow", timeout=0.3, prompt=prompt)
    # The walk ends after beta's call; its call log is written then. Wait for it, then look at gamma.
    deadline = time.monotonic() + 30
    engine = create_engine(f"sqlite:///{gateway.database}")
    logged: list[ProviderCall] = []
    while time.monotonic() < deadline and not logged:
        with Session(engine) as session:
            logged = list(session.exec(select(ProviderCall).where(ProviderCall.provider == "beta")))
        time.sleep(0.1)
    assert logged, "the walk never ended"
    assert [r["body"]["prompt"] for r in beta.requests] == [prompt]
    assert gamma.requests == []


def test_a_retired_model_falls_back_and_shows_as_parked_in_the_catalog(gateway) -> None:
    gamma = gateway.scripts["gamma"]
    gamma.missing_models = {"dall-e-2"}
    first = generate(gateway, "retired")
    assert first.status_code == 200, first.text
    assert first.headers["x-sentinel-provider"] == "beta"
    second = generate(gateway, "retired")
    assert second.status_code == 200, second.text
    assert len(gamma.requests) == 1
    models = {m["id"]: m for m in httpx.get(f"{gateway.base}/v1/models").json()["data"]}
    [parked] = models["retired"]["parked_candidates"]
    assert parked["target"] == "gamma:dall-e-2"
    assert "does not exist" in parked["reason"]
    assert models["slow"]["parked_candidates"] == []
    one = httpx.get(f"{gateway.base}/v1/models/retired").json()
    assert one["parked_candidates"] == [parked]


def test_a_request_names_its_own_fallback_models(gateway) -> None:
    alpha, beta = gateway.scripts["alpha"], gateway.scripts["beta"]
    alpha.default = "rate_limit"
    answer = generate(gateway, "waits", sentinel={"models": ["slow"]})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-sentinel-provider"] == "beta"
    assert len(beta.requests) == 1
    unknown = generate(gateway, "waits", sentinel={"models": ["no-such-model"]})
    assert unknown.status_code == 404, unknown.text
    assert "no-such-model" in unknown.text
