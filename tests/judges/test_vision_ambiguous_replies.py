"""Replies that give more than one answer, or one answer two ways, are never read as the pass one of them gives: a
key given twice in one object (``"passed": false, …, "passed": true``), the message's text and a function call that
differ, two calls or two choices that differ, a refusal part beside a passing text part, an error object beside
choices. Each is a refusal or an error (the judge abstains), or ambiguous (one repair request, then it abstains).
The same answer given twice, or a sentence before a call, is still one answer."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from sentinel.errors import ConfigError
from sentinel.evaluation.panel import Panel
from sentinel.evaluation.vision.options import VisionOptions
from sentinel.evaluation.vision.parse import ReplyProblem, read_votes
from sentinel.evaluation.vision.wire import AnthropicMessages, NotAReply, OpenAIChat, read_answer
from sentinel_fakes.vision import CACHED_ANSWER_ERROR, REFUSAL
from tests.conftest import FIXTURES, SENTINEL, clean_env
from tests.judges.test_vision_judges import (
    KEY,
    anthropic_fake,
    api_key,
    one_judge,
    openai_fake,
    rubric_file,
    vision_judge_file,
    vote_of,
)

__all__ = ["anthropic_fake", "api_key", "openai_fake"]  # fixtures, used by name

ASKED = ["product-intact", "no-artifacts"]


def vote(criterion: str, passed: bool, reasoning: str = "seen") -> str:
    return json.dumps({"id": criterion, "passed": passed, "reasoning": reasoning})


FAILING = [vote("product-intact", False, "the handle is melted"), vote("no-artifacts", False, "warped")]
PASSING = [vote("product-intact", True), vote("no-artifacts", True)]
CRITERIA_TWICE = '{"criteria": [' + ", ".join(FAILING) + '], "criteria": [' + ", ".join(PASSING) + "]}"


# A3: a key given two values


@pytest.mark.parametrize(
    "reply",
    [
        # The model changed its mind mid-object: json keeps the last value, the pass.
        '{"criteria": [{"id": "product-intact", "passed": false, "reasoning": "melted handle", "passed": true}, '
        + PASSING[1]
        + "]}",
        CRITERIA_TWICE,
        # The same inside a fence and prose, and after a reasoning model's thinking.
        "My answer:\n```json\n" + CRITERIA_TWICE + "\n```",
        '<think>hmm</think>{"criteria": [{"id": "product-intact", "id": "no-artifacts", "passed": true, '
        '"reasoning": "x"}, ' + PASSING[0] + "]}",
    ],
    ids=["passed-twice", "criteria-twice", "in-prose", "after-thinking"],
)
def test_a_reply_that_gives_a_key_two_values_is_no_answer(reply: str) -> None:
    with pytest.raises(ReplyProblem, match="more than one value in one object"):
        read_votes(reply, ASKED)


@pytest.mark.parametrize(
    "api, behaviour", [("openai", "revised_vote"), ("openai", "revised_call"), ("anthropic", "revised_vote")]
)
def test_a_vote_revised_mid_object_gets_a_repair_then_an_abstention_never_the_pass(
    tmp_path, openai_fake, anthropic_fake, api, behaviour
) -> None:
    # Each vote says "passed" twice: failing first, passing last (in the content, a function call's arguments, or
    # Anthropic's tool call input); both the reply and the repaired reply do it.
    url, script = openai_fake if api == "openai" else anthropic_fake
    script.push(behaviour, behaviour)
    panel, rubric = one_judge(tmp_path, url, api)
    vote = vote_of(panel, rubric)
    assert vote.passed is None, vote.reasoning
    assert "'passed' more than one value in one object" in vote.reasoning
    assert "after one repair request" in vote.reasoning
    assert len(script.requests) == 2


def test_the_repair_after_a_revised_vote_gets_the_one_answer(tmp_path, openai_fake) -> None:
    url, script = openai_fake
    script.verdicts = {"no-artifacts": False}
    script.push("revised_vote")
    panel, rubric = one_judge(tmp_path, url)
    vote = vote_of(panel, rubric)
    assert vote.passed is False, vote.reasoning
    repair = script.requests[1]["body"]["messages"][-1]["content"]
    assert "more than one value in one object" in repair


# A4: a refusal given as a content part


def test_a_refusal_part_is_a_refusal_whatever_text_parts_come_with_it(tmp_path, openai_fake) -> None:
    url, script = openai_fake
    script.push("refusal_part")
    panel, rubric = one_judge(tmp_path, url)
    vote = vote_of(panel, rubric)
    assert vote.passed is None, vote.reasoning
    assert f"the model refused: {REFUSAL}" in vote.reasoning
    assert len(script.requests) == 1  # a refusal gets no repair request


# A6: two answers in one reply


@pytest.mark.parametrize(
    "behaviour, places", [("text_and_call", "its text and a function call"), ("two_calls", "2 function calls")]
)
def test_two_answers_that_differ_get_a_repair_then_an_abstention(tmp_path, openai_fake, behaviour, places) -> None:
    # One of the two answers passes every criterion, the other fails one.
    url, script = openai_fake
    script.verdicts = {"no-artifacts": False}
    script.push(behaviour, behaviour)
    panel, rubric = one_judge(tmp_path, url)
    vote = vote_of(panel, rubric)
    assert vote.passed is None, vote.reasoning
    assert f"the reply gives 2 answers that differ ({places})" in vote.reasoning
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    "behaviour, places",
    [("text_and_call", "its text and a record_votes tool call"), ("two_calls", "2 record_votes tool calls")],
)
def test_anthropic_answers_that_differ_get_a_repair_whose_one_answer_counts(
    tmp_path, anthropic_fake, behaviour, places
) -> None:
    # The repair asks for plain text (no tool), in which the model gives its one answer: the scripted votes.
    url, script = anthropic_fake
    script.verdicts = {"no-artifacts": False}
    script.push(behaviour)
    panel, rubric = one_judge(tmp_path, url, "anthropic")
    vote = vote_of(panel, rubric)
    assert vote.passed is False, vote.reasoning
    assert len(script.requests) == 2
    repair = script.requests[1]["body"]["messages"][-1]["content"]
    assert f"the reply gives 2 answers that differ ({places})" in repair


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_the_repair_after_two_answers_gets_the_one_answer(tmp_path, openai_fake, anthropic_fake, api) -> None:
    url, script = openai_fake if api == "openai" else anthropic_fake
    script.verdicts = {"no-artifacts": False}
    script.push("two_calls")  # then the scripted votes, alone
    panel, rubric = one_judge(tmp_path, url, api)
    vote = vote_of(panel, rubric)
    assert vote.passed is False, vote.reasoning
    assert [c["id"] for c in vote.criteria if not c["passed"]] == ["no-artifacts"]
    assert len(script.requests) == 2


def test_two_choices_that_differ_are_two_answers(tmp_path, openai_fake) -> None:
    url, script = openai_fake
    script.verdicts = {"no-artifacts": False}
    script.push("two_choices", "two_choices")
    panel, rubric = one_judge(tmp_path, url)
    vote = vote_of(panel, rubric)
    assert vote.passed is None, vote.reasoning
    assert "the reply holds 2 choices that differ" in vote.reasoning


def test_an_error_beside_choices_wins(tmp_path, openai_fake) -> None:
    url, script = openai_fake
    script.push("error_and_choices")
    panel, rubric = one_judge(tmp_path, url)
    vote = vote_of(panel, rubric)
    assert vote.passed is None, vote.reasoning
    assert f"the endpoint answered 200 with an error: {CACHED_ANSWER_ERROR}" in vote.reasoning
    assert len(script.requests) == 1


def test_an_anthropic_error_beside_content_wins() -> None:
    passing = {"criteria": [json.loads(entry) for entry in PASSING]}
    body = {
        "type": "message",
        "content": [{"type": "tool_use", "name": "record_votes", "input": passing}],
        "stop_reason": "tool_use",
        "error": {"type": "overloaded_error", "message": CACHED_ANSWER_ERROR},
    }
    with pytest.raises(NotAReply, match=f"answered 200 with an error: {CACHED_ANSWER_ERROR}"):
        read_answer(ANTHROPIC, json.dumps(body).encode())


def chat_answer(message: dict, choices: int = 1) -> bytes:
    choice = {"index": 0, "message": {"role": "assistant"} | message, "finish_reason": "stop"}
    return json.dumps({"choices": [choice | {"index": n} for n in range(choices)], "usage": {}}).encode()


def call(arguments: str) -> dict:
    return {"type": "function", "function": {"name": "submit_votes", "arguments": arguments}}


ANSWER = '{"criteria": [' + ", ".join(FAILING) + "]}"
OPENAI = OpenAIChat(VisionOptions(base_url="http://127.0.0.1:9/v1", model="gpt-4o-mini"))
ANTHROPIC = AnthropicMessages(VisionOptions(api="anthropic", base_url="http://127.0.0.1:9/v1", model="claude-x"))


@pytest.mark.parametrize(
    "wire, body",
    [
        # The same answer in the text and the call, or in two calls, or in two choices, is one answer.
        (OPENAI, chat_answer({"content": f"```json\n{ANSWER}\n```", "tool_calls": [call(ANSWER)]})),
        (OPENAI, chat_answer({"content": None, "tool_calls": [call(ANSWER), call(json.dumps(json.loads(ANSWER)))]})),
        (OPENAI, chat_answer({"content": ANSWER}, choices=2)),
        # A sentence before the call offers no answer of its own.
        (OPENAI, chat_answer({"content": "I will record my votes now.", "tool_calls": [call(ANSWER)]})),
        (OPENAI, chat_answer({"content": "", "tool_calls": [call(ANSWER)]})),
        (
            ANTHROPIC,
            json.dumps(
                {
                    "type": "message",
                    "content": [
                        {"type": "text", "text": "Let me look at the image closely."},
                        {"type": "tool_use", "name": "record_votes", "input": json.loads(ANSWER)},
                    ],
                    "stop_reason": "tool_use",
                }
            ).encode(),
        ),
    ],
    ids=["text-and-call", "two-calls", "two-choices", "prose-then-call", "empty-then-call", "anthropic-prose"],
)
def test_one_answer_given_twice_or_after_a_sentence_is_one_answer(wire, body: bytes) -> None:
    reply = read_answer(wire, body)
    assert reply.ambiguous is None
    votes = read_votes(reply.content, ASKED)
    assert [v.passed for v in votes] == [False, False]


def test_true_and_one_are_not_the_same_answer() -> None:
    as_number = ANSWER.replace("false", "1", 1)
    reply = read_answer(OPENAI, chat_answer({"content": as_number, "tool_calls": [call(ANSWER)]}))
    assert reply.ambiguous is not None and "answers that differ" in reply.ambiguous


# A9: an error body nested too deeply to read


@pytest.mark.parametrize("behaviour, status", [("deep_error", 500), ("deep_rate_limit", 429)])
def test_an_error_body_nested_too_deeply_is_named_as_unreadable(
    tmp_path, openai_fake, behaviour: str, status: int
) -> None:
    url, script = openai_fake
    script.push(behaviour)
    panel, rubric = one_judge(tmp_path, url, options={"max_retries": 0})
    vote = vote_of(panel, rubric)
    assert vote.passed is None
    assert f"the endpoint answered {status}: its body is unreadable (JSON nested too deeply)" in vote.reasoning
    assert "Recursion" not in vote.reasoning


def test_judges_test_names_an_unreadable_error_body_without_a_traceback(tmp_path, openai_fake) -> None:
    url, script = openai_fake
    script.default = "deep_error"
    judges, rubrics = tmp_path / "judges", tmp_path / "rubrics"
    judges.mkdir()
    rubrics.mkdir()
    vision_judge_file(judges, "eye", url, options={"max_retries": 0})
    rubric_file(rubrics)
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_JUDGES_DIR=str(judges),
        SENTINEL_RUBRICS_DIR=str(rubrics),
        SENTINEL_TEST_VISION_KEY=KEY,
        COLUMNS="200",
    )
    image = FIXTURES / "product-white-background" / "good.jpg"
    command = [SENTINEL, "judges", "test", "eye", str(image), "--task", "product-vision", "-p", "prompt=a cup"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "eye abstained" in result.stdout
    assert "answered 500: its body is unreadable" in result.stdout
    assert "Recursion" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# A10: the endpoint's address


def test_a_base_url_with_credentials_is_refused_on_load_naming_the_field(tmp_path, openai_fake) -> None:
    url, _ = openai_fake
    judges = tmp_path / "judges"
    judges.mkdir()
    with_password = url.replace("http://", "http://svc:hunter2secret@")
    vision_judge_file(judges, "eye", with_password)
    with pytest.raises(ConfigError, match=r"eye\.yaml:\d+: options\.base_url: .*credentials.*api_key_env") as caught:
        Panel.from_dir(judges)
    assert "hunter2secret" not in str(caught.value)


def test_a_base_url_with_a_query_keeps_it_after_the_path(tmp_path, openai_fake) -> None:
    # Azure OpenAI's deployments take their API version as a query: the path goes before it, not into its value.
    url, script = openai_fake
    panel, rubric = one_judge(tmp_path, url, options={"base_url": f"{url}/v1?api-version=2024-10-21"})
    vote = vote_of(panel, rubric)
    assert vote.passed is True, vote.reasoning
    [request] = script.requests
    assert (request["path"], request["query"]) == ("/v1/chat/completions", "api-version=2024-10-21")


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("image_url_base", "https://sentinel.example/?x=1", "must not have a ?query"),
        ("base_url", "http://127.0.0.1:9/v1#models", "must not have a #fragment"),
        ("base_url", "http://127.0.0.1:port/v1", "port that is not a number"),
    ],
)
def test_addresses_that_cannot_be_extended_are_refused_on_load(tmp_path, field, value, words) -> None:
    judges = tmp_path / "judges"
    judges.mkdir()
    vision_judge_file(judges, "eye", "http://127.0.0.1:9", options={field: value})
    with pytest.raises(ConfigError, match=rf"eye\.yaml:\d+: options\.{field}: .*{re.escape(words)}"):
        Panel.from_dir(judges)
