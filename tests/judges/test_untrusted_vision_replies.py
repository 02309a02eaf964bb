"""A vision model's reply is untrusted: NUL and lone surrogates (JSON's ``\\ud800`` escape) in its reasoning, its
refusal or its error message, and token counts that are no number (``NaN``, ``Infinity``, which Python's JSON reads),
must give the vote a sane reply would give, with the odd part dropped (the words) or unknown (the counts), stored on
PostgreSQL (which refuses NUL in text and cannot encode a lone surrogate): never an evaluation that cannot finish,
an abstention over the usage, or a crashed judge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import clean_env, start_server
from tests.judges.test_vision_in_service import evaluate
from tests.judges.test_vision_judges import ASKS, KEY, offline_judges, rubric_file, vision_judge_file

ODD = "\x00\udfff\ud800"


def chat_answer(mode: str) -> tuple[int, str]:
    """The fake's answer for ``mode``, as JSON text written with ``ensure_ascii`` (lone surrogates as escapes)."""
    reasoning = f"looks{ODD} right" if mode == "odd-reasoning" else "looks right"
    votes = {"criteria": [{"id": c, "passed": True, "reasoning": reasoning} for c in ASKS]}
    message: dict[str, Any] = {"role": "assistant", "content": json.dumps(votes)}
    usage: dict[str, Any] = {"prompt_tokens": 120, "completion_tokens": 40}
    if mode == "odd-error":
        return 400, json.dumps({"error": {"message": f"bad{ODD} image", "type": "invalid_request_error"}})
    if mode == "odd-refusal":
        message = {"role": "assistant", "content": None, "refusal": f"I will{ODD} not"}
    if mode == "long-refusal":
        message = {"role": "assistant", "content": None, "refusal": "no " * 200_000}
    if mode == "long-id":
        votes["criteria"].append({"id": "x" * 600_000, "passed": True, "reasoning": "and this too"})
        message["content"] = json.dumps(votes)
    if mode == "nan-usage":
        usage = {"prompt_tokens": float("nan"), "completion_tokens": 40}
    if mode == "infinite-usage":
        usage = {"prompt_tokens": 120, "completion_tokens": float("inf")}
    answer = {"id": "c1", "object": "chat.completion", "choices": [{"index": 0, "message": message}], "usage": usage}
    # json.dumps writes NaN and Infinity as those bare words, as a careless server's encoder does.
    return 200, json.dumps(answer, ensure_ascii=True)


def anthropic_answer(mode: str) -> tuple[int, str]:
    """Anthropic's answer for ``mode``: the votes as a tool call's input (structured, not text to parse)."""
    reasoning = f"looks{ODD} right" if mode == "odd-reasoning" else "looks right"
    votes = {"criteria": [{"id": c, "passed": True, "reasoning": reasoning} for c in ASKS]}
    usage: dict[str, Any] = {"input_tokens": 120, "output_tokens": 40}
    if mode == "nan-usage":
        usage["input_tokens"] = float("nan")
    if mode == "infinite-usage":
        usage["output_tokens"] = float("inf")
    content = [{"type": "tool_use", "id": "t1", "name": "record_votes", "input": votes}]
    answer = {"id": "m1", "type": "message", "role": "assistant", "content": content, "usage": usage}
    return 200, json.dumps(answer, ensure_ascii=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    state = {"mode": "odd-reasoning"}

    async def completions(request: Request) -> Response:
        status, text = chat_answer(state["mode"])
        return Response(text, status_code=status, media_type="application/json")

    async def messages(request: Request) -> Response:
        status, text = anthropic_answer(state["mode"])
        return Response(text, status_code=status, media_type="application/json")

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
        ]
    )
    tmp = tmp_path_factory.mktemp("untrusted-vision")
    with serve(app) as fake:
        judges, rubrics = tmp / "judges", tmp / "rubrics"
        judges.mkdir()
        rubrics.mkdir()
        offline_judges(judges)
        vision_judge_file(judges, "eye", fake.url)
        vision_judge_file(judges, "eye-anthropic", fake.url, api="anthropic")
        rubric_file(rubrics, escalate=False)
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_DATABASE_URL=postgres_url,
            SENTINEL_JUDGES_DIR=str(judges),
            SENTINEL_RUBRICS_DIR=str(rubrics),
            SENTINEL_TEST_VISION_KEY=KEY,
        )
        server, base = start_server(env, tmp / "api.log")
        try:
            yield base, state
        finally:
            server.stop()


def eye_vote(stack: tuple[str, dict[str, str]], mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The votes of the OpenAI-style judge and of the Anthropic one, once the evaluation is done."""
    base, state = stack
    state["mode"] = mode
    done = evaluate(base)
    assert done["status"] == "done", done
    for odd in ("\\u0000", "\\ud800", "\\udfff"):
        assert odd not in json.dumps(done)
    [eye] = [judge for judge in done["judges"] if judge["judge"] == "eye"]
    [other] = [judge for judge in done["judges"] if judge["judge"] == "eye-anthropic"]
    return eye, other


def test_odd_characters_in_the_reasoning_are_dropped_and_the_votes_count(stack) -> None:
    for eye in eye_vote(stack, "odd-reasoning"):
        assert eye["passed"] is True, eye
        assert "looks right" in eye["reasoning"]


@pytest.mark.parametrize("mode", ["nan-usage", "infinite-usage"])
def test_token_counts_that_are_no_number_leave_the_usage_unknown_and_the_votes_count(stack, mode: str) -> None:
    for eye in eye_vote(stack, mode):
        assert eye["passed"] is True, eye
        assert eye["usage"]["calls"] == 1 and eye["usage"]["cost"] is None, eye["usage"]


def test_odd_characters_in_a_refusal_leave_a_plain_abstention(stack) -> None:
    eye, _ = eye_vote(stack, "odd-refusal")
    assert eye["passed"] is None, eye
    assert "the model refused: I will not" in eye["reasoning"]


def test_odd_characters_in_an_error_leave_a_plain_abstention(stack) -> None:
    eye, _ = eye_vote(stack, "odd-error")
    assert eye["passed"] is None, eye
    assert "the endpoint answered 400: bad image" in eye["reasoning"]


@pytest.mark.parametrize("mode", ["long-refusal", "long-id"])
def test_a_reply_of_long_words_leaves_an_abstention_of_a_few_words(stack, mode: str) -> None:
    # A reply of up to a megabyte is read; what of it is kept with the vote is cut, as its reasoning is.
    eye, _ = eye_vote(stack, mode)
    assert eye["passed"] is None, eye
    assert len(eye["reasoning"]) < 10_000, len(eye["reasoning"])
