"""The API's key check never queries the database on the event loop: once the key cache no longer vouches for a key
(or for whether any key exists), the middleware reads it in a thread. On the loop, that query stalled every request
the API was serving, once per key and once for the key count every cache period."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event

from sentinel.keys.auth import ApiKeyAuth
from sentinel.keys.ratelimit import RateLimiter
from sentinel.keys.service import KeyService
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.support.asgi_status import status_of
from tests.support.on_loop import on_an_event_loop


async def _status(auth: ApiKeyAuth, token: str | None) -> int:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return await status_of(auth, "POST", "/v1/evaluations", headers)


def test_key_checks_past_the_cache_query_off_the_event_loop(tmp_path: Path) -> None:
    # A cache that vouches for nothing: every request must read its key, and whether any key exists, afresh.
    settings = Settings(data_dir=tmp_path / "data", api_key_cache_seconds=0)
    services = build_services(settings)
    keys = KeyService(services)
    _, token = keys.create("evaluator", ["evaluate"])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    auth = ApiKeyAuth(app, keys=keys, limiter=RateLimiter(settings), settings=settings)
    on_loop: list[str] = []
    off_loop: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        (on_loop if on_an_event_loop() else off_loop).append(" ".join(statement.split())[:80])

    event.listen(services.engine, "before_cursor_execute", note)
    try:
        statuses = asyncio.run(_statuses(auth, token))
    finally:
        event.remove(services.engine, "before_cursor_execute", note)
    # The key is accepted, a call without one refused (a key exists), an unknown one refused: each read afresh.
    assert statuses == [202, 401, 401]
    assert len(off_loop) >= 3, off_loop
    assert on_loop == []


async def _statuses(auth: ApiKeyAuth, token: str) -> list[int]:
    return [await _status(auth, token), await _status(auth, None), await _status(auth, "sk-unknown")]
