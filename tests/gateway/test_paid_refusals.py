"""What the gateway answers for answers it was billed for and could not deliver, and for OpenAI's documented no-op
values (outside probe P2): a paid image whose address our checks refuse is not invited to be bought again (F1); a 200
too large to read is logged at its price (F2); ``stream: false``, ``partial_images: 0``, ``n: null`` are accepted on
generations (F3); ``quality: auto`` is the candidate's default (F4); a provider error quoting part of the provider key
reaches neither the caller nor the call log (F5); a failure only an operator can end is logged at WARNING (F23)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import openai
import pytest
import yaml
from sqlalchemy import create_engine
from sqlmodel import Session, col, select

from sentinel.models import ProviderCall
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server

#: The provider key the gateway holds: the fake's "wrong_key" answer quotes its first 14 characters and last four.
KEY = "sk-fgSECRETprefix-0123456789abcdefWXYZ"
#: The image size cap the gateway runs with: the fake's "giant" answer is larger than a gateway reads for it.
MAX_IMAGE_BYTES = 1024 * 1024


class Gateway(NamedTuple):
    base: str
    alpha: Script
    data: Path
    log: Path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("paid-refusals")
    alpha = Script(giant_bytes=8 * MAX_IMAGE_BYTES)
    with serve(create_app(alpha)) as server:
        providers: dict[str, Any] = {
            "alpha": {"kind": "openai", "base_url": f"{server.url}/v1", "api_key_env": "ALPHA_KEY"},
        }
        gpt = {
            "target": "alpha:gpt-image-1",
            "quality": {"low": {"quality": "low"}, "high": {"quality": "high"}},
        }
        models = {
            "solo": {"candidates": [{"target": "alpha:dall-e-3"}], "cost_per_image": 0.04},
            "gpt": {"candidates": [gpt], "qualities": ["low", "high"], "cost_per_image": 0.04},
        }
        routes = {"providers": providers, "models": models, "default_model": "solo", "max_passes": 2}
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            SENTINEL_MAX_IMAGE_BYTES=str(MAX_IMAGE_BYTES),
            ALPHA_KEY=KEY,
        )
        process, base = start_server(env, tmp / "serve.log")
        try:
            yield Gateway(base, alpha, tmp / "data", tmp / "serve.log")
        finally:
            process.stop()


@pytest.fixture(autouse=True)
def fresh_script(gateway: Gateway) -> None:
    gateway.alpha.queue.clear()
    gateway.alpha.requests.clear()
    gateway.alpha.default = "ok"


def calls_of(gateway: Gateway, request_id: str) -> list[ProviderCall]:
    """The call log's rows of one request (committed with its answer)."""
    with Session(create_engine(f"sqlite:///{gateway.data / 'sentinel.db'}")) as session:
        return list(session.exec(select(ProviderCall).where(col(ProviderCall.request_id) == request_id)))


def sdk_error(gateway: Gateway, **asked: Any) -> tuple[openai.APIStatusError, int]:
    """The error the OpenAI SDK (two retries, its default) raises, and how many requests it sent."""
    sent: list[httpx.Request] = []
    http_client = httpx.Client(event_hooks={"request": [sent.append]}, timeout=60)
    client = openai.OpenAI(base_url=f"{gateway.base}/v1", api_key="unused", max_retries=2, http_client=http_client)
    with http_client, pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(prompt="a lighthouse", **asked)
    return caught.value, len(sent)


def post(gateway: Gateway, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{gateway.base}/v1/images/generations", json=body, timeout=60)


# -- F1: a paid image whose address our checks refuse --------------------------------------------------------------


def test_a_paid_image_on_a_refused_address_is_bought_once_and_says_so(gateway) -> None:
    gateway.alpha.default = "private_url"
    error, requests = sdk_error(gateway, model="solo")
    # One SDK request and one provider call: a retry would buy the same image again, refused again.
    assert requests == 1
    assert len(gateway.alpha.requests) == 1
    assert error.status_code == 502
    assert error.code == "provider_output_refused"
    assert error.response.headers["x-should-retry"] == "false"
    assert "SENTINEL_FETCH_ALLOWED_NETWORKS" in error.message
    [call] = calls_of(gateway, error.response.headers["x-sentinel-request-id"])
    # Delivered and refused, paid: not "unavailable", at its price, with the provider's 200.
    assert (call.outcome, call.status_code, call.cost_estimate) == ("output_refused", 200, pytest.approx(0.04))


def test_an_outage_is_still_retried(gateway) -> None:
    gateway.alpha.default = "unavailable"
    error, requests = sdk_error(gateway, model="solo")
    assert error.status_code == 503
    assert "x-should-retry" not in error.response.headers
    assert requests == 3


# -- F2: a 200 too large to read ------------------------------------------------------------------------------------


def test_a_success_too_large_to_read_is_a_billed_call(gateway) -> None:
    gateway.alpha.default = "giant"
    response = post(gateway, {"model": "solo", "prompt": "a lighthouse"})
    assert response.status_code == 502, response.text
    assert "larger than" in response.json()["error"]["message"]
    # Not asked again in the request (a second pass would buy a second one), nor invited to be by a retry.
    assert len(gateway.alpha.requests) == 1
    assert response.headers["x-should-retry"] == "false"
    [call] = calls_of(gateway, response.headers["x-sentinel-request-id"])
    assert (call.outcome, call.status_code, call.cost_estimate) == ("unrecognised_answer", 200, pytest.approx(0.04))
    assert "made and billed" in call.message


# -- F3: OpenAI's documented no-op values ---------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [{"stream": False}, {"partial_images": 0}, {"n": None}, {"stream": None}])
def test_openais_no_op_values_are_accepted_on_generations(gateway, extra) -> None:
    response = post(gateway, {"model": "solo", "prompt": "a lighthouse", "response_format": "b64_json", **extra})
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 1
    # Nothing of them reaches the provider: OpenAI's own defaults.
    [sent] = gateway.alpha.requests
    assert not {"stream", "partial_images"} & set(sent["body"])
    assert sent["body"].get("n", 1) == 1


def test_the_sdk_sending_stream_false_is_served(gateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.base}/v1", api_key="unused", max_retries=0)
    answer = client.images.generate(prompt="a lighthouse", model="solo", stream=False, response_format="b64_json")
    assert len(answer.data) == 1


def test_stream_true_is_refused_by_name_on_generations_as_on_edits(gateway) -> None:
    response = post(gateway, {"model": "solo", "prompt": "a lighthouse", "stream": True})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("stream", "unsupported_parameter")
    assert error["message"].startswith("stream=true is not supported")
    assert gateway.alpha.requests == []


def test_partial_images_out_of_range_is_still_refused(gateway) -> None:
    response = post(gateway, {"model": "solo", "prompt": "a lighthouse", "partial_images": 4})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "partial_images"


# -- F4: quality auto -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt", "solo"])
def test_quality_auto_is_the_candidates_default(gateway, model) -> None:
    response = post(gateway, {"model": model, "prompt": "a lighthouse", "quality": "auto"})
    assert response.status_code == 200, response.text
    [sent] = gateway.alpha.requests
    # As if left out: the provider's own default, no tier mapped.
    assert "quality" not in sent["body"]


def test_a_quality_tier_the_route_lacks_is_still_refused(gateway) -> None:
    response = post(gateway, {"model": "gpt", "prompt": "a lighthouse", "quality": "ultra"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "quality"


# -- F5: a provider quoting part of its key -------------------------------------------------------------------------


def test_a_provider_key_quoted_in_part_reaches_neither_the_caller_nor_the_call_log(gateway) -> None:
    gateway.alpha.default = "wrong_key"
    response = post(gateway, {"model": "solo", "prompt": "a lighthouse"})
    assert response.status_code == 502, response.text
    [call] = calls_of(gateway, response.headers["x-sentinel-request-id"])
    for text in (response.text, call.message):
        assert "Incorrect API key provided" in text
        assert KEY[:8] not in text and KEY[3:11] not in text
        assert "[provider key]" in text


# -- F23: failures only an operator can end are logged ----------------------------------------------------------------


@pytest.mark.parametrize(("behaviour", "outcome"), [("wrong_key", "auth"), ("private_url", "output_refused")])
def test_a_failure_only_an_operator_can_end_is_logged_as_a_warning(gateway, behaviour, outcome) -> None:
    gateway.alpha.default = behaviour
    for _ in range(2):
        assert post(gateway, {"model": "solo", "prompt": "a lighthouse"}).status_code == 502
    said = f"provider call to alpha:dall-e-3 failed with {outcome}, which only an operator can change"
    warnings = [line for line in gateway.log.read_text().splitlines() if said in line]
    # Once per candidate and outcome a minute, however many requests meet it; never quoting the key.
    assert len(warnings) == 1, warnings
    assert "WARNING" in warnings[0]
    assert KEY[:8] not in warnings[0]


# -- P2-F19: an outage that says when to come back ------------------------------------------------------------------
# Last in this file: the provider's Retry-After cools it down for a second.


def test_an_outage_with_retry_after_is_503_with_the_wait_not_a_rate_limit(gateway) -> None:
    gateway.alpha.default = "overloaded"
    response = post(gateway, {"model": "solo", "prompt": "a lighthouse"})
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "providers_unavailable")
    assert int(response.headers["retry-after"]) >= 1
