"""A multipart body's closing delimiter is seen wherever the body's chunks split it, and never in a body cut short."""

from __future__ import annotations

import asyncio

from sentinel.http.uploads import ClosingDelimiter

BOUNDARY = b"b0undary"
BODY = b'--b0undary\r\nContent-Disposition: form-data; name="task"\r\n\r\ntext-to-image\r\n--b0undary--\r\n'


def seen(chunks: list[bytes]) -> bool:
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]

    async def receive() -> dict:
        return messages.pop(0)

    async def read_all() -> bool:
        watcher = ClosingDelimiter(receive, BOUNDARY)
        for _ in chunks:
            await watcher.receive()
        return watcher.seen

    return asyncio.run(read_all())


def test_the_closing_delimiter_is_seen_however_the_chunks_split_it() -> None:
    for first in range(len(BODY) + 1):
        for second in range(first, len(BODY) + 1, 3):
            assert seen([BODY[:first], BODY[first:second], BODY[second:]]), (first, second)
    # One byte at a time, and a body that is its closing delimiter alone (no parts, no line break before it).
    assert seen([bytes([byte]) for byte in BODY])
    assert seen([b"--b0undary--\r\n"])


def test_a_body_cut_short_has_no_closing_delimiter() -> None:
    for cut in range(len(BODY) - len(b"--\r\n") + 1):
        assert not seen([BODY[:cut]]), cut
        assert not seen([BODY[: cut // 2], BODY[cut // 2 : cut]]), cut
