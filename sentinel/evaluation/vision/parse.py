"""Reading a model's votes out of its reply: JSON recovered from fences or prose, then checked against the
criteria that were asked. Anything short of one clear vote per asked criterion is a problem, never a pass."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: Reasoning longer than this is cut: it is shown to people and stored with the vote.
MAX_REASONING_CHARS = 2000
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


class ReplyProblem(Exception):
    """The reply could not be read as votes; the message says why, in words for the judge's reasoning."""


@dataclass(frozen=True)
class CriterionVote:
    id: str
    passed: bool
    reasoning: str


def extract_json(text: str) -> Any:
    """The JSON value in a reply: the whole text, a fenced block, or the first object embedded in prose."""
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    for block in _FENCE.findall(stripped):
        try:
            return json.loads(block.strip())
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[{\[]", stripped):
        try:
            value, _ = decoder.raw_decode(stripped, match.start())
        except ValueError:
            continue
        if isinstance(value, dict | list):
            return value
    raise ReplyProblem(f"the reply is not JSON: {_excerpt(text)}")


def read_votes(reply: Any, asked: list[str]) -> list[CriterionVote]:
    """One vote per asked criterion, in the order asked; ReplyProblem names what is missing or extra."""
    value = extract_json(reply) if isinstance(reply, str) else reply
    items = value.get("criteria") if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise ReplyProblem("the reply has no 'criteria' list")
    votes: dict[str, CriterionVote] = {}
    unknown: list[str] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ReplyProblem("every entry of 'criteria' must be an object with an 'id'")
        criterion = item["id"].strip()
        if criterion not in asked:
            unknown.append(criterion)
            continue
        if criterion in votes:
            raise ReplyProblem(f"the reply votes twice on '{criterion}'")
        passed = item.get("passed")
        if not isinstance(passed, bool):
            raise ReplyProblem(f"criterion '{criterion}': 'passed' must be true or false, got {passed!r}")
        reasoning = item.get("reasoning")
        reasoning = reasoning.strip() if isinstance(reasoning, str) else ""
        votes[criterion] = CriterionVote(criterion, passed, reasoning[:MAX_REASONING_CHARS] or "(no reasoning given)")
    if unknown:
        raise ReplyProblem(f"the reply names criteria that were not asked: {', '.join(map(repr, unknown[:5]))}")
    missing = [criterion for criterion in asked if criterion not in votes]
    if missing:
        raise ReplyProblem(f"the reply misses criteria: {', '.join(missing)}")
    return [votes[criterion] for criterion in asked]


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")
