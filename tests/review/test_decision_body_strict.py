"""A review decision's body takes JSON's own types, as every other JSON body does: ``"regenerate": "yes"`` or
``"force": 1`` is a 400 naming the field. Both were taken as true (pydantic's lax table), so a tool sending
``"force": "false"``-style strings got what it meant only by luck."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "reject", "regenerate": "yes"}, "regenerate"),
        ({"decision": "reject", "regenerate": "false"}, "regenerate"),
        ({"decision": "approve", "force": 1}, "force"),
        ({"decision": "approve", "force": 0}, "force"),
    ],
)
def test_a_decision_flag_that_is_not_a_json_boolean_is_a_400_naming_it(client, body: dict, field: str) -> None:
    answer = client.post("/v1/review/ev_not_there/decision", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == field


def test_json_booleans_are_taken(client) -> None:
    # The body is fine, so the answer is about the item: there is none by that id.
    answer = client.post("/v1/review/ev_not_there/decision", json={"decision": "reject", "regenerate": True})
    assert answer.status_code == 404, answer.text


def test_an_unknown_decision_is_refused_in_words_not_a_pattern(client) -> None:
    # "String should match pattern '^(approve|reject)$'" is a regular expression, not what a person reads.
    answer = client.post("/v1/review/ev_not_there/decision", json={"decision": "maybe"})
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]["message"]
    assert "'approve' or 'reject'" in message and "pattern" not in message, message
