"""A 429 that gives its wait only in OpenAI's rate-limit headers (``x-ratelimit-reset-requests: 20s``) is not asked
again in the same request, and the caller is told that wait; a Retry-After sent twice is read as its longest wait
(probe A2)."""

from __future__ import annotations

import httpx
import pytest

from sentinel.net.retry_after import asked_wait
from sentinel.providers.base import Outcome
from tests.providers.scripted_answers import Answers, openai_routing, outcomes, providers, walk

RATE_LIMITED = (
    b'{"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}}'
)


@pytest.fixture(autouse=True)
def key(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x-ratelimit-reset-requests": "20s", "x-ratelimit-remaining-requests": "0"}, 20),
        ({"x-ratelimit-reset-tokens": "4m0s", "x-ratelimit-remaining-tokens": "0"}, 240),
        ([("retry-after", "1"), ("retry-after", "30")], 30),
    ],
    ids=["requests-reset", "tokens-reset", "retry-after-twice"],
)
def test_the_wait_a_429_gives_keeps_the_request_from_asking_again_and_reaches_the_caller(headers, wait) -> None:
    limited = Answers([(429, headers, RATE_LIMITED)])
    with providers(limited=limited) as urls:
        result = walk(openai_routing(urls))
    # Asked once: the provider said its budget is back only in `wait` seconds, more than the request waits.
    assert len(limited.paths) == 1
    assert outcomes(result)[0] == ("limited", "rate_limited")
    assert result.last_failure is not None and result.last_failure.outcome is Outcome.RATE_LIMITED
    assert result.last_failure.retry_after == pytest.approx(wait, abs=1)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x-ratelimit-reset-requests": "20ms", "x-ratelimit-remaining-requests": "0"}, 0.02),
        ({"x-ratelimit-reset-requests": "1m30.5s"}, 90.5),
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, 360),
        # OpenAI sends these on every answer: a budget with room left says nothing about the wait.
        ({"x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-tokens": "90000"}, None),
        ({"x-ratelimit-reset-requests": "soon", "x-ratelimit-remaining-requests": "0"}, None),
        ({"retry-after": "2", "x-ratelimit-reset-requests": "20s", "x-ratelimit-remaining-requests": "0"}, 2),
        ({"retry-after": "1, 3600"}, 3600),
        ({"retry-after": "1, junk"}, None),
    ],
)
def test_the_wait_read_from_the_headers(headers, wait) -> None:
    said = asked_wait(httpx.Headers(headers))
    assert said == (pytest.approx(wait) if wait is not None else None)
