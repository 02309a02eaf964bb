"""Replies of vision endpoints that speak the API's shape loosely, as local servers, gateways and reasoning models
do: a thinking block before the answer, keys nobody asked for, an error object or nothing in a 200, votes given
as a function call. Each is read for what it says; none is ever taken for a pass it did not give."""

from __future__ import annotations

import pytest

from sentinel.evaluation.vision.parse import ReplyProblem, read_votes
from tests.judges.test_vision_judges import anthropic_fake, api_key, one_judge, openai_fake, vote_of

__all__ = ["anthropic_fake", "api_key", "openai_fake"]  # fixtures, used by name

ASKED = ["product-intact", "no-artifacts"]
FAILING = '{"criteria": [{"id": "product-intact", "passed": true, "reasoning": "whole"}, ' + (
    '{"id": "no-artifacts", "passed": false, "reasoning": "the handle is fused"}]}'
)
PASSING_DRAFT = FAILING.replace("false", "true")


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_reasoning_models_thinking_is_not_the_answer_what_follows_it_is(
    tmp_path, openai_fake, anthropic_fake, api
) -> None:
    # The thinking quotes an answer in which every criterion passes; the answer after it fails one.
    url, script = openai_fake if api == "openai" else anthropic_fake
    script.verdicts = {"no-artifacts": False}
    script.push("thinking")
    panel, rubric = one_judge(tmp_path, url, api, options={"structured_output": "none"})
    vote = vote_of(panel, rubric)
    assert vote.passed is False, vote.reasoning
    assert [c["id"] for c in vote.criteria if not c["passed"]] == ["no-artifacts"]
    assert len(script.requests) == 1  # no repair request paid for


@pytest.mark.parametrize(
    "reply",
    [
        f"<think>Draft: {PASSING_DRAFT} wait, the handle is fused.</think>\n{FAILING}",
        f"<thinking>\n{PASSING_DRAFT}\n</thinking>\n\n```json\n{FAILING}\n```",
        # Chat templates that put the opening tag in the prompt leave only the end of the thinking in the reply.
        f"Let me look. {PASSING_DRAFT} Hmm, no.\n</think>\n{FAILING}",
    ],
)
def test_only_the_answer_after_the_thinking_counts(reply: str) -> None:
    votes = read_votes(reply, ASKED)
    assert [(v.id, v.passed) for v in votes] == [("product-intact", True), ("no-artifacts", False)]


def test_thinking_cut_off_before_its_end_is_no_answer_even_with_a_draft_inside() -> None:
    with pytest.raises(ReplyProblem, match="thinking that never ends"):
        read_votes(f"<think>The answer would be {PASSING_DRAFT} but let me check the", ASKED)


def test_a_draft_before_the_end_of_thinking_with_nothing_after_it_is_no_answer() -> None:
    with pytest.raises(ReplyProblem, match="not JSON"):
        read_votes(f"Let me look. {PASSING_DRAFT} That is my draft.\n</think>\n", ASKED)


@pytest.mark.parametrize("wrapped", ["{}", "```json\n{}\n```", "My answer: {} Done."])
def test_an_end_tag_quoted_inside_an_answer_does_not_cut_it(wrapped: str) -> None:
    # Text in the image ("</think>") that a model quotes in its reasoning must not turn its vote into an abstention.
    quoting = FAILING.replace("the handle is fused", "the label reads </think> and the handle is fused")
    votes = read_votes(wrapped.format(quoting), ASKED)
    assert [(v.id, v.passed) for v in votes] == [("product-intact", True), ("no-artifacts", False)]
    assert "</think>" in votes[1].reasoning


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_keys_nobody_asked_for_are_ignored_and_the_votes_kept(tmp_path, openai_fake, anthropic_fake, api) -> None:
    url, script = openai_fake if api == "openai" else anthropic_fake
    script.verdicts = {"no-artifacts": False}
    script.push("extra_keys")
    panel, rubric = one_judge(tmp_path, url, api, options={"structured_output": "none"})
    vote = vote_of(panel, rubric)
    assert vote.passed is False, vote.reasoning
    assert len(script.requests) == 1


def test_extra_keys_do_not_loosen_the_types_of_the_asked_ones() -> None:
    reply = {"criteria": [{"id": i, "passed": "false", "reasoning": "r", "confidence": 0.9} for i in ASKED]}
    with pytest.raises(ReplyProblem, match="passed"):
        read_votes(reply, ASKED)


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_an_error_object_in_a_200_is_named_in_the_abstention(tmp_path, openai_fake, anthropic_fake, api) -> None:
    url, script = openai_fake if api == "openai" else anthropic_fake
    script.push("error_in_200")
    panel, rubric = one_judge(tmp_path, url, api)
    vote = vote_of(panel, rubric)
    assert vote.passed is None
    assert "answered 200 with an error: The model is overloaded, please try again later." in vote.reasoning
    assert "KeyError" not in vote.reasoning


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_200_with_nothing_in_it_says_so(tmp_path, openai_fake, anthropic_fake, api) -> None:
    url, script = openai_fake if api == "openai" else anthropic_fake
    script.push("no_answer", "no_answer")
    panel, rubric = one_judge(tmp_path, url, api)
    vote = vote_of(panel, rubric)
    assert vote.passed is None
    assert ("has no choices" if api == "openai" else "not JSON") in vote.reasoning
    assert "IndexError" not in vote.reasoning


def test_votes_given_as_a_function_calls_arguments_are_read(tmp_path, openai_fake) -> None:
    url, script = openai_fake
    script.verdicts = {"no-artifacts": False}
    script.push("tool_call")
    panel, rubric = one_judge(tmp_path, url)
    vote = vote_of(panel, rubric)
    assert vote.passed is False, vote.reasoning
    assert len(script.requests) == 1
