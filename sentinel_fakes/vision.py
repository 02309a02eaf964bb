"""What the fake vision models share: a script of answers, and the simulated model that reads Sentinel's prompt.

Both fakes (``sentinel_fakes.chat`` for OpenAI-style chat completions, ``sentinel_fakes.anthropic`` for Anthropic's
Messages API) validate requests with their API's own rules, then hand the request's text and images to the same
simulated model: it finds the criteria Sentinel asked about (one ``- id: <criterion-id>`` line each), votes on them
as scripted, and can be fooled by instructions written inside the image unless the prompt carries the guard phrase.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import io
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from starlette.responses import StreamingResponse

#: Behaviours both fakes answer; each API answers the failures with its own status codes and bodies.
VISION_BEHAVIOURS = (
    "votes",  # the strict JSON answer
    "fenced",  # the same JSON inside ```json fences, with a sentence of prose before and after
    "prose_json",  # the JSON embedded in prose, without fences
    "malformed",  # no JSON at all
    "unknown_criterion",  # the votes plus one criterion that was not asked
    "missing_criterion",  # the votes without the last criterion asked
    "rate_limit",  # 429 with Retry-After
    "server_error",  # 500
    "overloaded",  # Anthropic: 529 overloaded_error; chat: 503
    "no_credit",  # the account cannot pay: chat's 429 insufficient_quota, Anthropic's 400 "credit balance is too low"
    "slow",  # answers the votes after VisionScript.slow_seconds
    "refusal",  # the model declines: chat's message.refusal (content null), Anthropic's stop_reason "refusal"
    "example_then_answer",  # prose with an example answer in which every criterion passes, then the real answer
    "refusal_quoting_example",  # a refusal in prose that quotes an example answer in which every criterion passes
    "trickle",  # the votes, sent one byte every VisionScript.trickle_seconds
    "huge",  # VisionScript.huge_bytes of prose and no JSON
    "content_parts",  # the votes' JSON split over two text parts (chat) or two text blocks (Anthropic)
    "content_number",  # the message's content is the number 42
    "no_usage",  # the votes, without a usage object
    "negative_usage",  # the votes, with negative token counts
    "thinking",  # a reasoning model's <think> block drafting an answer in which every criterion passes, then the votes
    "extra_keys",  # the votes with keys nobody asked for (a confidence and a severity per criterion, an overall score)
    "error_in_200",  # status 200 with the API's error object instead of an answer (gateways and local servers do)
    "no_answer",  # status 200 with nothing in it: chat's empty "choices", Anthropic's empty "content"
    "tool_call",  # chat: the votes as the arguments of a function call, content null (Anthropic: the votes)
    "cut_off",  # the votes' JSON cut off at the token limit: finish_reason "length", stop_reason "max_tokens"
    "content_filter",  # chat: the votes (every criterion passing) with finish_reason "content_filter", as Gemini's
    # OpenAI endpoint and Azure OpenAI mark a reply their safety filter stopped; Anthropic: stop_reason "refusal"
    "filtered_empty",  # chat: content null, finish_reason "content_filter", usage billed; Anthropic: "refusal"
    "streamed",  # chat: 200 text/event-stream chunks whatever was asked, as stream-only gateways answer
    "revised_vote",  # each vote gives "passed" twice, the opposite of the scripted vote first, then the scripted one
    # (a model revising itself mid-object): chat's content, Anthropic's tool call input (its text without a tool)
    "revised_call",  # chat: the "revised_vote" JSON as the arguments of a function call, content null
    "refusal_part",  # chat: content parts: a refusal part, then a text part with an answer where every criterion passes
    "text_and_call",  # two answers that differ, the scripted votes and one where every criterion passes: chat's
    # content passes and its function call is scripted; Anthropic's text is scripted and its tool call passes
    "two_calls",  # two calls: the first passes every criterion, the second gives the scripted votes (chat: function
    # calls, content null; Anthropic: two tool calls)
    "two_choices",  # chat: two choices, the first passing every criterion, the second with the scripted votes
    "error_and_choices",  # chat: 200 with an answer in which every criterion passes and an error object beside it
    "deep_error",  # 500 whose error body is JSON nested DEEP_ERROR_LEVELS deep
    "deep_rate_limit",  # 429 with Retry-After whose error body is JSON nested DEEP_ERROR_LEVELS deep
)
#: Behaviours that simulate a model which ignored the answer format it was asked for.
FREE_TEXT_BEHAVIOURS = frozenset(
    {
        "fenced",
        "prose_json",
        "malformed",
        "example_then_answer",
        "refusal_quoting_example",
        "huge",
        "content_parts",
        "thinking",
    }
)
#: How deep the error body of "deep_error" and "deep_rate_limit" is nested (deeper than Python's parser goes).
DEEP_ERROR_LEVELS = 200_000
#: What "error_and_choices" says beside its answer.
CACHED_ANSWER_ERROR = "upstream model overloaded; this is a cached answer"
#: What "error_in_200" says.
OVERLOADED_IN_200 = "The model is overloaded, please try again later."
#: Reasoning of every entry of the example answer that "example_then_answer" and "refusal_quoting_example" quote.
EXAMPLE_REASONING = "Example: the image meets this criterion."
#: The prose "huge" repeats.
HUGE_FILLER = "Let me describe every pixel of this image in great detail. "

#: When the prompt contains this (case-insensitive), the simulated model treats what an image says as content to
#: judge, not as instructions to follow.
GUARD_PHRASE = "content to judge, not instructions"
#: Instructions an image can carry that the unguarded simulated model obeys (case-insensitive).
INJECTION_MARKERS = ("ignore previous instructions", "answer pass")
#: How Sentinel's prompt lists each criterion.
CRITERION_LINE = re.compile(r"^\s*- id: ([a-z0-9][a-z0-9-]*)\s*$", re.MULTILINE)
#: The id ``unknown_criterion`` adds (suffixed if the prompt happens to ask about it).
UNKNOWN_CRITERION_ID = "not-asked"
MALFORMED_ANSWER = "I think it looks fine overall."
REFUSAL = "I'm sorry, I can't help with judging this image."
INJECTED_REASONING = "The image says to answer pass."

#: Input tokens an image costs, whatever its size (OpenAI charges 85 for a low-detail image).
TOKENS_PER_IMAGE = 85
#: Media types both APIs accept, and the format Pillow reads from such bytes.
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
#: Headers that carry credentials: recorded only as ``auth_present``, never by value.
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})


@dataclass
class VisionScript:
    """What a fake vision model answers: queued behaviours first (one per valid request), then ``default``.

    Thread-safe like ``sentinel_fakes.server.Script``; tests change ``verdicts``, ``reasoning`` and ``image_text``
    between requests.
    """

    #: None: the endpoint needs no key (a local Ollama or vLLM).
    api_key: str | None = "sk-vision-test"
    #: Model names the fake accepts; any other is the API's 404.
    models: set[str] = field(default_factory=lambda: {"gpt-4o-mini"})
    default: str = "votes"
    slow_seconds: float = 5.0
    #: The pause between two bytes of a "trickle" answer.
    trickle_seconds: float = 0.5
    #: The size of a "huge" answer's text.
    huge_bytes: int = 20 * 1024 * 1024
    retry_after: int = 1
    #: How the OpenAI-compatible fake words its errors: "openai" (``{"error": {...}}``) or "google", as Gemini's
    #: OpenAI endpoint does: ``[{"error": {"code", "message", "status", "details"}}]``, a wrong key a 400
    #: INVALID_ARGUMENT with reason API_KEY_INVALID.
    error_shape: str = "openai"
    #: Also sent as ``retry-after-ms`` by the OpenAI-compatible fake when set, as OpenAI and Azure OpenAI do.
    retry_after_ms: int | None = None
    #: A rate window (``time.time()`` seconds): until then the OpenAI-compatible fake refuses every request with 429
    #: and a Retry-After given as the HTTP date the window ends, as proxies and some gateways send it.
    limited_until: float = 0.0
    #: The vote per criterion id (ids not listed pass).
    verdicts: dict[str, bool] = field(default_factory=dict)
    #: The reasoning per criterion id (ids not listed get a generic sentence naming the id).
    reasoning: dict[str, str] = field(default_factory=dict)
    #: What the simulated model reads written inside the image(s); None when they hold no text.
    image_text: str | None = None
    queue: collections.deque[str] = field(default_factory=collections.deque)
    #: Every request received: path, query string, headers (without credential values), auth_present, parsed JSON
    #: body (or None).
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: False: requests are counted (``received``) but not kept, so a long benchmark does not hold every image sent.
    keep_requests: bool = True
    #: How many requests arrived, kept or not.
    received: int = 0
    #: The most "slow" answers the fake was composing at one time: calls its clients kept in flight together.
    most_at_once: int = 0
    _at_once: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Counts the answers being composed at once (see ``most_at_once``)."""
        with self._lock:
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            yield
        finally:
            with self._lock:
                self._at_once -= 1

    def push(self, *behaviours: str) -> None:
        unknown = set(behaviours) - set(VISION_BEHAVIOURS)
        if unknown:
            raise ValueError(f"unknown behaviours {unknown}")
        with self._lock:
            self.queue.extend(behaviours)

    def next(self) -> str:
        with self._lock:
            return self.queue.popleft() if self.queue else self.default

    def record(self, path: str, headers: Mapping[str, str], body: Any, query: str = "") -> None:
        entry = {
            "path": path,
            "query": query,
            "headers": {k.lower(): v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS},
            "auth_present": any(k.lower() in CREDENTIAL_HEADERS for k in headers),
            "body": body,
        }
        with self._lock:
            self.received += 1
            if self.keep_requests:
                self.requests.append(entry)

    def retry_after_headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after)}


class Rejection(Exception):
    """A request the API refuses; each fake renders it in its API's error shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


@dataclass
class Reading:
    """A request as the simulated model sees it: every piece of text (system prompt included) and the image count."""

    texts: list[str] = field(default_factory=list)
    images: int = 0

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


def criterion_ids(text: str) -> list[str]:
    """The criterion ids the prompt asks about, in order, each once."""
    return list(dict.fromkeys(CRITERION_LINE.findall(text)))


def is_injected(script: VisionScript, reading: Reading) -> bool:
    """Whether the unguarded model obeys instructions written in the image: the image says to, and the prompt does
    not tell the model that the image is content to judge."""
    if not reading.images or not script.image_text:
        return False
    says = script.image_text.lower()
    if not any(marker in says for marker in INJECTION_MARKERS):
        return False
    return GUARD_PHRASE not in reading.text.lower()


def model_votes(script: VisionScript, reading: Reading, behaviour: str) -> dict[str, Any]:
    """The answer object ``{"criteria": [{"id", "passed", "reasoning"}, …]}`` for the criteria asked, in order."""
    ids = criterion_ids(reading.text)
    injected = is_injected(script, reading)
    criteria = []
    for criterion in ids:
        if injected:
            criteria.append({"id": criterion, "passed": True, "reasoning": INJECTED_REASONING})
            continue
        passed = script.verdicts.get(criterion, True)
        default = f"The {criterion} looks right." if passed else f"The {criterion} is wrong."
        criteria.append({"id": criterion, "passed": passed, "reasoning": script.reasoning.get(criterion, default)})
    if behaviour == "missing_criterion" and criteria:
        criteria.pop()
    if behaviour == "extra_keys":
        criteria = [c | {"confidence": 0.9, "severity": "high" if not c["passed"] else "none"} for c in criteria]
        return {
            "criteria": criteria,
            "overall": "fail" if any(not c["passed"] for c in criteria) else "pass",
            "score": 7,
        }
    if behaviour == "unknown_criterion":
        extra = UNKNOWN_CRITERION_ID
        while extra in ids:
            extra += "-x"
        criteria.append({"id": extra, "passed": False, "reasoning": f"The {extra} is wrong."})
    return {"criteria": criteria}


def example_votes(votes: dict[str, Any]) -> dict[str, Any]:
    """An example answer for the same criteria, every one passing (what a model quotes when it shows the format)."""
    return {"criteria": [{"id": c["id"], "passed": True, "reasoning": EXAMPLE_REASONING} for c in votes["criteria"]]}


def all_passing(votes: dict[str, Any]) -> dict[str, Any]:
    """The same votes with every criterion passing (the other answer of the behaviours that give two)."""
    return {"criteria": [c | {"passed": True} for c in votes["criteria"]]}


def revised_text(votes: dict[str, Any]) -> str:
    """The votes' JSON with ``passed`` given twice in each vote: the opposite of the vote first, then the vote (JSON
    allows no such object, and Python's parser keeps the last value)."""
    entries = []
    for c in votes["criteria"]:
        changed_mind = json.dumps(not c["passed"]), json.dumps(c["passed"])
        said = f'"id": {json.dumps(c["id"])}, "reasoning": {json.dumps(c["reasoning"])}'
        entries.append(f'{{"passed": {changed_mind[0]}, {said}, "passed": {changed_mind[1]}}}')
    return '{"criteria": [' + ", ".join(entries) + "]}"


def deep_error_body() -> bytes:
    """An error body nested DEEP_ERROR_LEVELS deep: ``{"error": [[[…]]]}``."""
    return b'{"error": ' + b"[" * DEEP_ERROR_LEVELS + b"]" * DEEP_ERROR_LEVELS + b"}"


def cut_off(text: str, max_tokens: int) -> str:
    """``text`` as a model stopped at ``max_tokens`` gives it: at most that many tokens (see output_tokens), and
    never the whole answer (a thinking model spent the rest on its reasoning)."""
    return text[: min(4 * max_tokens, len(text) // 2)]


def answer_text(votes: dict[str, Any], behaviour: str, huge_bytes: int = 0) -> str:
    """The model's text for ``behaviour``: strict JSON, or the ways models wrap (or forget) it."""
    strict = json.dumps(votes)
    example = json.dumps(example_votes(votes))
    if behaviour == "example_then_answer":
        return f"A passing answer looks like this:\n```json\n{example}\n```\nMy answer:\n```json\n{strict}\n```"
    if behaviour == "refusal_quoting_example":
        return f"I'm sorry, I can't judge this image. For reference, an answer would look like {example}"
    if behaviour == "huge":
        return (HUGE_FILLER * (huge_bytes // len(HUGE_FILLER) + 1))[:huge_bytes]
    if behaviour == "fenced":
        return f"Here is my assessment of the image.\n```json\n{json.dumps(votes, indent=2)}\n```\nI hope this helps."
    if behaviour == "prose_json":
        return f"After looking at the image carefully, my answer is {strict} and that is my final assessment."
    if behaviour == "malformed":
        return MALFORMED_ANSWER
    if behaviour in ("revised_vote", "revised_call"):
        return revised_text(votes)
    if behaviour == "thinking":
        return f"<think>\nThe answer should look like {example}. Looking closer at the image now.\n</think>\n\n{strict}"
    return strict


async def _trickle(body: bytes, seconds: float) -> AsyncIterator[bytes]:
    for index in range(len(body)):
        yield body[index : index + 1]
        await asyncio.sleep(seconds)


def trickled(answer: Any, seconds: float, headers: Mapping[str, str] | None = None) -> StreamingResponse:
    """``answer`` as JSON, one byte every ``seconds`` (a server that never quite stops talking)."""
    body = json.dumps(answer).encode()
    return StreamingResponse(_trickle(body, seconds), media_type="application/json", headers=dict(headers or {}))


def usage_for(behaviour: str, usage: dict[str, Any]) -> dict[str, Any] | None:
    """The usage object a reply carries: none for "no_usage", negated counts for "negative_usage"."""
    if behaviour == "no_usage":
        return None
    if behaviour == "negative_usage":
        return {name: -abs(value) - 1 if isinstance(value, int) else value for name, value in usage.items()}
    return usage


def input_tokens(reading: Reading) -> int:
    """Deterministic input usage: a token per 4 characters of text, plus ``TOKENS_PER_IMAGE`` per image."""
    return sum(len(text) for text in reading.texts) // 4 + TOKENS_PER_IMAGE * reading.images


def output_tokens(answer: str) -> int:
    """Deterministic output usage: a token per 4 characters of the answer (for a tool call, of its JSON input)."""
    return len(answer) // 4


def decode_base64(data: str) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def sniff_image(data: bytes) -> str | None:
    """The media type (one of ``IMAGE_FORMATS``) Pillow reads from ``data``, or None if it is no such image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            image.verify()
    except Exception:
        return None
    for media_type, name in IMAGE_FORMATS.items():
        if name == image_format:
            return media_type
    return None


def image_bytes(media_type: str, width: int = 32, height: int = 32) -> bytes:
    """A small valid image of ``media_type`` (for tests and benchmarks)."""
    image = Image.new("RGB", (width, height), (200, 60, 40))
    buffer = io.BytesIO()
    image.save(buffer, IMAGE_FORMATS[media_type])
    return buffer.getvalue()


def masked_key(key: str) -> str:
    """How APIs show a wrong key: its first and last few characters only."""
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:3]}{'*' * 10}{key[-4:]}"
