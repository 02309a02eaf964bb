"""Bytes that a JSON answer carries as base64: a value a service may put in an answer without knowing HTTP.

:class:`sentinel.http.responses.JSONResponse` writes its base64 text while the answer is sent.
"""

from __future__ import annotations


class Base64Bytes:
    """Bytes a JSON answer carries as a base64 string, encoded only when the answer is sent."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def encoded_length(self) -> int:
        return 4 * ((len(self.data) + 2) // 3)
