"""A vision call that went out and was not answered within the judge's limit is booked as the call it was (outside
probe F6): one call, tokens and cost unknown, as a reply without usage is; never "0 call(s), about $0.0000", since a
hosted model bills the call whether or not its answer is read. A call that never went out is no call."""

from __future__ import annotations

import pytest

# The fixtures of the vision judge tests: their fake endpoint and the key it takes.
from tests.judges.test_vision_judges import api_key, one_judge, openai_fake, vote_of  # noqa: F401


@pytest.mark.parametrize(("behaviour", "limit"), [("slow", 1), ("trickle", 2)])
def test_a_call_answered_too_late_is_one_call_at_an_unknown_cost(tmp_path, openai_fake, behaviour, limit) -> None:  # noqa: F811
    url, script = openai_fake
    script.trickle_seconds = 0.5
    script.push(behaviour)
    panel, rubric = one_judge(tmp_path, url, timeout_seconds=limit)
    vote = vote_of(panel, rubric)
    assert vote.passed is None and f"no answer within its {limit} s limit" in vote.reasoning
    assert len(script.requests) == 1
    assert vote.usage["calls"] == 1
    assert vote.usage["cost"] is None  # unknown: not $0
    assert vote.usage["input_tokens"] is None and vote.usage["output_tokens"] is None


def test_a_call_that_could_not_connect_is_no_call(tmp_path) -> None:
    panel, rubric = one_judge(tmp_path, "http://127.0.0.1:9", timeout_seconds=1, options={"max_retries": 0})
    vote = vote_of(panel, rubric)
    assert vote.passed is None
    assert vote.usage["calls"] == 0 and vote.usage["cost"] == 0.0
