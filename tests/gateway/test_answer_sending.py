"""An answer carrying images as base64 is the JSON it announces, byte for byte and to its Content-Length, whether
it is small (sent whole) or large (sent while its base64 is written, never joined into one more copy). A gated value
(a generation's outcome, which waits for its commit) is sent only once its gate opens, after everything before it;
a gate that fails cuts the answer short."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import pytest

from sentinel.http.base64_bytes import Base64Bytes
from sentinel.http.gated import Gated
from sentinel.http.responses import SEND_WHOLE_BYTES, JSONResponse


def sent(content: Any, messages: list[dict[str, Any]] | None = None) -> tuple[dict[str, str], list[bytes]]:
    """The headers and the body messages of ``content`` answered as ASGI sends them (into ``messages`` if given)."""
    messages = [] if messages is None else messages

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(JSONResponse(content)({"type": "http"}, receive, send))
    start, *bodies = messages
    assert bodies[-1]["more_body"] is False and all(m["more_body"] for m in bodies[:-1])
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return headers, [m["body"] for m in bodies]


@pytest.mark.parametrize(
    "sizes", [[10], [50_000, 3], [SEND_WHOLE_BYTES, 7], [3 * SEND_WHOLE_BYTES, 1, 2 * SEND_WHOLE_BYTES]]
)
def test_images_answered_as_base64_are_the_json_announced(sizes: list[int]) -> None:
    images = [os.urandom(size) for size in sizes]
    content = {"created": 1, "data": [{"b64_json": Base64Bytes(i), "revised_prompt": 'é "x"'} for i in images]}
    headers, bodies = sent(content)
    body = b"".join(bodies)
    assert headers["content-length"] == str(len(body))
    answer = json.loads(body)
    assert [base64.b64decode(item["b64_json"]) for item in answer["data"]] == images
    assert answer["data"][0]["revised_prompt"] == 'é "x"'
    if sum(len(i) for i in images) * 4 // 3 < SEND_WHOLE_BYTES:
        assert len(bodies) == 1  # a small answer: one message, one write to the socket
    else:
        # A large one as it is encoded: no message holds more than one image's base64 and the JSON around it.
        assert max(len(b) for b in bodies) <= max(len(i) for i in images) * 4 // 3 + SEND_WHOLE_BYTES + 4


@pytest.mark.parametrize("size", [10, 3 * SEND_WHOLE_BYTES])
def test_a_gated_value_goes_out_after_everything_before_it_once_its_gate_opens(size: int) -> None:
    image = os.urandom(size)
    messages: list[dict[str, Any]] = []
    sent_when_opened: list[bytes] = []

    async def gate() -> None:
        sent_when_opened.append(b"".join(m.get("body", b"") for m in messages))

    outcome = {"id": "gen_1", "images": [{"id": "abc"}], "stored": True}
    content = {"created": 1, "data": [{"b64_json": Base64Bytes(image)}], "sentinel": Gated(outcome, gate)}
    headers, bodies = sent(content, messages)
    body = b"".join(bodies)
    assert headers["content-length"] == str(len(body))  # counted from the start: not sent chunked
    answer = json.loads(body)
    assert base64.b64decode(answer["data"][0]["b64_json"]) == image
    assert answer["sentinel"] == outcome
    # The whole image was on its way before the gate was awaited; the outcome only after.
    (before,) = sent_when_opened
    assert base64.b64encode(image) in before and b"gen_1" not in before


def test_a_gate_that_fails_cuts_the_answer_short_and_never_completes_it() -> None:
    messages: list[dict[str, Any]] = []

    async def gate() -> None:
        raise RuntimeError("the commit failed")

    content = {"created": 1, "data": [{"b64_json": Base64Bytes(b"x" * 1000)}], "sentinel": Gated({"id": 1}, gate)}
    with pytest.raises(RuntimeError, match="the commit failed"):
        sent(content, messages)
    start, *bodies = messages
    sent_bytes = b"".join(m["body"] for m in bodies)
    assert all(m["more_body"] for m in bodies)  # the answer's last message never went
    assert len(sent_bytes) < int(dict(start["headers"])[b"content-length"])


def test_the_json_after_the_last_image_waits_with_the_gated_value_not_in_a_message_of_its_own() -> None:
    # Every message is a pass through each middleware and a write to the socket, just when the commit ends: the
    # few bytes between the image's base64 and the gated value go out with the value.
    image = os.urandom(3 * SEND_WHOLE_BYTES)
    messages: list[dict[str, Any]] = []
    sent_when_opened: list[int] = []

    async def gate() -> None:
        sent_when_opened.append(len(messages))

    content = {"created": 1, "data": [{"b64_json": Base64Bytes(image)}], "sentinel": Gated({"id": "gen_1"}, gate)}
    _, bodies = sent(content, messages)

    (before,) = sent_when_opened
    assert messages[before - 1]["body"] == base64.b64encode(image)  # the image's base64 ends what went before
    assert len(bodies) == 3  # what comes before the image, the image, and the rest once the gate opened
    assert json.loads(b"".join(bodies))["sentinel"] == {"id": "gen_1"}
