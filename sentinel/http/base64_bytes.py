"""Bytes that a JSON answer carries as base64: a value a service may put in an answer without knowing HTTP.

:class:`sentinel.http.responses.JSONResponse` writes its base64 text while the answer is sent.
"""

from __future__ import annotations

import pybase64


class Base64Bytes:
    """Bytes a JSON answer carries as a base64 string, encoded only when the answer is sent."""

    __slots__ = ("data", "encoded")

    def __init__(self, data: bytes, encoded: bytes | memoryview | None = None) -> None:
        self.data = data
        #: ``data``'s base64 when already at hand (exactly ``b64encode(data)``): sent as is, not encoded again.
        self.encoded = encoded

    @property
    def encoded_length(self) -> int:
        return 4 * ((len(self.data) + 2) // 3)

    def base64(self) -> bytes | memoryview:
        """The base64 of ``data``: the one at hand, else encoded now."""
        return self.encoded if self.encoded is not None else pybase64.b64encode(self.data)
