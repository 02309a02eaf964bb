"""A provider's 200 whose body breaks off midway (its Content-Length promised more) is a generation made and billed:
logged with status 200 and its price, said as "the answer broke off after N of M bytes", and not bought again
from the same candidate in the request; the next candidate may serve (probe A7)."""

from __future__ import annotations

import re

import pytest

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.providers.scripted_answers import outcomes, routing, walk

PRICE = 0.04


@pytest.fixture(autouse=True)
def key(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")


def test_a_200_that_broke_off_is_paid_logged_as_such_and_the_next_candidate_serves() -> None:
    cut, working = Script(default="cut"), Script()
    with serve(create_app(cut)) as first, serve(create_app(working)) as second:
        result = walk(
            routing(
                {
                    "cut": ("openai", f"{first.url}/v1", "dall-e-3"),
                    "working": ("openai", f"{second.url}/v1", "dall-e-3"),
                },
                cost=PRICE,
            )
        )
    assert outcomes(result) == [("cut", "unavailable"), ("working", "ok")]
    broke_off = result.attempts[0]
    assert broke_off.status_code == 200
    assert broke_off.cost == pytest.approx(PRICE)
    assert re.search(r"answered HTTP 200, but the answer broke off after \d+ of \d+ bytes", broke_off.message)
    assert "could not be reached" not in broke_off.message


def test_a_lone_candidate_whose_200_broke_off_is_not_bought_again_on_the_next_pass() -> None:
    cut = Script(default="cut")
    with serve(create_app(cut)) as server:
        result = walk(routing({"cut": ("openai", f"{server.url}/v1", "dall-e-3")}, cost=PRICE, max_passes=2))
    assert result.image is None
    assert len(cut.requests) == 1
    assert [attempt.cost for attempt in result.attempts] == [pytest.approx(PRICE)]
    assert result.last_failure is not None and "broke off" in result.last_failure.message
