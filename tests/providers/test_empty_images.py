"""A 200 whose image is empty (``"b64_json": ""``, ``"url": ""``, an empty data URI) is the provider's failed
answer, not its safety system refusing the caller's prompt: the walk goes on to the next candidate (probe A1)."""

from __future__ import annotations

import pytest

from sentinel.providers.base import Outcome
from tests.providers.scripted_answers import OK_ANSWER, Answers, openai_routing, outcomes, providers, walk

EMPTY_IMAGES = {
    "b64_json": b'{"data": [{"b64_json": ""}]}',
    "url": b'{"data": [{"url": ""}]}',
    "data URI": b'{"data": [{"url": "data:image/png;base64,"}]}',
}


@pytest.fixture(autouse=True)
def key(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")


@pytest.mark.parametrize("shape", sorted(EMPTY_IMAGES))
def test_an_empty_image_falls_back_to_the_next_candidate(shape) -> None:
    empty, working = Answers([(200, {}, EMPTY_IMAGES[shape])]), Answers([OK_ANSWER])
    with providers(empty=empty, working=working) as urls:
        result = walk(openai_routing(urls))
    assert outcomes(result) == [("empty", "unrecognised_answer"), ("working", "ok")]
    assert result.image is not None
    assert "empty image" in result.attempts[0].message
    # Priced as a 200 without an image is: nothing was delivered.
    assert result.attempts[0].cost == 0


@pytest.mark.parametrize("shape", sorted(EMPTY_IMAGES))
def test_an_empty_image_is_never_called_a_content_policy_refusal(shape) -> None:
    with providers(empty=Answers([(200, {}, EMPTY_IMAGES[shape])])) as urls:
        result = walk(openai_routing(urls))
    assert result.image is None
    assert result.last_failure is not None
    assert result.last_failure.outcome is Outcome.UNRECOGNISED_ANSWER
    assert "content" not in result.last_failure.message
