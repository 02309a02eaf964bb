"""Claude's sampling rules on the wire: the fake Anthropic server refuses `temperature` where Anthropic does (the
Claude 5 family, always thinking; any model with extended thinking on), and Sentinel's vision judge, speaking to it,
sends none to a Claude 5 model, so its votes come back."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sentinel_fakes import anthropic
from sentinel_fakes.server import serve
from sentinel_fakes.vision import VisionScript
from tests.judges.test_vision_judges import GOOD, KEY, one_judge, vote_of

CLAUDE_5 = "claude-sonnet-5-5"
CLAUDE_4 = "claude-sonnet-4-5"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}


@pytest.fixture(autouse=True)
def api_key(monkeypatch) -> None:
    monkeypatch.setenv("SENTINEL_TEST_VISION_KEY", KEY)


@pytest.fixture
def fake() -> Iterator[tuple[str, VisionScript]]:
    script = VisionScript(api_key=KEY, models={CLAUDE_5, CLAUDE_4}, slow_seconds=3)
    with serve(anthropic.create_app(script)) as server:
        yield server.url, script


def message(model: str, **extra: Any) -> dict[str, Any]:
    source = {"type": "base64", "media_type": "image/jpeg", "data": base64.b64encode(GOOD).decode()}
    content = [{"type": "text", "text": "Judge the image against these criteria:\n- id: decodes\n"}]
    content.append({"type": "image", "source": source})  # type: ignore[arg-type]
    return {"model": model, "max_tokens": 400, "messages": [{"role": "user", "content": content}]} | extra


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/messages", json=body, headers=HEADERS, timeout=10)


def test_the_fake_refuses_temperature_for_a_claude_5_model_and_takes_it_for_claude_4(fake) -> None:
    url, _ = fake
    refused = post(url, message(CLAUDE_5, temperature=0))
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith("temperature:")
    assert post(url, message(CLAUDE_5)).status_code == 200  # left out: the model's own default
    assert post(url, message(CLAUDE_5, temperature=1)).status_code == 200  # the default value itself
    assert post(url, message(CLAUDE_4, temperature=0)).status_code == 200


def test_the_fake_refuses_temperature_and_top_k_with_extended_thinking_on(fake) -> None:
    url, _ = fake
    thinking = {"type": "enabled", "budget_tokens": 1024}
    refused = post(url, message(CLAUDE_4, temperature=0, thinking=thinking))
    assert refused.status_code == 400 and "temperature" in refused.json()["error"]["message"]
    assert post(url, message(CLAUDE_4, top_k=5, thinking=thinking)).status_code == 400
    assert post(url, message(CLAUDE_4, temperature=0, thinking={"type": "disabled"})).status_code == 200


def test_a_vision_judge_on_a_claude_5_model_sends_no_temperature_and_gets_its_votes(tmp_path, fake) -> None:
    url, script = fake
    panel, rubric = one_judge(tmp_path, url, api="anthropic", options={"model": CLAUDE_5})
    vote = vote_of(panel, rubric)
    assert vote.passed is True, vote.reasoning
    sent = script.requests[-1]["body"]
    assert sent["model"] == CLAUDE_5 and "temperature" not in sent and "top_k" not in sent


def test_a_judge_that_forces_a_temperature_on_claude_5_is_refused_by_the_fake(tmp_path, fake) -> None:
    # The owner overrode the family rule: the fake answers as Anthropic would, so the rule above is what saves votes.
    url, script = fake
    panel, rubric = one_judge(tmp_path, url, api="anthropic", options={"model": CLAUDE_5, "temperature": 0.0})
    vote = vote_of(panel, rubric)
    assert vote.passed is not True
    assert script.requests[-1]["body"]["temperature"] == 0.0
