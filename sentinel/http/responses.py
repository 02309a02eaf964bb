"""JSON responses serialised once with orjson, straight from the dicts the services build.

An image answered as ``b64_json`` is the exception: its base64 text is written into the answer while it
is sent, from the image's bytes. Encoding it to a str first and then serialising that str would hold two
more copies of the image (each 4/3 of its size) for every request in flight.

A value may also be :class:`~sentinel.http.gated.Gated`: rendered with the answer, but sent only once something the
answer stands for is done (a generation's commit), while everything before it goes out.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import pybase64
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.types import Receive, Scope, Send

from sentinel.http.base64_bytes import Base64Bytes
from sentinel.http.gated import Gated

#: An answer with inline base64 shorter than this is sent in one message (joined: a copy of at most this much);
#: a longer one in pieces as they are encoded.
SEND_WHOLE_BYTES = 256 * 1024


def _as_base64_str(value: Any) -> str:
    if isinstance(value, Base64Bytes):
        return str(value.encoded, "ascii") if value.encoded is not None else pybase64.b64encode_as_string(value.data)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def plain_json(content: Any) -> Any:
    """``content`` with every :class:`Base64Bytes` spelled out as its base64 str: for storing an answer."""
    return orjson.loads(orjson.dumps(content, default=_as_base64_str))


class JSONResponse(StarletteJSONResponse):
    """A JSON answer (FastAPI documents an endpoint's response model only for JSONResponse classes)."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        #: The answer's JSON around each inline value, and those values, in the order they are sent.
        self._pieces: list[bytes] = []
        self._inline: list[Base64Bytes | Gated] = []
        super().__init__(content, status_code, headers, media_type, background)
        if self._inline:
            inline = sum(v.encoded_length if isinstance(v, Base64Bytes) else len(v.rendered) for v in self._inline)
            self.headers["content-length"] = str(sum(len(piece) for piece in self._pieces) + inline)

    def render(self, content: Any) -> bytes:
        # Made at the first inline value only: most answers have none, and a random id is a system call.
        marker = ""

        def inline(value: Any) -> Any:
            nonlocal marker
            if isinstance(value, Base64Bytes | Gated):
                self._inline.append(value)
                marker = marker or f"inline-{uuid.uuid4().hex}"
                return marker
            raise TypeError(f"{type(value).__name__} is not JSON serialisable")

        body = orjson.dumps(content, default=inline)
        if self._inline:
            self._pieces = body.split(marker.encode())
            for index, value in enumerate(self._inline):
                if isinstance(value, Gated):
                    value.rendered = orjson.dumps(value.value, default=_as_base64_str)
                    # Any JSON value goes there, not a string: the marker's quotes go with it.
                    self._pieces[index] = self._pieces[index][:-1]
                    self._pieces[index + 1] = self._pieces[index + 1][1:]
        return body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._inline:
            await super().__call__(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        parts: list[bytes] = []
        #: Whether ``parts`` holds only the JSON between inline values (no base64 since the last message).
        glue_only = True
        for index, piece in enumerate(self._pieces):
            parts.append(piece)
            value = self._inline[index] if index < len(self._inline) else None
            if isinstance(value, Gated):
                # What comes before it goes out while the gate is awaited: every image's base64. The few bytes of
                # JSON between the last image sent and the gated value wait with it: a message more, and its pass
                # through every middleware and write to the socket, would come just when the gate is about to open.
                if not glue_only:
                    await send({"type": "http.response.body", "body": b"".join(parts), "more_body": True})
                    parts = []
                try:
                    await value.gate()
                except Exception as failure:
                    instead = value.rendered_instead(failure)
                    if instead is None:
                        raise
                    parts.append(instead)
                else:
                    parts.append(value.rendered)
            elif value is not None:
                parts.append(value.base64())
                glue_only = False
            if sum(len(part) for part in parts) >= SEND_WHOLE_BYTES:
                # A large image goes out as it is encoded, never joined into one more copy of the whole answer.
                for part in parts:
                    await send({"type": "http.response.body", "body": part, "more_body": True})
                parts = []
                glue_only = True
        # What is left (all of a small answer) goes in one message: each message is a pass through every
        # middleware's send and a write to the socket of its own.
        await send({"type": "http.response.body", "body": b"".join(parts), "more_body": False})
        if self.background is not None:
            await self.background()
