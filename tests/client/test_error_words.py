"""An error answer that is not the API's JSON (a proxy's page, or a bare status line) is quoted in the client's
error only as far as its start: a long one must not make every log line that prints the error as long."""

from __future__ import annotations

import httpx

from sentinel.client import SentinelAPIError
from sentinel.client.errors import MAX_QUOTED_CHARS


def test_a_long_status_text_without_a_body_is_cut() -> None:
    response = httpx.Response(502, content=b"", extensions={"reason_phrase": b"Bad Gateway " * 10_000})
    error = SentinelAPIError.from_response(response)
    assert error.message.startswith("Bad Gateway Bad Gateway")
    assert len(error.message) <= MAX_QUOTED_CHARS
    assert len(str(error)) <= MAX_QUOTED_CHARS + 50


def test_a_long_page_is_cut_and_a_short_one_kept_whole() -> None:
    long_page = SentinelAPIError.from_response(httpx.Response(502, content=b"<p>down</p>" * 10_000))
    assert long_page.message.startswith("<p>down</p>") and len(long_page.message) <= MAX_QUOTED_CHARS
    short = SentinelAPIError.from_response(httpx.Response(503, content=b"  try later \n"))
    assert (short.status_code, short.type, short.message) == (503, "http_error", "try later")
