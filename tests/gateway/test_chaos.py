"""Chaos: three providers failing at random; nearly every request still gets a real image, and every
provider call is in the call log."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from pathlib import Path

import httpx
import yaml
from sqlalchemy import create_engine
from sqlmodel import Session, select

from sentinel.models import ProviderCall
from sentinel.store.images import sniff_mime
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server

REQUESTS = 200
CONCURRENCY = 16
CHAOS = {"rate_limit": 0.3, "unavailable": 0.1, "slow": 0.1}


def routes(path: Path, urls: list[str]) -> Path:
    providers = {
        f"p{i}": {"kind": "openai", "base_url": f"{url}/v1", "api_key_env": "CHAOS_KEY", "timeout_seconds": 2.0}
        for i, url in enumerate(urls)
    }
    path.write_text(
        yaml.safe_dump(
            {
                "providers": providers,
                "models": {"chaos": {"candidates": [{"target": f"{name}:dall-e-3"} for name in providers]}},
                "default_model": "chaos",
                "max_passes": 4,
            }
        )
    )
    return path


async def fire(base: str) -> list[httpx.Response]:
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(i: int) -> httpx.Response:
            async with limit:
                return await client.post(
                    f"{base}/v1/images/generations",
                    json={"prompt": f"chaos {i}", "response_format": "b64_json"},
                )

        return list(await asyncio.gather(*(one(i) for i in range(REQUESTS))))


def test_chaos_providers(tmp_path) -> None:
    # Random 429s that ask for no wait (Retry-After: 0): a provider's real Retry-After is binding for every request
    # (tests/providers/test_routing_correctness.py), which random 429s with a 1 s wait on all three providers would
    # turn into a test of patience rather than of fallback.
    scripts = [Script(chaos=CHAOS, seed=seed, slow_seconds=3.5, retry_after=0) for seed in (1, 2, 3)]
    with serve(create_app(scripts[0])) as a, serve(create_app(scripts[1])) as b, serve(create_app(scripts[2])) as c:
        data = tmp_path / "data"
        env = clean_env(
            SENTINEL_DATA_DIR=str(data),
            SENTINEL_ROUTES=str(routes(tmp_path / "routes.yaml", [a.url, b.url, c.url])),
            CHAOS_KEY="sk-chaos",
        )
        server, base = start_server(env, tmp_path / "serve.log")
        try:
            responses = asyncio.run(fire(base))
        finally:
            server.stop()
    ok = [r for r in responses if r.status_code == 200]
    # A candidate that timed out is not asked again by the same request (the call may still be billed), so one
    # fails for good with chance 1 - 0.5 x (1 + 0.4 + 0.4² + 0.4³) = 0.19 over four passes, and all three with 0.7%.
    assert len(ok) >= REQUESTS * 0.97, Counter(r.status_code for r in responses)
    for response in ok:
        [item] = response.json()["data"]
        assert sniff_mime(base64.b64decode(item["b64_json"])) == "image/png"
    for response in responses:
        if response.status_code != 200:
            assert response.json()["error"]["message"], response.text

    # The call log (written after each response) accounts for every attempt of every request.
    engine = create_engine(f"sqlite:///{data / 'sentinel.db'}")
    deadline = time.monotonic() + 20
    while True:
        with Session(engine) as session:
            calls = list(session.exec(select(ProviderCall)))
        if len({c.request_id for c in calls}) == REQUESTS or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    by_request: dict[str, list[ProviderCall]] = {}
    for call in calls:
        by_request.setdefault(call.request_id, []).append(call)
    assert len(by_request) == REQUESTS
    for response in responses:
        request_id = response.headers["x-sentinel-request-id"]
        logged = by_request[request_id]
        if response.status_code == 200:
            attempts = response.json()["sentinel"]["attempts"]
            assert [(c.provider, c.outcome) for c in logged] == [(a["provider"], a["outcome"]) for a in attempts]
            assert sum(c.outcome == "ok" for c in logged) == 1
        else:
            assert all(c.outcome != "ok" for c in logged)
    outcomes = Counter(c.outcome for c in calls)
    assert outcomes["rate_limited"] and outcomes["unavailable"] and outcomes["timeout"], outcomes
