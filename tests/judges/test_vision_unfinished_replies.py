"""Vision replies that are not a whole answer, and what they cost (outside probe K3, K4, K5): a reply cut off at the
token limit abstains at once saying to raise max_tokens (no repair call, which the same limit would cut off too); a
reply a content filter stopped abstains whatever its text holds, on both wires; the tokens an unusable reply was
billed are counted; Gemini's list-wrapped errors are read for their message, and its 400 API_KEY_INVALID is a
refused key. Against the fake OpenAI-compatible and Anthropic servers, through the panel's own runner."""

from __future__ import annotations

import pytest

from tests.judges.test_vision_judges import KEY, anthropic_fake, api_key, one_judge, openai_fake, vote_of

__all__ = ["anthropic_fake", "api_key", "openai_fake"]  # fixtures, used by name


@pytest.mark.parametrize(
    ("api", "options", "sent_as"),
    [
        ("openai", {}, ""),
        ("openai", {"model": "gpt-5-mini"}, ", sent as max_completion_tokens"),
        ("anthropic", {}, ""),  # a forced tool call whose input was cut short
        ("anthropic", {"structured_output": "none"}, ""),
    ],
    ids=["chat", "chat-reasoning-model", "anthropic-tool", "anthropic-text"],
)
def test_a_reply_cut_off_at_max_tokens_abstains_saying_to_raise_it_without_a_repair_call(
    tmp_path, openai_fake, anthropic_fake, api, options, sent_as
) -> None:
    url, script = openai_fake if api == "openai" else anthropic_fake
    script.models |= {"gpt-5-mini"}
    script.push("cut_off", "cut_off")
    panel, rubric = one_judge(tmp_path, url, api, options={"max_tokens": 300, **options})
    vote = vote_of(panel, rubric)
    assert vote.passed is None, vote.reasoning
    assert f"cut off at the judge's token limit (options.max_tokens: 300{sent_as})" in vote.reasoning
    assert "raise options.max_tokens" in vote.reasoning and "not JSON" not in vote.reasoning
    assert len(script.requests) == 1  # no repair request paid for: it would be cut off the same way
    assert vote.usage["calls"] == 1 and vote.usage["input_tokens"] > 0 and vote.usage["cost"] is not None


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_reply_a_content_filter_stopped_abstains_even_when_its_text_passes_everything(
    tmp_path, openai_fake, anthropic_fake, api
) -> None:
    url, script = openai_fake if api == "openai" else anthropic_fake
    script.verdicts = {"no-artifacts": False}  # what the model would have said
    script.push("content_filter")
    panel, rubric = one_judge(tmp_path, url, api, options={"structured_output": "none"})
    vote = vote_of(panel, rubric)
    assert vote.passed is None, vote.reasoning  # never the PASS the filtered text holds
    said = "content filter stopped the reply (finish_reason 'content_filter')" if api == "openai" else "refused"
    assert said in vote.reasoning
    assert len(script.requests) == 1


@pytest.mark.parametrize("behaviour", ["filtered_empty", "no_answer"])
def test_tokens_billed_for_an_unusable_reply_are_counted(tmp_path, openai_fake, behaviour) -> None:
    url, script = openai_fake
    script.push(behaviour, behaviour)
    panel, rubric = one_judge(tmp_path, url)
    vote = vote_of(panel, rubric)
    assert vote.passed is None
    billed = len(script.requests)
    assert vote.usage["calls"] == billed
    assert vote.usage["input_tokens"] is not None and vote.usage["input_tokens"] > 85 * billed
    assert vote.usage["cost"] is not None and vote.usage["cost"] > 0


def test_geminis_refused_key_is_named_as_a_refused_key_with_its_message(tmp_path, monkeypatch, openai_fake) -> None:
    url, script = openai_fake
    script.error_shape = "google"
    monkeypatch.setenv("SENTINEL_TEST_VISION_KEY", KEY + "-wrong")
    panel, rubric = one_judge(tmp_path, url)
    vote = vote_of(panel, rubric)
    assert vote.passed is None
    assert (
        "the endpoint refused the API key from SENTINEL_TEST_VISION_KEY "
        "(400: API key not valid. Please pass a valid API key. (INVALID_ARGUMENT))"
    ) in vote.reasoning, vote.reasoning
    assert "[{" not in vote.reasoning and KEY not in vote.reasoning
    assert len(script.requests) == 1  # a refused key is not retried


def test_geminis_list_wrapped_errors_are_read_for_their_message(tmp_path, openai_fake) -> None:
    url, script = openai_fake
    script.error_shape, script.retry_after = "google", 0
    script.push("rate_limit", "rate_limit", "rate_limit")
    panel, rubric = one_judge(tmp_path, url, options={"max_retries": 2})
    vote = vote_of(panel, rubric)
    assert vote.passed is None
    assert "the endpoint answered 429: Rate limit reached for gpt-4o-mini" in vote.reasoning, vote.reasoning
    assert "(RESOURCE_EXHAUSTED)" in vote.reasoning and "[{" not in vote.reasoning
    assert "gave up after 3 tries" in vote.reasoning
