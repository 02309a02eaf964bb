"""The two wire APIs a vision judge speaks: OpenAI chat completions (with `image_url` parts) and Anthropic's
Messages API (with image blocks). Each builds a request from the same prompt and reads a reply back."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from sentinel.evaluation.vision.options import VisionOptions
from sentinel.evaluation.vision.parse import given_twice, offers_answer, repeated_key, same_answer
from sentinel.net.untrusted import storable

#: The tool Anthropic judges are made to call, so the votes arrive as structured input.
VOTE_TOOL = "record_votes"
#: How much of an unusable reply a repair request quotes back: enough for the model to see its mistake, never a
#: whole oversized reply sent (and paid for) again.
MAX_QUOTED_REPLY_CHARS = 4000
#: An endpoint's error message is cut at this length in the abstention's reasoning.
MAX_ERROR_CHARS = 300
REPAIR_REQUEST = (
    "Your previous reply could not be used: {problem}. Reply again with only the JSON object described above: "
    "every criterion id exactly once, no other ids, no prose."
)


class ImageText:
    """An image's base64 text where a request body holds it (after ``prefix``, e.g. ``data:image/png;base64,``),
    kept as the ASCII bytes it is sent as. A request is encoded around it (see ``encode_body``) and the text itself
    handed to the socket as it is: one copy per image, whatever the judges and calls that send it, where encoding
    each body whole copied the ~270 KB of a photo's text for every call, on the event loop."""

    __slots__ = ("base64", "prefix")

    def __init__(self, prefix: str, base64_bytes: bytes) -> None:
        self.prefix = prefix
        self.base64 = base64_bytes

    def __str__(self) -> str:
        return self.prefix + self.base64.decode("ascii")

    def __len__(self) -> int:
        return len(self.prefix) + len(self.base64)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImageText):
            return (self.prefix, self.base64) == (other.prefix, other.base64)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.prefix, self.base64))

    def __repr__(self) -> str:
        return f"<{self.prefix}{len(self.base64)} characters of base64>"


@dataclass(frozen=True)
class ImagePart:
    label: str
    mime: str
    data: bytes | None = None
    url: str | None = None

    # Encoded once and kept with the part: the judges of one evaluation share the part (see
    # VisionJudge.prompt_async), so they share one copy of its text too. The thread that prepares the part reads it
    # first, so the event loop does not encode it.
    @cached_property
    def base64(self) -> bytes:
        return base64.b64encode(self.data or b"")

    def data_url(self) -> ImageText:
        return ImageText(f"data:{self.mime};base64,", self.base64)

    @property
    def base64_text(self) -> ImageText:
        return ImageText("", self.base64)


class NotAReply(ValueError):
    """The endpoint's answer does not have its API's shape; the message says what is wrong. The tokens its usage
    names are kept with it: the endpoint bills an unusable reply too."""

    def __init__(self, message: str, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        super().__init__(message)
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


#: OpenAI-style ``finish_reason`` values that say the reply is not a whole answer (Gemini's OpenAI endpoint and
#: Azure OpenAI answer "content_filter" for a reply their safety filters stopped or replaced).
FILTERED_FINISH_REASONS = frozenset(
    {"content_filter", "safety", "recitation", "prohibited_content", "blocklist", "spii"}
)


@dataclass(frozen=True)
class Reply:
    #: The reply's text, or the structured votes when the endpoint returned them as data (a tool call).
    content: str | dict[str, Any]
    #: None when the endpoint did not say (or said something that is no count): the cost is then unknown.
    input_tokens: int | None
    output_tokens: int | None
    #: Set when the model declined to answer; the judge abstains with it.
    refusal: str | None = None
    #: Set when the reply stopped before it was a whole answer (cut off at max_tokens, stopped by a content filter):
    #: what happened, in words. The judge abstains with it and asks for no repair, which would stop the same way.
    unfinished: str | None = None
    #: Set when the reply gives more than one answer (its text and a function call, two calls, two choices that
    #: differ) or gives a key two values: what is ambiguous, in words. Which one the model meant is not ours to
    #: guess: the judge asks for a repair, then abstains, never picks one.
    ambiguous: str | None = None


def token_count(usage: Any, name: str) -> int | None:
    """A token count from a reply's usage, or None when it is missing, negative or not a whole number."""
    value = usage.get(name) if isinstance(usage, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    # NaN and Infinity are JSON to Python's parser; int() of either raises.
    if not math.isfinite(value) or value < 0 or value != int(value) or value > 1e12:
        return None
    return int(value)


def quoted(reply: Reply) -> str:
    """What a repair request shows the model of its own reply: the start of it, never megabytes."""
    said = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
    if len(said) <= MAX_QUOTED_REPLY_CHARS:
        return said
    return f"{said[:MAX_QUOTED_REPLY_CHARS]}… [{len(said) - MAX_QUOTED_REPLY_CHARS} more characters left out]"


def text_of(content: Any, where: str) -> str:
    """A message's text: a string, or the text parts of a list of parts (OpenAI's ``{"type": "text", "text"}``
    parts, Anthropic's text blocks) joined; anything else is not a reply."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict):
                raise NotAReply(f"{where} holds a {type(part).__name__} where a content part belongs")
            if part.get("type") in ("text", "output_text"):
                text = part.get("text")
                if not isinstance(text, str):
                    raise NotAReply(f"{where} has a text part without text")
                texts.append(text)
        return "".join(texts)
    if content is None:
        raise NotAReply(f"{where} is empty (null)")
    raise NotAReply(f"{where} is a {type(content).__name__}, not text")


def refusal_part(content: Any) -> str | None:
    """The words of a refusal given as a content part (OpenAI's ``{"type": "refusal", "refusal": …}``), None when the
    content holds none. A reply with one is a refusal whatever text parts come with it."""
    if not isinstance(content, list):
        return None
    for part in content:
        if isinstance(part, dict) and part.get("type") == "refusal":
            said = part.get("refusal")
            if isinstance(said, str) and said.strip():
                return said
            return json.dumps(said) if said else "the model refused to answer"
    return None


class NestedTooDeeply(ValueError):
    """An answer's JSON is nested deeper than the parser goes (``json`` raises RecursionError for it, which is not
    the ValueError of any other unreadable JSON)."""


#: What an error answer is said to hold when its JSON is nested too deeply to read: quoting it would show only
#: brackets.
UNREADABLE_ERROR_BODY = "its body is unreadable (JSON nested too deeply)"


def error_in(body: bytes) -> Any:
    """The error object an error answer's body holds (see unwrapped_error); None when it holds none or is not JSON.
    NestedTooDeeply when its JSON is nested too deeply to read (a body of 200,000 brackets)."""
    try:
        return unwrapped_error(json.loads(body))
    except RecursionError:
        raise NestedTooDeeply("the answer's JSON is nested too deeply") from None
    except ValueError:
        return None


def unwrapped_error(body: Any) -> Any:
    """The error object of an error answer: ``{"error": {...}}``, or Google's ``[{"error": {...}}]`` (Gemini's
    OpenAI-compatible endpoint wraps its errors in a list); None when the body holds none."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    return body.get("error") if isinstance(body, dict) else None


def refuses_key(error: Any) -> bool:
    """Whether an error object says the API key was refused although its status is not 401/403: Google answers a
    wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    if not isinstance(error, dict):
        return False
    details = error.get("details")
    reasons = {d.get("reason") for d in details if isinstance(d, dict)} if isinstance(details, list) else set()
    return bool(reasons & KEY_REFUSED_REASONS) or error.get("code") in ("invalid_api_key", "API_KEY_INVALID")


#: Google's reasons for a key it will not take (https://cloud.google.com/apis/design/errors#error_info).
KEY_REFUSED_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"})


def error_words(error: Any) -> str:
    """What an error object says: its message (and Google's status, or its type or code), cut as any quote of a
    reply."""
    if isinstance(error, dict):
        message = error.get("message")
        kind = error.get("status") or error.get("code") or error.get("type")
        said = message if isinstance(message, str) and message.strip() else json.dumps(error)
        if isinstance(kind, str | int) and str(kind) not in said:
            said = f"{said} ({kind})"
    else:
        said = error if isinstance(error, str) else json.dumps(error)
    said = " ".join(said.split())
    return said if len(said) <= MAX_ERROR_CHARS else said[:MAX_ERROR_CHARS] + "…"


def tool_call_arguments(tool_calls: Any) -> list[str]:
    """The arguments of each function call a message holds (none: an empty list)."""
    if not tool_calls:
        return []
    if not isinstance(tool_calls, list):
        raise NotAReply("the reply's tool_calls is not a list of calls")
    found = []
    for call in tool_calls:
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        if isinstance(arguments, dict):  # some servers give the arguments parsed
            arguments = json.dumps(arguments)
        if not isinstance(arguments, str):
            raise NotAReply("the reply's function call has no arguments")
        found.append(arguments)
    return found


def one_answer(
    calls: Sequence[str | dict[str, Any]], call_name: str, text: str
) -> tuple[str | dict[str, Any], str | None]:
    """The answer a reply gives through its function (tool) calls and its text, and what is ambiguous about it
    (None: nothing). Places that give answers which differ are two answers; the same answer given twice is one. Text
    beside a call counts only when it offers an answer of its own (see offers_answer): a sentence before the call
    is no second answer. The call's answer is preferred: it is the structured one."""
    answers: list[str | dict[str, Any]] = list(calls)
    counts_text = bool(text.strip()) and (not calls or offers_answer(text))
    if counts_text:
        answers.append(text)
    if not answers:
        return text, None
    if len(answers) == 1 or same_answer(answers):
        return answers[0], None
    places = [f"{len(calls)} {call_name}s" if len(calls) > 1 else f"a {call_name}"]
    if counts_text:
        places.insert(0, "its text")
    return answers[0], (
        f"the reply gives {len(answers)} answers that differ ({' and '.join(places)}); it must give exactly one"
    )


def votes_schema(asked: list[str]) -> dict[str, Any]:
    """JSON Schema of a reply: one entry per criterion, ids limited to those asked."""
    return {
        "type": "object",
        "properties": {
            "criteria": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "enum": asked},
                        "passed": {"type": "boolean"},
                        "reasoning": {"type": "string"},
                    },
                    "required": ["id", "passed", "reasoning"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["criteria"],
        "additionalProperties": False,
    }


def read_answer(wire: WireApi, body: bytes) -> Reply:
    """The reply in a 200 answer's ``body``, read by ``wire``: its text made storable first (the model's words are
    untrusted: NUL and lone surrogates dropped here reach no vote row, page or log). A key the body gives two values
    (in a tool call's input, say) makes the reply ambiguous, as in a reply's text: ``json`` keeps the last value
    without a word."""
    repeated: list[str] = []

    def noting_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) != len(pairs) and not repeated:
            repeated.append(repeated_key(pairs) or "")
        return value

    reply = wire.read(storable(json.loads(body, object_pairs_hook=noting_repeats)))
    if repeated and reply.ambiguous is None:
        return dataclasses.replace(reply, ambiguous=given_twice(repeated[0]))
    return reply


class WireApi(Protocol):
    path: str

    def headers(self, api_key: str | None) -> dict[str, str]: ...

    def body(self, system: str, images: list[ImagePart], asked: list[str]) -> dict[str, Any]: ...

    def repair(self, body: dict[str, Any], reply: Reply, problem: str) -> dict[str, Any]: ...

    def read(self, answer: Any) -> Reply: ...


def read_billed(
    read: Callable[[Any, int | None, int | None], Reply], answer: Any, input_key: str, output_key: str
) -> Reply:
    """``read(answer, input tokens, output tokens)`` with the tokens the answer's usage bills (under those keys),
    which an unusable answer carries too: they are counted with its abstention."""
    usage = answer.get("usage") if isinstance(answer, dict) else None
    tokens = token_count(usage, input_key), token_count(usage, output_key)
    try:
        return read(answer, *tokens)
    except NotAReply as problem:
        problem.input_tokens, problem.output_tokens = tokens
        raise


class OpenAIChat:
    path = "/chat/completions"

    def __init__(self, options: VisionOptions) -> None:
        self.options = options

    def headers(self, api_key: str | None) -> dict[str, str]:
        if not api_key:
            return {}
        if self.options.auth_header == "api-key":
            return {"api-key": api_key}  # Azure OpenAI's key authentication
        return {"Authorization": f"Bearer {api_key}"}

    def body(self, system: str, images: list[ImagePart], asked: list[str]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for index, image in enumerate(images, start=1):
            content.append({"type": "text", "text": f"Image {index}: {image.label}"})
            image_url: dict[str, Any] = {"url": image.url or image.data_url()}
            if self.options.image_detail:
                image_url["detail"] = self.options.image_detail
            content.append({"type": "image_url", "image_url": image_url})
        content.append({"type": "text", "text": "Vote on every criterion now, as the JSON object described."})
        body: dict[str, Any] = {
            "model": self.options.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": content}],
            # Reasoning models (GPT-5, o-series) refuse max_tokens and any temperature but their default.
            self.options.token_limit: self.options.max_tokens,
        }
        if self.options.sent_temperature is not None:
            body["temperature"] = self.options.sent_temperature
        mode = self.options.output_mode
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "criterion_votes", "schema": votes_schema(asked), "strict": True},
            }
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def repair(self, body: dict[str, Any], reply: Reply, problem: str) -> dict[str, Any]:
        messages = [
            *body["messages"],
            {"role": "assistant", "content": quoted(reply)},
            {"role": "user", "content": REPAIR_REQUEST.format(problem=problem)},
        ]
        return {**body, "messages": messages}

    def read(self, answer: Any) -> Reply:
        return read_billed(self._read, answer, "prompt_tokens", "completion_tokens")

    def _read(self, answer: Any, input_tokens: int | None, output_tokens: int | None) -> Reply:
        if not isinstance(answer, dict):
            error = unwrapped_error(answer)
            if error is not None:
                raise NotAReply(f"the endpoint answered 200 with an error: {error_words(error)}")
            raise NotAReply(f"the answer is a JSON {type(answer).__name__}, not an object")
        choices = answer.get("choices")
        if answer.get("error") or (choices is None and "error" in answer):
            # Gateways and local servers answer some failures (an overloaded model, a bad key) with 200 and an error;
            # one that sends choices beside it ("this is a cached answer") has said the call failed all the same.
            raise NotAReply(f"the endpoint answered 200 with an error: {error_words(answer['error'])}")
        if not isinstance(choices, list) or not choices:
            raise NotAReply("the reply has no choices")
        choice = choices[0].get("message") if isinstance(choices[0], dict) else None
        if not isinstance(choice, dict):
            raise NotAReply("the reply's first choice has no message")
        unfinished = self.unfinished(choices[0].get("finish_reason"))
        if unfinished is not None:
            # Whatever the content holds is not the whole answer (a filter may have cut or replaced it): no vote.
            return Reply("", input_tokens, output_tokens, unfinished=unfinished)
        content = choice.get("content")
        refusal = choice.get("refusal")
        if refusal is not None and not isinstance(refusal, str):
            refusal = json.dumps(refusal)
        refusal = refusal or refusal_part(content)
        if refusal:
            # The judge abstains with the refusal's words, whatever else the message holds. Kept with the abstention
            # as its reasoning: a reply's megabyte of refusal is cut as any quote of it is.
            return Reply("", input_tokens, output_tokens, refusal=refusal[:MAX_QUOTED_REPLY_CHARS])
        # A model may answer by calling a function (some servers offer tools of their own): its arguments are an
        # answer, read and checked as any reply's text is.
        calls = tool_call_arguments(choice.get("tool_calls"))
        text = "" if content is None and calls else text_of(content, "the reply's message content")
        said, ambiguous = one_answer(calls, "function call", text)
        messages = [other.get("message") if isinstance(other, dict) else other for other in choices]
        if ambiguous is None and any(message != choice for message in messages[1:]):
            # Sentinel asks for one choice; a server that gives several that differ has given several answers.
            ambiguous = f"the reply holds {len(choices)} choices that differ; it must hold one answer"
        return Reply(said, input_tokens, output_tokens, ambiguous=ambiguous)

    def unfinished(self, finish_reason: Any) -> str | None:
        """What a ``finish_reason`` says of a reply that is not a whole answer; None for one that is (or says
        nothing)."""
        if not isinstance(finish_reason, str):
            return None
        if finish_reason == "length":
            return cut_off_words(self.options, self.options.token_limit)
        if finish_reason.lower() in FILTERED_FINISH_REASONS:
            return (
                f"the endpoint's content filter stopped the reply (finish_reason {finish_reason!r}): it holds no vote"
            )
        return None


class AnthropicMessages:
    path = "/messages"

    def __init__(self, options: VisionOptions) -> None:
        self.options = options

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": self.options.anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def body(self, system: str, images: list[ImagePart], asked: list[str]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for index, image in enumerate(images, start=1):
            content.append({"type": "text", "text": f"Image {index}: {image.label}"})
            source: dict[str, Any] = (
                {"type": "url", "url": image.url}
                if image.url
                else {
                    "type": "base64",
                    "media_type": image.mime,
                    "data": image.base64_text,
                }
            )
            content.append({"type": "image", "source": source})
        content.append({"type": "text", "text": "Vote on every criterion now, as the JSON object described."})
        body: dict[str, Any] = {
            "model": self.options.model,
            "max_tokens": self.options.max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": content}],
        }
        if self.options.sent_temperature is not None:
            # Anthropic's temperature runs 0..1.
            body["temperature"] = min(self.options.sent_temperature, 1.0)
        if self.options.output_mode == "tool":
            body["tools"] = [
                {
                    "name": VOTE_TOOL,
                    "description": "Record one vote per criterion.",
                    "input_schema": votes_schema(asked),
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": VOTE_TOOL}
        return body

    def repair(self, body: dict[str, Any], reply: Reply, problem: str) -> dict[str, Any]:
        said = quoted(reply)
        # A repair asks for plain JSON text: a second forced tool call would need the first one's tool_result.
        repaired = {key: value for key, value in body.items() if key not in ("tools", "tool_choice")}
        repaired["messages"] = [
            *body["messages"],
            {"role": "assistant", "content": said or "(no answer)"},
            {"role": "user", "content": REPAIR_REQUEST.format(problem=problem)},
        ]
        return repaired

    def read(self, answer: Any) -> Reply:
        return read_billed(self._read, answer, "input_tokens", "output_tokens")

    def _read(self, answer: Any, input_tokens: int | None, output_tokens: int | None) -> Reply:
        if not isinstance(answer, dict):
            raise NotAReply(f"the answer is a JSON {type(answer).__name__}, not an object")
        if answer.get("type") == "error" or answer.get("error") or ("error" in answer and "content" not in answer):
            # An error object beside content (a gateway's "cached answer") says the call failed all the same.
            raise NotAReply(f"the endpoint answered 200 with an error: {error_words(answer.get('error'))}")
        if answer.get("stop_reason") == "max_tokens":
            # A tool call's input or a text cut short is no whole answer, and a repair would be cut off the same way.
            return Reply("", input_tokens, output_tokens, unfinished=cut_off_words(self.options, "max_tokens"))
        refusal = "the model refused to answer" if answer.get("stop_reason") == "refusal" else None
        blocks = answer.get("content")
        if refusal and not blocks:
            return Reply("", input_tokens, output_tokens, refusal)
        if not isinstance(blocks, list):
            raise NotAReply("the reply's content is not a list of blocks")
        if not all(isinstance(b, dict) for b in blocks):
            raise NotAReply("the reply's content holds something that is not a content block")
        tool_inputs = [b.get("input") for b in blocks if b.get("type") == "tool_use"]
        if not all(isinstance(given, dict) for given in tool_inputs):
            raise NotAReply(f"the {VOTE_TOOL} tool call's input is not an object")
        text = text_of([b for b in blocks if b.get("type") == "text"], "the reply's content")
        said, ambiguous = one_answer(tool_inputs, f"{VOTE_TOOL} tool call", text)
        return Reply(said, input_tokens, output_tokens, refusal=refusal, ambiguous=ambiguous)


def cut_off_words(options: VisionOptions, sent_as: str) -> str:
    """Why a reply cut off at the token limit holds no vote, and what to change (``sent_as``: the limit's name on
    the wire)."""
    named = "" if sent_as == "max_tokens" else f", sent as {sent_as}"
    return (
        f"the reply was cut off at the judge's token limit (options.max_tokens: {options.max_tokens}{named}) before "
        "it finished its answer; raise options.max_tokens in the judge's file (a thinking model's reasoning counts "
        "against it)"
    )


def wire_for(options: VisionOptions) -> WireApi:
    return AnthropicMessages(options) if options.api == "anthropic" else OpenAIChat(options)
