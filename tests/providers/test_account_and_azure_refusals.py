"""A provider whose account cannot pay (OpenAI's 400 billing_hard_limit_reached, a gateway's 402) is that provider
being away, not the caller's bad request: the walk goes on to the next candidate (probe A11).
Azure OpenAI's safety refusal (400 contentFilter) is a content-policy refusal like OpenAI's (probe A12)."""

from __future__ import annotations

import orjson
import pytest

from sentinel.providers.base import Outcome
from tests.providers.scripted_answers import OK_ANSWER, Answers, openai_routing, outcomes, providers, walk


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = {"error": {"code": code, "message": message, "type": "invalid_request_error", "param": None}}
    return status, {}, orjson.dumps(body)


ACCOUNTS_THAT_CANNOT_PAY = {
    "billing hard limit": _error(400, "billing_hard_limit_reached", "Billing hard limit has been reached"),
    "payment required": _error(402, "payment_required", "Your credit balance is too low"),
}


@pytest.fixture(autouse=True)
def key(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")


@pytest.mark.parametrize("answer", sorted(ACCOUNTS_THAT_CANNOT_PAY))
def test_an_account_that_cannot_pay_passes_the_request_to_the_next_candidate(answer) -> None:
    broke, working = Answers([ACCOUNTS_THAT_CANNOT_PAY[answer]]), Answers([OK_ANSWER])
    with providers(broke=broke, working=working) as urls:
        result = walk(openai_routing(urls))
    assert outcomes(result) == [("broke", "auth"), ("working", "ok")]
    assert result.image is not None
    assert "cannot pay" in result.attempts[0].message


@pytest.mark.parametrize("answer", sorted(ACCOUNTS_THAT_CANNOT_PAY))
def test_an_account_that_cannot_pay_is_never_the_callers_bad_request(answer) -> None:
    with providers(broke=Answers([ACCOUNTS_THAT_CANNOT_PAY[answer]])) as urls:
        result = walk(openai_routing(urls))
    assert result.image is None and result.last_failure is not None
    # A set-up failure (502 provider_auth_failed, no retry advised), not a 400 asking the caller to change the request.
    assert result.last_failure.outcome is Outcome.AUTH
    assert len(result.attempts) == 1  # not asked again in a second pass: nothing changes until someone pays


def test_azures_safety_refusal_is_a_content_policy_refusal() -> None:
    refusal = Answers([_error(400, "contentFilter", "Your task failed as a result of our safety system.")])
    with providers(azure=refusal) as urls:
        result = walk(openai_routing(urls))
    assert result.last_failure is not None
    assert result.last_failure.outcome is Outcome.CONTENT_FILTERED
    assert "safety system" in result.last_failure.message
