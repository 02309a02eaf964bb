"""Exports as downloads: a stream of encoded rows, sent as they are read, saved under a dated file name."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

#: The 200 answer of an export endpoint, for the API description.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "every match, newest first: JSON Lines (one object per line, as the API shows it) or CSV "
        "(a header line, then one line per row)",
        "headers": {
            "Content-Disposition": {
                "description": "attachment; filename=<what>-<UTC time>.<format>",
                "schema": {"type": "string"},
            }
        },
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


async def download(
    chunks: Iterator[bytes], media_type: str, stem: str, extension: str, *, head: bool = False
) -> Response:
    """Send ``chunks`` as the attachment ``<stem>-<time>.<extension>``. The first chunk is read before the answer
    starts, so a database that is away answers 503 (with its JSON error) rather than a cut-off download; the rest
    is read while it is sent (a blocking iterator runs in the thread pool), one batch in memory at a time.
    ``head``: the answer to a HEAD, the GET's status and headers after that first read, and none of the rest."""
    first = await run_in_threadpool(next, chunks, b"")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {"Content-Disposition": f'attachment; filename="{stem}-{stamp}.{extension}"', "Cache-Control": "no-store"}
    if head:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        answer = Response(media_type=media_type, headers=headers)
        # The GET streams without a length; a Content-Length of 0 would say the download is empty.
        del answer.headers["content-length"]
        return answer

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    return StreamingResponse(body(), media_type=media_type, headers=headers)
