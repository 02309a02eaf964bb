"""The fal adapter against a fake fal queue API on 127.0.0.1: every answer maps to a typed outcome."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from sentinel.providers.base import GenerationRequest, Outcome
from sentinel.providers.fal import FalProvider, build_input, parse_result
from sentinel.store.images import sniff_mime
from sentinel_fakes.fal import create_app
from tests.providers.harness import AdapterRunner, FakeApp, assert_serves_png, assert_typed_failure, closed_port_url
from tests.providers.stopping import cancel_while_polling

MODEL = "fal-ai/flux/dev"
AUTH = {"Authorization": "Key fal-test"}


@pytest.fixture(scope="module")
def fake_app() -> FakeApp:
    return create_app


# Polling every 20 ms keeps the fake's two polls to settle from slowing the tests down.
generate = AdapterRunner(
    lambda base, client, timeout: FalProvider(base, "fal-test", client, timeout=timeout, poll_interval=0.02), MODEL
)


def test_success_polls_and_hands_back_a_png_url(fake) -> None:
    base, script = fake
    mark = len(script.requests)
    result = generate(base, width=512, height=384, seed=7, negative_prompt="blur", params={"num_inference_steps": 4})
    assert result.outcome is Outcome.OK, result.message
    url = result.images[0].url
    assert url and result.images[0].data is None
    assert_serves_png(url, "image/png")
    submit, *rest = script.requests[mark:]
    assert submit["method"] == "POST" and submit["path"] == f"/{MODEL}"
    assert submit["body"] == {
        "prompt": "a red bicycle",
        "image_size": {"width": 512, "height": 384},
        "num_images": 1,
        "enable_safety_checker": True,
        "seed": 7,
        "negative_prompt": "blur",
        "num_inference_steps": 4,
    }
    # Status and result live under the app, not the submitted subpath.
    polls = [r for r in rest if r["path"].endswith("/status")]
    assert len(polls) >= 2 and all(r["path"].startswith("/fal-ai/flux/requests/") for r in rest)
    assert rest[-1]["path"] == polls[-1]["path"].removesuffix("/status")


def test_image_size_preset_is_passed_through(fake) -> None:
    base, script = fake
    result = generate(base, params={"image_size": "landscape_16_9"})
    assert result.outcome is Outcome.OK, result.message
    submit = next(r for r in reversed(script.requests) if r["method"] == "POST")
    assert submit["body"]["image_size"] == "landscape_16_9"


@pytest.mark.parametrize(
    ("behaviour", "outcome", "words"),
    [
        ("rate_limit", Outcome.RATE_LIMITED, "429"),
        ("unavailable", Outcome.UNAVAILABLE, "503"),
        ("content_filter", Outcome.CONTENT_FILTERED, "NSFW"),
        ("empty", Outcome.CONTENT_FILTERED, "without any image"),
        ("bad_auth", Outcome.AUTH, "401"),
    ],
)
def test_failures_map_to_typed_outcomes(fake, behaviour, outcome, words) -> None:
    base, script = fake
    script.push(behaviour)
    assert_typed_failure(generate(base), behaviour, outcome, words)


def test_slow_job_times_out_and_is_cancelled(fake) -> None:
    base, script = fake
    script.slow_seconds = 2.0
    script.push("slow")
    mark = len(script.requests)
    result = generate(base, timeout=0.5)
    assert result.outcome is Outcome.TIMEOUT
    assert "IN_PROGRESS" in result.message
    cancel = script.requests[mark:][-1]
    assert cancel["method"] == "PUT" and cancel["path"].endswith("/cancel")


def test_job_is_cancelled_when_the_caller_stops_waiting(fake) -> None:
    # The router's deadline (or a client that went away) cancels the awaiting task before the adapter's own
    # timeout fires: the job must still be cancelled on fal's queue, or it runs on and is billed.
    base, script = fake
    script.slow_seconds, slow_seconds = 60.0, script.slow_seconds
    script.push("slow")
    try:
        seen = cancel_while_polling(
            lambda client: FalProvider(base, "fal-test", client, timeout=30.0, poll_interval=0.02),
            GenerationRequest(prompt="a red bicycle", model=MODEL),
            script,
            is_poll=lambda request: request["path"].endswith("/status"),
        )
    finally:
        script.slow_seconds = slow_seconds
    # https://fal.ai/docs/inference-api/queue/cancel: PUT {queue}/{owner}/{app}/requests/{request_id}/cancel
    request_root = seen[1]["path"].removesuffix("/status")
    assert request_root.startswith("/fal-ai/flux/requests/")
    assert {"method": "PUT", "path": f"{request_root}/cancel", "body": None} in seen
    status = httpx.get(f"{base}{request_root}/status", headers=AUTH).json()
    assert status["status"] == "COMPLETED" and status["error_type"] == "request_cancelled"


def test_both_drifted_shapes_still_parse(fake) -> None:
    base, script = fake
    script.push("drift", "drift")  # one ``image`` object, then bare URL strings
    for _ in range(2):
        result = generate(base)
        assert result.outcome is Outcome.OK, result.message
        assert sniff_mime(httpx.get(result.images[0].url).content) == "image/png"


def test_octet_stream_image_url_is_handed_back_for_the_router_to_sniff(fake) -> None:
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


def test_wrong_shaped_request_is_refused_like_fal(fake) -> None:
    base, _ = fake
    # fal queues anything; the job completes and its result is the validation error.
    queued = httpx.post(f"{base}/{MODEL}", json={"image_size": "square"}, headers=AUTH).json()
    deadline = time.monotonic() + 5
    while httpx.get(queued["status_url"], headers=AUTH).json()["status"] != "COMPLETED":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    response = httpx.get(queued["response_url"], headers=AUTH)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]
    }
    assert httpx.post(f"{base}/{MODEL}", json={"prompt": "x"}).status_code == 401
    assert httpx.post(f"{base}/{MODEL}", json={"prompt": "x"}, headers={"Authorization": "Bearer x"}).status_code == 401


def test_invalid_input_from_us_is_invalid_request(fake) -> None:
    base, _ = fake
    result = generate(base, params={"image_size": "poster"})
    assert result.outcome is Outcome.INVALID_REQUEST
    assert result.status_code == 422 and "image_size: value is not a valid enumeration member" in result.message


def test_bad_model_id_is_refused_without_a_request() -> None:
    result = generate("http://127.0.0.1:9", model="flux")
    assert result.outcome is Outcome.INVALID_REQUEST


def test_closed_port_is_unavailable() -> None:
    assert generate(closed_port_url()).outcome is Outcome.UNAVAILABLE


def test_input_mapping() -> None:
    request = GenerationRequest(prompt="p", model=MODEL, params={"enable_safety_checker": False, "guidance_scale": 3})
    assert build_input(request) == {
        "prompt": "p",
        "image_size": {"width": 1024, "height": 1024},
        "num_images": 1,
        "enable_safety_checker": True,
        "guidance_scale": 3,
    }


def test_result_shapes() -> None:
    png = {"url": "https://fal.media/a.png"}
    assert parse_result({"images": [png], "has_nsfw_concepts": [False]}).ok
    assert parse_result({"images": ["data:image/png;base64,iVBORw0KGgo="]}).images[0].data == b"\x89PNG\r\n\x1a\n"
    mixed = parse_result({"images": [png, {"url": "https://fal.media/b.png"}], "has_nsfw_concepts": [True, False]})
    assert [image.url for image in mixed.images] == ["https://fal.media/b.png"]
    assert parse_result({"images": [{"url": "file:///etc/passwd"}]}).outcome is Outcome.UNRECOGNISED_ANSWER
    assert parse_result({"error": "runner crashed", "images": []}).outcome is Outcome.UNAVAILABLE


# Answers the fake does not give, through a scripted transport.

BASE = "https://queue.fal.test"
ROOT = f"{BASE}/fal-ai/flux/requests/r1"


def queued(**urls: str) -> dict:
    return {
        "request_id": "r1",
        "status_url": f"{ROOT}/status",
        "response_url": ROOT,
        "cancel_url": f"{ROOT}/cancel",
    } | urls


def scripted(answers: dict[str, Callable[[], httpx.Response]]) -> httpx.MockTransport:
    """Answers by "METHOD path"; anything else is a 404."""

    def answer(request: httpx.Request) -> httpx.Response:
        make = answers.get(f"{request.method} {request.url.path}")
        return make() if make else httpx.Response(404, json={"detail": "Request not found"})

    return httpx.MockTransport(answer)


@pytest.mark.parametrize(
    ("urls", "words"),
    [
        ({"status_url": "/fal-ai/flux/requests/r1/status"}, "not an absolute http(s) URL"),
        ({"response_url": "ftp://queue.fal.test/r1"}, "not an absolute http(s) URL"),
        ({"status_url": "https://elsewhere.test/status"}, "another host"),
    ],
)
def test_queue_urls_must_be_absolute_and_on_the_queue_host(urls, words) -> None:
    transport = scripted({"POST /fal-ai/flux/dev": lambda: httpx.Response(200, json=queued(**urls))})
    result = generate(BASE, transport=transport)
    assert result.outcome is Outcome.UNAVAILABLE and words in result.message


def test_completed_job_whose_result_holds_an_error_is_unavailable() -> None:
    transport = scripted(
        {
            "POST /fal-ai/flux/dev": lambda: httpx.Response(200, json=queued()),
            "GET /fal-ai/flux/requests/r1/status": lambda: httpx.Response(200, json={"status": "COMPLETED"}),
            "GET /fal-ai/flux/requests/r1": lambda: httpx.Response(200, json={"error": "CUDA out of memory"}),
        }
    )
    result = generate(BASE, transport=transport)
    assert result.outcome is Outcome.UNAVAILABLE and "CUDA out of memory" in result.message


def test_completed_job_whose_result_is_a_server_error_is_unavailable() -> None:
    transport = scripted(
        {
            "POST /fal-ai/flux/dev": lambda: httpx.Response(200, json=queued()),
            "GET /fal-ai/flux/requests/r1/status": lambda: httpx.Response(
                200, json={"status": "COMPLETED", "error": "Internal error", "error_type": "runner_error"}
            ),
            "GET /fal-ai/flux/requests/r1": lambda: httpx.Response(500, json={"detail": "Internal Server Error"}),
        }
    )
    result = generate(BASE, transport=transport)
    assert result.outcome is Outcome.UNAVAILABLE and "500" in result.message


def test_content_policy_422_is_a_refusal() -> None:
    detail = [{"loc": ["body", "prompt"], "msg": "The prompt was flagged.", "type": "content_policy_violation"}]
    transport = scripted({"POST /fal-ai/flux/dev": lambda: httpx.Response(422, json={"detail": detail})})
    result = generate(BASE, transport=transport)
    assert result.outcome is Outcome.CONTENT_FILTERED and "flagged" in result.message
