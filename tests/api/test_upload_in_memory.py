"""A multipart upload past Starlette's 1 MiB spool is read on the event loop in memory, not a worker-thread hop per
chunk through a temporary file, and comes out byte for byte as sent, its spool let go as soon as it is read."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
import starlette.datastructures
from starlette.datastructures import UploadFile
from starlette.requests import Request

from sentinel.http.uploads import parse_whole_form, read_upload

BOUNDARY = "upl0ad"
#: Past Starlette's spool (1 MiB), in the 64 KiB chunks a server hands the body over in.
IMAGE = os.urandom(3 * 1024 * 1024 + 17)
CHUNK = 64 * 1024


def _body() -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="task"\r\n\r\ntext-to-image\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + IMAGE
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


async def _read_image() -> tuple[str, bytes | None, bool]:
    body = _body()
    messages = [
        {"type": "http.request", "body": body[start : start + CHUNK], "more_body": start + CHUNK < len(body)}
        for start in range(0, len(body), CHUNK)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/evaluations",
        "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
        "query_string": b"",
    }
    form = await parse_whole_form(Request(scope, receive), max_files=3, max_fields=10, max_part_size=64 * 1024)
    try:
        task, upload = form["task"], form["image"]
        assert isinstance(task, str) and isinstance(upload, UploadFile)
        image = await read_upload(upload, "image", 20 * 1024 * 1024)
        # Its spool is let go once read (not when the form is closed): the bytes are not held twice meanwhile.
        return task, image, upload.file.closed
    finally:
        await form.close()


def test_a_large_upload_is_read_without_a_thread_hop_and_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    hops: list[str] = []

    async def no_thread(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return func(*args, **kwargs)

    # Where Starlette's UploadFile sends the writes and reads of a part spooled to disk.
    monkeypatch.setattr(starlette.datastructures, "run_in_threadpool", no_thread)
    task, image, released = asyncio.run(_read_image())
    assert task == "text-to-image"
    assert image == IMAGE
    assert hops == []
    assert released
