"""Request bodies are read as sent: a compressed one (``Content-Encoding: gzip``, as clients with request compression
on send it) is refused naming the header, where it was read as broken JSON or a broken upload."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from sentinel.http.errors import INVALID_REQUEST, error_response


class RefuseEncodedBodies:
    """A 415 for a request whose body carries a Content-Encoding other than ``identity``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
                    coding = value.decode("latin-1")[:40]
                    refusal = error_response(
                        415,
                        INVALID_REQUEST,
                        f"request bodies are not decompressed: Content-Encoding '{coding}' is not accepted; "
                        "send the body uncompressed",
                        "Content-Encoding",
                        "unsupported_content_encoding",
                    )
                    await refusal(scope, receive, send)
                    return
        await self.app(scope, receive, send)
