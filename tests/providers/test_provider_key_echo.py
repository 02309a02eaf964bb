"""A provider that echoes the key it was sent ("Incorrect API key provided: sk-…", as some gateways do whole) never
hands Sentinel's own provider key to a caller: not in the gateway's error, not in a job's reason or attempts, not in
the call log."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import serving_with_fake

KEY = "sk-live-0123456789abcdefSECRETtail"


def echoing_provider() -> Starlette:
    async def generations(request: Request) -> JSONResponse:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        message = f"Incorrect API key provided: {sent}. You can find your API key at https://example.invalid/keys."
        body = {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}
        return JSONResponse(body, status_code=401)

    return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    with serve(echoing_provider()) as fake, serving_with_fake(fake.url, tmp_path, FAKE_KEY=KEY) as url:
        yield url


def test_an_echoed_key_is_redacted_everywhere_a_caller_or_the_log_sees_it(base: str, tmp_path: Path) -> None:
    plain = httpx.post(f"{base}/v1/images/generations", json={"prompt": "a red mug"}, timeout=60)
    assert plain.status_code == 502, plain.text
    assert "Incorrect API key provided: [provider key]" in plain.json()["error"]["message"]
    judged = httpx.post(
        f"{base}/v1/images/generations",
        json={"prompt": "a red mug", "sentinel": {"task": "text-to-image", "max_attempts": 2}},
        timeout=60,
    )
    job = httpx.get(f"{base}/v1/jobs/{judged.headers['x-sentinel-job-id']}", timeout=10).json()
    assert "[provider key]" in job["reason"]
    for shown in (plain.text, judged.text, str(job)):
        assert "SECRET" not in shown
    with sqlite3.connect(tmp_path / "data" / "sentinel.db") as database:
        messages = [row[0] for row in database.execute("SELECT message FROM provider_calls")]
    assert len(messages) == 2 and all("[provider key]" in m and "SECRET" not in m for m in messages), messages
