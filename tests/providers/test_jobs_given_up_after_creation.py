"""A provider job we stop waiting for after the provider created it is counted at its price.

A Replicate prediction or a fal job that does not finish within the provider's time limit is cancelled (best
effort), but the provider has been running it, and bills for it: the call log once said ``timeout`` at $0, and a
capped key's spend counted nothing, so a key whose calls keep timing out could spend past its cap. Now the call is
logged at its price, saying it may be billed, and booked against the key's cap, on the gateway's path and on a job's
(whose call row, written before it was sent, is completed at that price). Against the fake Replicate and fal servers
on 127.0.0.1, whose 'slow' jobs finish long after the time limit."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from sentinel.generation.service import Generation, GenerationRequest, GenerationService
from sentinel.generation.wiring import HTTP_LIMITS
from sentinel.keys.service import KeyService
from sentinel.models import ProviderCall, SpendPeriod
from sentinel.net.transport import provider_client
from sentinel.providers.calls import InFlightCalls
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router, RouteResult
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel_fakes.fal import create_app as fal_app
from sentinel_fakes.replicate import create_app as replicate_app
from sentinel_fakes.server import Script, serve

PRICE = 0.05
#: The provider's time limit: the fakes' slow jobs take far longer.
LIMIT_SECONDS = 0.5
MODELS = {"replicate": "black-forest-labs/flux-schnell", "fal": "fal-ai/flux/dev"}


@pytest.fixture(params=["replicate", "fal"])
def slow_jobs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, Script]]:
    """A polling provider whose jobs are created at once and finish only after a minute."""
    monkeypatch.setenv("FAKE_KEY", "sk-test-slow-jobs")
    kind = request.param
    script = Script(default="slow", slow_seconds=60.0)
    app = replicate_app(script) if kind == "replicate" else fal_app(script)
    with serve(app) as server:
        yield kind, server.url, script


def routing(kind: str, base: str) -> RoutingConfig:
    return RoutingConfig.model_validate(
        {
            "providers": {
                "slow": {
                    "kind": kind,
                    "base_url": base,
                    "api_key_env": "FAKE_KEY",
                    "timeout_seconds": LIMIT_SECONDS,
                    "poll_interval_seconds": 0.02,
                }
            },
            "models": {"images": {"candidates": [{"target": f"slow:{MODELS[kind]}"}], "cost_per_image": PRICE}},
            "default_model": "images",
            "max_passes": 2,
        }
    )


def submissions(script: Script) -> int:
    return sum(1 for r in script.requests if r["method"] == "POST" and not str(r["path"]).endswith("/cancel"))


def test_a_job_given_up_on_after_it_was_created_is_counted_at_its_price(slow_jobs) -> None:
    kind, base, script = slow_jobs
    config = routing(kind, base)

    async def go() -> RouteResult:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), Settings())
            return await router.generate(router.resolve("images"), ImageSpec(prompt="a lighthouse"))

    result = asyncio.run(go())

    assert result.image is None
    assert len(result.attempts) == 1, [a.to_dict() for a in result.attempts]
    [call] = result.attempts
    assert call.outcome == "timeout"
    assert call.cost == pytest.approx(PRICE)
    assert "may still make, and bill" in call.message
    # Bought once: the router's next pass does not create (and pay for) a second job.
    assert submissions(script) == 1


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = build_services(Settings(data_dir=tmp_path, fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")]))
    yield built
    built.engine.dispose()


def generate(services: Services, config: RoutingConfig, key_id: str, journal: bool) -> Generation:
    async def go() -> Generation:
        async with provider_client(HTTP_LIMITS, httpx.Timeout(30)) as client:
            router = Router(config, build_providers(config, client), MemoryCooldowns(), services.settings)
            service = GenerationService(services, router, client)
            resolved, width, height = service.resolve("images", size="1024x1024")
            request_id = f"gen_{uuid.uuid4().hex}"
            request = GenerationRequest(
                model=resolved,
                spec=ImageSpec(prompt="a lighthouse", width=width, height=height),
                request_id=request_id,
                # A job's attempt writes each call down before it is sent; the gateway logs it once answered.
                journal=InFlightCalls(services.engine, request_id, "images") if journal else None,
            )
            return await service.generate(request, service.owner_of(key_id))

    return asyncio.run(go())


@pytest.mark.parametrize("path", ["gateway", "job"])
def test_a_capped_keys_spend_and_the_call_log_count_the_job_given_up_on(
    services: Services, slow_jobs, path: str
) -> None:
    kind, base, _ = slow_jobs
    key, _ = KeyService(services).create("capped", ["generate"], spend_cap=1.0, period="day")

    generation = generate(services, routing(kind, base), key.id, journal=path == "job")

    assert generation.results[0].image is None
    with Session(services.engine) as session:
        period = session.exec(select(SpendPeriod).where(SpendPeriod.key_id == key.id)).one()
        calls = list(session.exec(select(ProviderCall).where(ProviderCall.request_id == generation.request_id)))
    assert period.spent == pytest.approx(PRICE)
    assert period.reserved == pytest.approx(0.0)
    assert [(call.outcome, call.cost_estimate) for call in calls] == [("timeout", pytest.approx(PRICE))]
    assert "may still make, and bill" in calls[0].message
