"""An answer carrying images as base64 is the JSON it announces, byte for byte and to its Content-Length, whether
it is small (sent whole) or large (sent while its base64 is written, never joined into one more copy)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import pytest

from sentinel.http.base64_bytes import Base64Bytes
from sentinel.http.responses import SEND_WHOLE_BYTES, JSONResponse


def sent(content: Any) -> tuple[dict[str, str], list[bytes]]:
    """The headers and the body messages of ``content`` answered as ASGI sends them."""
    messages: list[dict[str, Any]] = []

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
