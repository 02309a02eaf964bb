"""An open server (loopback, no keys yet: the quick start) answers only callers on this machine. Loopback is no
boundary against the browser there: any web page it shows can POST to 127.0.0.1 as a "simple" request (a form, or a
no-cors fetch, with the Origin of its own site), and a name of the attacker's resolving to 127.0.0.1 (DNS rebinding)
makes its reads same-origin, with that name in Host. Either could decide reviews, start paid generations or read
every evaluation."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from sentinel.keys.auth import ApiKeyAuth
from sentinel.keys.ratelimit import RateLimiter
from sentinel.keys.service import KeyService
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.support.asgi_status import status_of

EVIL_PAGE = {"Origin": "https://evil.example", "Content-Type": "text/plain"}


def _job_body(prompt: str) -> str:
    return f'{{"task": "product-white-background", "prompt": "{prompt}"}}'


def test_a_cross_site_form_post_starts_no_job(client) -> None:
    prompt = f"cross-site {uuid.uuid4().hex}"
    response = client.post("/v1/jobs", content=_job_body(prompt), headers=EVIL_PAGE)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert "https://evil.example" in error["message"] and "sentinel keys create" in error["message"]
    listed = client.get("/v1/jobs", params={"limit": 100}).json()["data"]
    assert prompt not in {job["prompt"] for job in listed}


@pytest.mark.parametrize("origin", ["null", "http://127.0.0.1.evil.example", "http://[::1"])
def test_pages_of_no_site_of_this_machine_are_refused(client, origin: str) -> None:
    response = client.post("/v1/images/generations", json={"prompt": "a cup"}, headers={"Origin": origin})
    assert response.status_code == 403, response.text


def test_a_rebound_name_reads_nothing(client) -> None:
    response = client.get("/v1/evaluations", params={"limit": 1}, headers={"Host": "evil.example:19301"})
    assert response.status_code == 403, response.text
    assert "'evil.example:19301'" in response.json()["error"]["message"]
    assert "data" not in response.json()


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "app.localhost", "127.0.0.2"])
def test_this_machines_names_and_pages_are_served(client, host: str) -> None:
    response = client.get(
        "/v1/evaluations", params={"limit": 1}, headers={"Host": host, "Origin": "http://localhost:3000"}
    )
    assert response.status_code == 200, response.text


def test_a_server_with_keys_serves_any_name_to_a_key(tmp_path: Path) -> None:
    # With keys the Authorization header is the boundary (a browser preflights it; a rebound page has no key):
    # behind a proxy, under its public name, from a page of the caller's own site.
    settings = Settings(data_dir=tmp_path / "data")
    keys = KeyService(build_services(settings))
    _, token = keys.create("evaluator", ["evaluate"])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    auth = ApiKeyAuth(app, keys=keys, limiter=RateLimiter(settings), settings=settings)
    elsewhere = [(b"host", b"sentinel.example.com"), (b"origin", b"https://app.example.com")]
    assert (
        asyncio.run(
            status_of(auth, "GET", "/v1/evaluations", [*elsewhere, (b"authorization", f"Bearer {token}".encode())])
        )
        == 200
    )
    assert asyncio.run(status_of(auth, "GET", "/v1/evaluations", elsewhere)) == 401
