"""An account with no credit is billing, not a rate limit (outside probe F4): OpenAI's 429 insufficient_quota, a
gateway passing it on inside a 200, Replicate's 402 "Insufficient credit" and Imagen's 400 "only accessible to billed
users" are the provider being away until someone pays. The walk goes on to the next candidate at once, never waits
for a cool-down and asks again, and the caller is never told it was rate limited."""

from __future__ import annotations

import orjson
import pytest

from sentinel.providers.base import Outcome
from tests.providers.scripted_answers import OK_ANSWER, Answers, outcomes, providers, routing, walk

QUOTA_MESSAGE = "You exceeded your current quota, please check your plan and billing details."


def _openai_quota(status: int = 429) -> tuple[int, dict[str, str], bytes]:
    # api.openai.com's answer, word for word: a 429 without Retry-After.
    error = {"message": QUOTA_MESSAGE, "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}
    return status, {}, orjson.dumps({"error": error})


NO_CREDIT = {
    "openai 429 insufficient_quota": ("openai", "/v1", "dall-e-3", _openai_quota()),
    # A gateway that answers every failure inside a 200.
    "openai-shaped gateway, quota inside a 200": ("openai", "/v1", "dall-e-3", _openai_quota(200)),
    # An OpenAI-shaped gateway naming the kind only in `type`.
    "gateway, insufficient_quota as type only": (
        "openai",
        "/v1",
        "dall-e-3",
        (429, {}, orjson.dumps({"error": {"message": QUOTA_MESSAGE, "type": "insufficient_quota"}})),
    ),
    "replicate 402": (
        "replicate",
        "",
        "black-forest-labs/flux-schnell",
        (
            402,
            {},
            orjson.dumps({"title": "Insufficient credit", "detail": "You have insufficient credit", "status": 402}),
        ),
    ),
    "imagen 400 billed users": (
        "google",
        "",
        "imagen-4.0-generate-001",
        (
            400,
            {},
            orjson.dumps(
                {
                    "error": {
                        "code": 400,
                        "message": "Imagen API is only accessible to billed users at this time.",
                        "status": "INVALID_ARGUMENT",
                    }
                }
            ),
        ),
    ),
}


@pytest.fixture(autouse=True)
def key(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")


@pytest.mark.parametrize("case", sorted(NO_CREDIT))
def test_no_credit_is_a_set_up_failure_asked_once(case) -> None:
    kind, path, model, answer = NO_CREDIT[case]
    broke = Answers([answer])
    with providers(broke=broke) as urls:
        result = walk(routing({"broke": (kind, urls["broke"] + path, model)}))
    assert result.image is None and result.last_failure is not None
    # 502 provider_auth_failed with x-should-retry: false at the gateway, a final failure for a job; no wait given.
    assert result.last_failure.outcome is Outcome.AUTH, result.last_failure.message
    assert result.last_failure.retry_after is None
    # Not asked again in a second pass: no wait makes an account able to pay.
    assert len(broke.paths) == 1
    assert len(result.attempts) == 1


@pytest.mark.parametrize("case", sorted(NO_CREDIT))
def test_no_credit_passes_the_request_to_the_next_candidate(case) -> None:
    kind, path, model, answer = NO_CREDIT[case]
    broke, working = Answers([answer]), Answers([OK_ANSWER])
    with providers(broke=broke, working=working) as urls:
        candidates = {"broke": (kind, urls["broke"] + path, model), "working": ("openai", f"{urls['working']}/v1", "x")}
        result = walk(routing(candidates))
    assert outcomes(result) == [("broke", "auth"), ("working", "ok")]
    assert result.image is not None


def test_the_operator_reads_that_the_account_cannot_pay() -> None:
    with providers(broke=Answers([_openai_quota()])) as urls:
        result = walk(routing({"broke": ("openai", f"{urls['broke']}/v1", "dall-e-3")}))
    assert result.last_failure is not None
    assert "cannot pay" in result.last_failure.message and "insufficient_quota" in result.last_failure.message


def test_a_real_rate_limit_is_still_a_rate_limit() -> None:
    limited = {"message": "Rate limit reached for images per minute", "type": "requests", "code": "rate_limit_exceeded"}
    answer = (429, {"retry-after": "7"}, orjson.dumps({"error": limited}))
    with providers(busy=Answers([answer])) as urls:
        result = walk(routing({"busy": ("openai", f"{urls['busy']}/v1", "dall-e-3")}))
    assert result.last_failure is not None
    assert result.last_failure.outcome is Outcome.RATE_LIMITED
