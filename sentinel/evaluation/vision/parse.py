"""Reading a model's votes out of its reply, and accepting them only when the reply holds exactly one answer.

A reply is the JSON object alone, or one object in a fence or a sentence of prose. Two objects that could be
answers (an example, then the real one), an object that gives a key two values, prose that reads like a refusal or
an example, ids that were not asked or are missing: each is a problem with the reply, never a pass and never a guess
at which object (or value) was meant."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError

from sentinel.net.refusals import DECLINING_WORDS, words_pattern
from sentinel.net.untrusted import storable

#: Reasoning longer than this is cut: it is shown to people and stored with the vote.
MAX_REASONING_CHARS = 2000
#: Replies longer than this are not searched for JSON (the wire already refuses far larger ones): the search is
#: quadratic in the number of braces.
MAX_SEARCHED_CHARS = 200_000
#: Places in a reply where an object is tried: enough for any prose around one answer, and a bound on the work a
#: reply made of unclosed braces can cause.
MAX_JSON_STARTS = 256
#: Words in the prose around the one object that make it an example or a refusal rather than an answer
#: (case-insensitive, whole words).
NOT_AN_ANSWER = (
    "example",
    "e.g.",
    "for instance",
    "such as",
    "would look like",
    "should look like",
    "template",
    "placeholder",
    "sample",
    *DECLINING_WORDS,
)
_NOT_AN_ANSWER = words_pattern(NOT_AN_ANSWER)
_FENCE_MARK = re.compile(r"```(?:json|JSON)?")
#: Where a reasoning model's thinking starts and ends, when an endpoint leaves it in the reply's text (DeepSeek-R1,
#: QwQ and Qwen3 served by Ollama, LM Studio or vLLM without a reasoning parser). Drafts and examples live in the
#: thinking: only what follows its end is the answer. Some chat templates put the opening tag in the prompt, so a
#: reply may hold only the end.
_THINKING_END = re.compile(r"</(?:think|thinking|reasoning)>", re.I)
_THINKING_START = re.compile(r"<(?:think|thinking|reasoning)>", re.I)


class ReplyProblem(Exception):
    """The reply could not be read as votes; the message says why, in words for the judge's reasoning."""


class NoAnswerObject(ReplyProblem):
    """The reply's text holds no JSON that could be the answer: prose alone, or nothing."""


def repeated_key(pairs: list[tuple[str, Any]]) -> str | None:
    """The first key a JSON object's ``pairs`` give twice; None when each is given once."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return None


def given_twice(key: str) -> str:
    """Why a reply that gives ``key`` two values in one object is no answer, in words for the judge's reasoning."""
    return f"the reply gives {_named(key)} more than one value in one object; it must give each key once"


def _one_value_per_key(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object of the reply, refused when it gives a key twice: ``"passed": false, …, "passed": true`` is a
    model changing its mind mid-object, and which value it meant is not ours to guess (``json`` silently keeps the
    last one, which made such a reply a pass)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ReplyProblem(given_twice(repeated_key(pairs) or ""))
    return value


def _named(key: str) -> str:
    return repr(key if len(key) <= 60 else key[:60] + "…")


#: Reads a reply's JSON, refusing an object that gives a key twice (see _one_value_per_key).
_DECODER = json.JSONDecoder(object_pairs_hook=_one_value_per_key)


@dataclass(frozen=True)
class CriterionVote:
    id: str
    passed: bool
    reasoning: str


class _Vote(BaseModel):
    # Keys beyond these (a confidence, a severity) are what endpoints that ignore the asked format add; the vote is
    # still the three asked for, each of its own type.
    model_config = ConfigDict(extra="ignore")

    id: StrictStr
    passed: StrictBool
    reasoning: StrictStr


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    criteria: list[_Vote]


def _could_be_answer(value: Any) -> bool:
    if isinstance(value, dict):
        return "criteria" in value
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) and "id" in item for item in value)


def extract_json(text: str) -> Any:
    """The one answer-shaped JSON value in a reply: the whole text, or the only such value in a fence or in prose;
    after a reasoning model's thinking, when the reply holds it.

    Thinking is what a reply opens with ``<think>`` up to the first end tag. A reply that does not open so is read
    whole first; what follows an end tag is read instead only when that gives no one answer, or when the one answer
    comes before the end tag (a draft in the thinking): an end tag quoted inside an answer (text the image shows,
    say) never cuts the answer in two."""
    if _THINKING_START.match(text.lstrip()):
        return _answer_in(after_thinking(text))[0]
    try:
        value, answer_end = _answer_in(text)
    except ReplyProblem:
        end = _THINKING_END.search(text)
        if end is None:
            raise
        return _answer_in(text[end.end() :])[0]
    end = _THINKING_END.search(text, answer_end)
    if end is not None:
        # The one object came before the thinking's end: it is the thinking's draft, and the answer follows the end.
        return _answer_in(text[end.end() :])[0]
    return value


def _answer_in(text: str) -> tuple[Any, int]:
    """The one answer in ``text``, and where it ends in ``text``."""
    stripped = text.strip()
    try:
        return _DECODER.decode(stripped), len(text)
    except RecursionError:
        raise ReplyProblem("the reply's JSON is nested too deeply") from None
    except ValueError:
        pass
    if len(stripped) > MAX_SEARCHED_CHARS:
        raise ReplyProblem(f"the reply is {len(stripped)} characters of text that is not one JSON object")
    found: list[tuple[Any, int, int]] = []
    position = tries = 0
    # Only objects are looked for in prose: the answer is one, and a list there is more likely part of the prose.
    for match in re.finditer(r"\{", stripped):
        if match.start() < position:
            continue  # inside a value already read
        tries += 1
        if tries > MAX_JSON_STARTS:
            raise ReplyProblem(f"the reply has more than {MAX_JSON_STARTS} places that could start a JSON object")
        try:
            value, end = _DECODER.raw_decode(stripped, match.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict | list):
            position = end
            if _could_be_answer(value):
                found.append((value, match.start(), end))
    if not found:
        raise NoAnswerObject(f"the reply is not JSON (it holds no answer object): {_excerpt(text)}")
    if len(found) > 1:
        raise ReplyProblem(
            f"the reply holds {len(found)} JSON objects that could be the answer; it must hold exactly one"
        )
    value, start, end = found[0]
    prose = _FENCE_MARK.sub(" ", f"{stripped[:start]} {stripped[end:]}")
    said = _NOT_AN_ANSWER.search(prose)
    if said:
        raise ReplyProblem(
            f"the text around the JSON says '{said.group(0)}', so it reads as an example or a refusal, not an "
            f"answer: {_excerpt(prose)}"
        )
    return value, end + len(text) - len(text.lstrip())


def offers_answer(text: str) -> bool:
    """Whether a reply's text offers an answer of its own beside the one its function call gives: JSON that could be
    the answer, or text that tries to give one and fails (two objects, an example). Prose alone ("I will record the
    votes now"), or nothing, offers none."""
    try:
        return _could_be_answer(extract_json(text))
    except NoAnswerObject:
        return False
    except ReplyProblem:
        return True


def same_answer(answers: Sequence[str | dict[str, Any]]) -> bool:
    """Whether the answers one reply gives in several places (its text, each function call) are one answer: the
    same JSON, ``true`` and ``1`` told apart; a text with no readable answer is compared as the text it is."""

    def canonical(answer: str | dict[str, Any]) -> str:
        value: Any = answer
        if isinstance(answer, str):
            try:
                value = extract_json(answer)
            except ReplyProblem:
                return f"text {answer}"
        if isinstance(value, list):
            value = {"criteria": value}
        try:
            return f"json {json.dumps(value, sort_keys=True)}"
        except (TypeError, ValueError, RecursionError):
            return f"value {value!r}"

    first = canonical(answers[0])
    return all(canonical(answer) == first for answer in answers[1:])


def after_thinking(text: str) -> str:
    """What follows the thinking a reply opens with; thinking that never ends (cut off at the token limit) leaves no
    answer, whatever JSON it holds."""
    end = _THINKING_END.search(text)
    if end is None:
        raise ReplyProblem("the reply is thinking that never ends (no closing </think>): it holds no answer")
    return text[end.end() :]


def read_votes(reply: Any, asked: list[str]) -> list[CriterionVote]:
    """One vote per asked criterion, in the order asked; ReplyProblem names what is wrong, missing or extra."""
    # The JSON inside a reply's text is read here, its escapes too: NUL and lone surrogates are dropped as they are
    # from the reply around it (see VisionJudge._read), so no vote row, page or log line holds one.
    value = extract_json(reply) if isinstance(reply, str) else reply
    try:
        value = storable(value)
    except RecursionError:
        raise ReplyProblem("the reply's JSON is nested too deeply") from None
    if isinstance(value, list):
        value = {"criteria": value}
    if not isinstance(value, dict) or "criteria" not in value:
        raise ReplyProblem("the reply has no 'criteria' list")
    try:
        answer = _Answer.model_validate(value)
    except ValidationError as exc:
        raise ReplyProblem(f"the reply does not match the answer's schema: {_schema_problem(exc)}") from None
    votes: dict[str, CriterionVote] = {}
    unknown: list[str] = []
    for item in answer.criteria:
        criterion = item.id.strip()
        if criterion not in asked:
            unknown.append(criterion)
            continue
        if criterion in votes:
            raise ReplyProblem(f"the reply votes twice on '{criterion}'")
        reasoning = item.reasoning.strip()
        votes[criterion] = CriterionVote(
            criterion, item.passed, reasoning[:MAX_REASONING_CHARS] or "(no reasoning given)"
        )
    if unknown:
        named = ", ".join(_named(name) for name in unknown[:5])
        raise ReplyProblem(f"the reply names criteria that were not asked: {named}")
    missing = [criterion for criterion in asked if criterion not in votes]
    if missing:
        raise ReplyProblem(f"the reply misses criteria: {', '.join(missing)}")
    return [votes[criterion] for criterion in asked]


def _schema_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "the object"
    return f"{where}: {error['msg']}"[:200]


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")
