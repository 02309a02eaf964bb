"""One PNG made distinct per answer, cheaply: a benchmark's provider returns new images, as a real one does.

A gateway that stores images by content hash writes a repeated image once and then skips it, so a fake that answers
every request with the same bytes hides the cost of storing a new image. Each answer here is the base image with a
``tEXt`` chunk carrying a counter inserted after the header: a valid PNG of the same pixels, 54 bytes longer, whose
hash differs every time. The PNG signature and header are 33 bytes and the chunk a multiple of 3, so the base64 of
the image is the base64 of three pieces, of which only the small chunk is encoded per answer.
"""

from __future__ import annotations

import itertools
import struct
import threading
import zlib

import pybase64

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Signature (8) + the IHDR chunk (4 length + 4 type + 13 data + 4 CRC): where the counter chunk goes.
HEADER_BYTES = 8 + 25
KEYWORD = b"sentinel-bench\x00"
#: Digits of the counter: the chunk (12 bytes of framing + keyword + digits) must be a multiple of 3 bytes long.
DIGITS = 27
CHUNK_BYTES = 12 + len(KEYWORD) + DIGITS
assert CHUNK_BYTES % 3 == 0 and HEADER_BYTES % 3 == 0, "base64 pieces must join on 3-byte boundaries"


def counter_chunk(number: int) -> bytes:
    """A PNG ``tEXt`` chunk ``sentinel-bench=<number>``, its CRC computed."""
    data = KEYWORD + str(number).zfill(DIGITS).encode()
    body = b"tEXt" + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


class DistinctPng:
    """``next()`` is a new variant of ``base`` (a PNG) each call, as bytes and as base64, at a few microseconds each."""

    def __init__(self, base: bytes) -> None:
        if not base.startswith(PNG_SIGNATURE) or base[12:16] != b"IHDR":
            raise ValueError("distinct images are made from a PNG")
        self.head, self.tail = base[:HEADER_BYTES], base[HEADER_BYTES:]
        self.head_base64 = pybase64.b64encode_as_string(self.head)
        self.tail_base64 = pybase64.b64encode_as_string(self.tail)
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    def next_number(self) -> int:
        with self._lock:
            return next(self._numbers)

    def data(self, number: int) -> bytes:
        return self.head + counter_chunk(number) + self.tail

    def base64(self, number: int) -> str:
        return self.head_base64 + pybase64.b64encode_as_string(counter_chunk(number)) + self.tail_base64
