"""A gateway client that goes away while a provider trickles its answer: the provider call in flight is cancelled
(not waited for up to the provider's timeout), and the spend hold goes with it."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sentinel.generation.service import Generation
from sentinel.models import ProviderCall
from sentinel.net.transport import CLIENT_WATCH, ClientWatch
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server
from tests.generation.test_generation_service import (
    PRICE,
    calls_of,
    capped_owner,
    generation_service,
    request_for,
    spend_of,
)


class Trickle:
    """A provider that answers 200 and then one byte of JSON every 0.2 s, for a minute; ``ended`` is set when the
    connection is gone (the gateway hung up) or the minute is over."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.ended = threading.Event()

    def app(self) -> Starlette:
        async def generations(request: Request) -> Response:
            async def body() -> AsyncIterator[bytes]:
                self.started.set()
                try:
                    yield b'{"data": [{"b64_json": "'
                    for _ in range(300):
                        await asyncio.sleep(0.2)
                        yield b"A"
                finally:
                    self.ended.set()

            return StreamingResponse(body(), media_type="application/json")

        return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


def test_a_gone_client_cancels_the_provider_call_in_flight(tmp_path: Path) -> None:
    trickle = Trickle()
    script = Script()
    with serve(trickle.app()) as provider, serve(create_app(script)) as spare:
        routes: dict[str, Any] = {
            "providers": {
                "slow": {
                    "kind": "openai",
                    "base_url": f"{provider.url}/v1",
                    "api_key_env": "FAKE_KEY",
                    "timeout_seconds": 120,
                    # One counted failure would cool it down: a dropped call must not count.
                    "circuit_breaker": {"failure_threshold": 1},
                },
                "spare": {"kind": "openai", "base_url": f"{spare.url}/v1", "api_key_env": "FAKE_KEY"},
            },
            "models": {"m": {"candidates": [{"target": "slow:dall-e-3"}, {"target": "spare:dall-e-3"}]}},
            "default_model": "m",
        }
        (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ROUTES=str(tmp_path / "routes.yaml"), FAKE_KEY="k"
        )
        server, base = start_server(env, tmp_path / "serve.log")
        try:
            body = {"prompt": "a lighthouse", "model": "m", "response_format": "b64_json"}
            # The client gives up after a second, while the provider is mid-answer.
            with contextlib.suppress(httpx.TimeoutException):
                httpx.post(f"{base}/v1/images/generations", json=body, timeout=httpx.Timeout(1.0))
            assert trickle.started.wait(10)
            # Without cancelling, the gateway reads on for the minute the provider trickles (its timeout is 120 s).
            assert trickle.ended.wait(20), "the provider call outlived its client"
            # The dropped call is in the call log like any failed call, and no further candidate was called for
            # a client that is gone.
            engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'sentinel.db'}")
            logged: list[ProviderCall] = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not logged:
                with Session(engine) as session:
                    logged = list(session.exec(select(ProviderCall)))
                time.sleep(0.1)
            assert [(call.provider, call.outcome) for call in logged] == [("slow", "timeout")]
            assert "client disconnected" in logged[0].message
            assert script.requests == []
            # The gateway still serves, and the provider was not cooled down for a call its client abandoned.
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            trickle.started.clear()
            trickle.ended.clear()
            with contextlib.suppress(httpx.TimeoutException):
                httpx.post(f"{base}/v1/images/generations", json=body, timeout=httpx.Timeout(1.0))
            assert trickle.started.wait(10), "the provider was skipped as cooling down"
            assert trickle.ended.wait(20)
            assert script.requests == []
        finally:
            server.stop()
        log = (tmp_path / "serve.log").read_text(errors="replace")
        assert "Exception in ASGI application" not in log, log[-3000:]


def test_a_provider_call_in_flight_at_sigterm_answers_503_with_retry_after(tmp_path: Path) -> None:
    """`sentinel serve` stopped (SIGTERM, a 3 s grace period) while a provider trickles: the client gets OpenAI's
    error shape (503, Retry-After), not uvicorn's bare 500 when the grace period ends."""
    trickle = Trickle()
    with serve(trickle.app()) as provider:
        routes: dict[str, Any] = {
            "providers": {
                "slow": {"kind": "openai", "base_url": f"{provider.url}/v1", "api_key_env": "K", "timeout_seconds": 120}
            },
            "models": {"m": {"candidates": [{"target": "slow:dall-e-3"}]}},
            "default_model": "m",
        }
        (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
            SENTINEL_SHUTDOWN_GRACE_SECONDS="3",
            K="k",
        )
        server, base = start_server(env, tmp_path / "serve.log")
        try:
            body = {"prompt": "a lighthouse", "model": "m", "response_format": "b64_json"}
            with ThreadPoolExecutor(1) as pool:
                pending = pool.submit(httpx.post, f"{base}/v1/images/generations", json=body, timeout=60)
                assert trickle.started.wait(10)
                server.process.send_signal(signal.SIGTERM)
                answer = pending.result(timeout=30)
            server.process.wait(timeout=30)
        finally:
            server.stop()
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["retry-after"] == "1"
    error = answer.json()["error"]
    assert error["code"] == "server_stopping"
    assert "stopping" in error["message"]


def test_a_dropped_call_releases_the_spend_hold_and_is_logged(tmp_path: Path, monkeypatch) -> None:
    """The generation service, driven directly for a key with a spend cap: the client goes while the only call
    trickles; nothing is left on hold, and the call is in the log at its price: the provider had the whole request
    and was answering, so it made, and bills, the image nobody waits for any more."""
    services = build_services(
        Settings(data_dir=tmp_path, fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")])
    )
    key_id = capped_owner(services, cap=1.0)
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    trickle = Trickle()

    async def go() -> Generation:
        with serve(trickle.app()) as provider:
            async with generation_service(services, provider.url) as service:
                watch = ClientWatch()
                CLIENT_WATCH.set(watch)  # as the gateway's endpoint does; the task below inherits it
                generating = asyncio.ensure_future(service.generate(request_for(service), service.owner_of(key_id)))
                while not trickle.started.is_set():
                    await asyncio.sleep(0.01)
                watch.gone()
                return await asyncio.wait_for(generating, 20)

    generation = asyncio.run(go())
    assert generation.results[0].image is None
    period, entries = spend_of(services, key_id)
    assert period.reserved == pytest.approx(0.0)
    assert period.spent == pytest.approx(PRICE)
    assert [entry.kind for entry in entries] == ["reserve", "settle"]
    calls = calls_of(services, generation.request_id)
    assert [(call.outcome, call.cost_estimate) for call in calls] == [("timeout", pytest.approx(PRICE))]
    assert "client disconnected" in calls[0].message and "may still make, and bill" in calls[0].message
