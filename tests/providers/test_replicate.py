"""The Replicate adapter against a fake Replicate predictions API on 127.0.0.1: every answer maps to a typed outcome."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from sentinel.providers.base import GenerationRequest, Outcome, nearest_aspect_ratio
from sentinel.providers.replicate import ASPECT_RATIOS, ReplicateProvider, build_input
from sentinel.store.images import sniff_mime
from sentinel_fakes.replicate import NSFW_ERROR, create_app
from sentinel_fakes.server import Script
from tests.providers.harness import AdapterRunner, FakeApp, assert_serves_png, assert_typed_failure, closed_port_url
from tests.providers.stopping import cancel_while_polling

MODEL = "black-forest-labs/flux-dev"
AUTH = {"Authorization": "Bearer r8-test"}


@pytest.fixture(scope="module")
def fake_app() -> FakeApp:
    return create_app


# Polling every 20 ms keeps the fake's two polls to settle from slowing the tests down.
generate = AdapterRunner(
    lambda base, client, timeout: ReplicateProvider(base, "r8-test", client, timeout=timeout, poll_interval=0.02), MODEL
)


def since(script: Script, mark: int) -> list[dict]:
    return script.requests[mark:]


def test_success_polls_and_hands_back_a_png_url(fake) -> None:
    base, script = fake
    mark = len(script.requests)
    result = generate(base, width=1792, height=1024, seed=7, negative_prompt="blur", params={"num_inference_steps": 4})
    assert result.outcome is Outcome.OK, result.message
    url = result.images[0].url
    assert url and result.images[0].data is None
    assert_serves_png(url, "image/png")
    create, *polls = since(script, mark)
    assert create["method"] == "POST" and create["path"] == f"/v1/models/{MODEL}/predictions"
    assert create["body"] == {
        "input": {
            "prompt": "a red bicycle",
            "aspect_ratio": "16:9",
            "seed": 7,
            "negative_prompt": "blur",
            "num_inference_steps": 4,
        }
    }
    assert len(polls) >= 2 and all(poll["method"] == "GET" for poll in polls)


def test_pinned_version_uses_the_predictions_endpoint(fake) -> None:
    base, script = fake
    mark = len(script.requests)
    result = generate(base, model="stability-ai/sdxl:39ed52f2a78e", params={"aspect_ratio": "custom"})
    assert result.outcome is Outcome.OK, result.message
    create = since(script, mark)[0]
    assert create["path"] == "/v1/predictions"
    assert create["body"]["version"] == "39ed52f2a78e"
    assert create["body"]["input"] == {
        "prompt": "a red bicycle",
        "aspect_ratio": "custom",
        "width": 1024,
        "height": 1024,
    }


@pytest.mark.parametrize(
    ("behaviour", "outcome", "words"),
    [
        ("rate_limit", Outcome.RATE_LIMITED, "throttled"),
        ("unavailable", Outcome.UNAVAILABLE, "503"),
        ("content_filter", Outcome.CONTENT_FILTERED, "NSFW"),
        ("empty", Outcome.CONTENT_FILTERED, "without any output"),
        ("bad_auth", Outcome.AUTH, "401"),
    ],
)
def test_failures_map_to_typed_outcomes(fake, behaviour, outcome, words) -> None:
    base, script = fake
    script.push(behaviour)
    assert_typed_failure(generate(base), behaviour, outcome, words)


def test_slow_prediction_times_out_and_is_canceled(fake) -> None:
    base, script = fake
    script.slow_seconds = 2.0
    script.push("slow")
    mark = len(script.requests)
    result = generate(base, timeout=0.5)
    assert result.outcome is Outcome.TIMEOUT
    assert "processing" in result.message
    assert since(script, mark)[-1]["path"].endswith("/cancel")


def test_prediction_is_canceled_when_the_caller_stops_waiting(fake) -> None:
    # The router's deadline (or a client that went away) cancels the awaiting task before the adapter's own
    # timeout fires: the prediction must still be canceled at Replicate, or it runs on and is billed.
    base, script = fake
    script.slow_seconds, slow_seconds = 60.0, script.slow_seconds
    script.push("slow")
    try:
        seen = cancel_while_polling(
            lambda client: ReplicateProvider(base, "r8-test", client, timeout=30.0, poll_interval=0.02),
            GenerationRequest(prompt="a red bicycle", model=MODEL),
            script,
            is_poll=lambda request: request["method"] == "GET",
        )
    finally:
        script.slow_seconds = slow_seconds
    prediction_id = seen[1]["path"].rsplit("/", 1)[-1]
    assert {"method": "POST", "path": f"/v1/predictions/{prediction_id}/cancel", "body": None} in seen
    assert httpx.get(f"{base}/v1/predictions/{prediction_id}", headers=AUTH).json()["status"] == "canceled"


def test_rate_limit_answer_reads_the_documented_body(fake) -> None:
    base, script = fake
    script.retry_after, retry_after = 7, script.retry_after
    script.push("rate_limit")
    try:
        answer = httpx.post(f"{base}/v1/models/{MODEL}/predictions", json={"input": {"prompt": "x"}}, headers=AUTH)
    finally:
        script.retry_after = retry_after
    # https://replicate.com/docs/topics/predictions/rate-limits
    assert answer.status_code == 429
    assert answer.json()["detail"] == "Request was throttled. Your rate limit resets in ~7s."


def test_drifted_output_string_still_parses(fake) -> None:
    base, script = fake
    script.push("drift")
    result = generate(base)
    assert result.outcome is Outcome.OK
    assert sniff_mime(httpx.get(result.images[0].url).content) == "image/png"


def test_octet_stream_output_url_is_handed_back_for_the_router_to_sniff(fake) -> None:
    base, script = fake
    script.push("octet_url")
    result = generate(base)
    assert result.outcome is Outcome.OK
    assert_serves_png(result.images[0].url, "application/octet-stream")


def test_blank_image_is_returned_by_the_adapter(fake) -> None:
    # Blank outputs are caught by the router's output check, for every provider alike.
    base, script = fake
    script.push("blank")
    result = generate(base)
    assert result.outcome is Outcome.OK and result.images[0].url


def test_wrong_shaped_request_is_refused_like_replicate(fake) -> None:
    base, _ = fake
    url = f"{base}/v1/models/{MODEL}/predictions"
    response = httpx.post(url, json={"prompt": "x"}, headers=AUTH)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] == "Input validation failed"
    assert problem["detail"] == "- input: Invalid type. Expected: object, given: null\n"
    assert httpx.post(url, json={"input": "x"}, headers=AUTH).status_code == 422
    unauthenticated = httpx.post(url, json={"input": {"prompt": "x"}})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json() == {"detail": "Unauthenticated"}


def test_invalid_input_from_us_is_invalid_request(fake) -> None:
    base, _ = fake
    result = generate(base, params={"aspect_ratio": "7:5"})
    assert result.outcome is Outcome.INVALID_REQUEST
    assert result.status_code == 422 and "aspect_ratio" in result.message


def test_bad_model_id_is_refused_without_a_request() -> None:
    result = generate("http://127.0.0.1:9", model="flux-dev")
    assert result.outcome is Outcome.INVALID_REQUEST


def test_closed_port_is_unavailable() -> None:
    assert generate(closed_port_url()).outcome is Outcome.UNAVAILABLE


def test_input_mapping() -> None:
    assert nearest_aspect_ratio(1024, 1024, ASPECT_RATIOS) == "1:1"
    assert nearest_aspect_ratio(1536, 1024, ASPECT_RATIOS) == "3:2"
    assert nearest_aspect_ratio(1000, 1800, ASPECT_RATIOS) == "9:16"
    request = GenerationRequest(prompt="p", model=MODEL, params={"send_size": True, "prompt": "ignored"})
    assert build_input(request) == {"prompt": "p", "aspect_ratio": "1:1", "width": 1024, "height": 1024}


# Answers the fake does not give, through a scripted transport.

BASE = "https://api.replicate.test"


def scripted(answer: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(answer)


def prediction(status: str, get: str = f"{BASE}/v1/predictions/p1", **fields) -> dict:
    return {"id": "p1", "status": status, "urls": {"get": get, "cancel": f"{BASE}/v1/predictions/p1/cancel"}, **fields}


def test_retry_after_is_read_from_the_json_body_when_the_header_is_missing() -> None:
    body = {"title": "Too Many Requests", "detail": "Request was throttled.", "status": 429, "retry_after": 3}
    result = generate(BASE, transport=scripted(lambda request: httpx.Response(429, json=body)))
    assert result.outcome is Outcome.RATE_LIMITED and result.retry_after == 3.0


@pytest.mark.parametrize(
    ("detail", "seconds"),
    [
        ("Request was throttled. Your rate limit resets in ~30s.", 30.0),
        ("Request was throttled. Expected available in 1 second.", 1.0),
        ("Request was throttled. Expected available in 12 seconds.", 12.0),
    ],
)
def test_retry_after_is_read_from_the_throttle_detail(detail, seconds) -> None:
    # Replicate's documented 429 carries the wait only in words, with no Retry-After header.
    body = {"detail": detail}
    result = generate(BASE, transport=scripted(lambda request: httpx.Response(429, json=body)))
    assert result.outcome is Outcome.RATE_LIMITED and result.retry_after == seconds


@pytest.mark.parametrize(
    ("get", "words"),
    [("/v1/predictions/p1", "not an absolute http(s) URL"), ("https://elsewhere.test/p1", "another host")],
)
def test_polling_urls_must_be_absolute_and_on_the_api_host(get, words) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(201, json=prediction("starting", get=get))

    result = generate(BASE, transport=scripted(answer))
    assert result.outcome is Outcome.UNAVAILABLE and words in result.message
    assert seen[-1] == "/v1/predictions/p1/cancel"  # the token went nowhere else, and the prediction was stopped


@pytest.mark.parametrize(
    ("settled", "outcome", "words"),
    [
        (prediction("failed", error="CUDA out of memory"), Outcome.UNAVAILABLE, "CUDA out of memory"),
        (prediction("failed", error=NSFW_ERROR), Outcome.CONTENT_FILTERED, "NSFW"),
        (prediction("canceled"), Outcome.UNAVAILABLE, "canceled"),
        # https://replicate.com/docs/topics/predictions/lifecycle: "exceeded its deadline before it could start"
        (prediction("aborted"), Outcome.UNAVAILABLE, "aborted"),
        (prediction("succeeded", output=[]), Outcome.CONTENT_FILTERED, "without any output"),
        (prediction("succeeded", output="a poem, not a file"), Outcome.UNRECOGNISED_ANSWER, "no image URL"),
    ],
)
def test_settled_predictions_map_to_outcomes(settled, outcome, words) -> None:
    polls = iter([prediction("processing"), settled])

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json=prediction("starting"))
        return httpx.Response(200, json=next(polls))

    result = generate(BASE, transport=scripted(answer))
    assert result.outcome is outcome and words in result.message


def test_a_passing_poll_failure_is_retried() -> None:
    polls = iter(
        [
            httpx.Response(503, json={"detail": "busy"}),
            httpx.Response(200, json=prediction("succeeded", output=["https://replicate.delivery/x.png"])),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json=prediction("starting")) if request.method == "POST" else next(polls)

    result = generate(BASE, transport=scripted(answer))
    assert result.outcome is Outcome.OK and result.images[0].url == "https://replicate.delivery/x.png"
