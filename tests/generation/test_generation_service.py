"""The generation service driven directly, against a fake OpenAI-style provider on 127.0.0.1: the spend cap held and
settled, images stored with their call log, an overall deadline, a cap refused before any provider call."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from sentinel.generation.service import Generation, GenerationRequest, GenerationService
from sentinel.generation.wiring import HTTP_LIMITS
from sentinel.keys.caller import Caller
from sentinel.keys.service import KeyService
from sentinel.models import ImageOwner, ProviderCall, SpendEntry, SpendPeriod, StoredImage
from sentinel.net.transport import provider_client
from sentinel.providers.base import Outcome
from sentinel.providers.config import RoutingConfig
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.spend.service import SpendCapReached
from sentinel.wiring import build_services
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve

#: What one image costs on the test route.
PRICE = 0.04


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return build_services(Settings(data_dir=tmp_path, fetch_allowed_networks=[ipaddress.ip_network("127.0.0.1/32")]))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Script]]:
    script = Script()
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    with serve(create_app(script)) as server:
        yield server.url, script


@asynccontextmanager
async def generation_service(services: Services, fake_url: str) -> AsyncIterator[GenerationService]:
    # One candidate, one walk, a provider time limit far beyond any test: every outcome is the fake's or the service's.
    routing = RoutingConfig.model_validate(
        {
            "providers": {
                "fake": {
                    "kind": "openai",
                    "base_url": f"{fake_url}/v1",
                    "api_key_env": "FAKE_KEY",
                    "timeout_seconds": 120,
                }
            },
            "models": {"solo": {"candidates": [{"target": "fake:dall-e-3"}], "cost_per_image": PRICE}},
            "default_model": "solo",
            "max_passes": 1,
        }
    )
    client = provider_client(HTTP_LIMITS, httpx.Timeout(120.0))
    router = Router(routing, build_providers(routing, client), MemoryCooldowns(), services.settings)
    service = GenerationService(services, router, client)
    try:
        yield service
    finally:
        await service.close()


def request_for(service: GenerationService, n: int = 1, timeout_seconds: float | None = None) -> GenerationRequest:
    resolved, width, height = service.resolve("solo", size="1024x1024")
    spec = ImageSpec(prompt="a lighthouse at dusk", width=width, height=height)
    return GenerationRequest(
        model=resolved, spec=spec, n=n, request_id=f"gen_{uuid.uuid4().hex}", timeout_seconds=timeout_seconds
    )


def capped_owner(services: Services, cap: float) -> str:
    key, _ = KeyService(services).create("capped", ["generate"], spend_cap=cap, period="day")
    return key.id


def spend_of(services: Services, key_id: str) -> tuple[SpendPeriod, list[SpendEntry]]:
    with Session(services.engine) as session:
        period = session.exec(select(SpendPeriod).where(SpendPeriod.key_id == key_id)).one()
        entries = list(session.exec(select(SpendEntry).where(SpendEntry.key_id == key_id).order_by(SpendEntry.id)))
    return period, entries


def calls_of(services: Services, request_id: str) -> list[ProviderCall]:
    with Session(services.engine) as session:
        return list(session.exec(select(ProviderCall).where(ProviderCall.request_id == request_id)))


def test_the_cap_is_held_for_both_images_and_settled_to_the_one_delivered(services, fake) -> None:
    url, script = fake
    key_id = capped_owner(services, cap=1.0)
    script.push("content_filter")  # whichever of the two calls arrives first is refused

    async def go() -> tuple[Generation, Caller | None]:
        async with generation_service(services, url) as service:
            # A job has no caller, only the id of the key it was made with.
            assert service.owner_of(None) is None and service.owner_of("key_gone") is None
            owner = service.owner_of(key_id)
            return await service.generate(request_for(service, n=2), owner), owner

    generation, owner = asyncio.run(go())

    assert owner is not None and owner.spend_cap == 1.0
    delivered = [r for r in generation.results if r.image is not None]
    failed = [r for r in generation.results if r.image is None]
    assert len(delivered) == 1 and len(failed) == 1
    assert failed[0].last_failure is not None and failed[0].last_failure.outcome is Outcome.CONTENT_FILTERED
    period, entries = spend_of(services, key_id)
    # Nothing left on hold; only the delivered image is spent.
    assert period.reserved == pytest.approx(0.0)
    assert period.spent == pytest.approx(PRICE)
    assert [(e.kind, e.request_id) for e in entries] == [
        ("reserve", generation.request_id),
        ("settle", generation.request_id),
    ]
    assert entries[0].reserved == pytest.approx(2 * PRICE)
    assert entries[1].spent == pytest.approx(PRICE)
    # The refused call is in the log as well, at no cost.
    assert sorted((c.outcome, c.cost_estimate) for c in calls_of(services, generation.request_id)) == [
        ("content_filtered", 0.0),
        ("ok", pytest.approx(PRICE)),
    ]


def test_images_and_their_call_log_are_both_there_when_generate_returns(services, fake) -> None:
    url, _ = fake
    key_id = capped_owner(services, cap=5.0)

    async def go() -> Generation:
        async with generation_service(services, url) as service:
            return await service.generate(request_for(service, n=2), service.owner_of(key_id))

    generation = asyncio.run(go())

    assert all(generation.image_ids) and len(generation.image_ids) == 2
    calls = calls_of(services, generation.request_id)
    assert sorted(c.image_id for c in calls) == sorted(generation.image_ids)
    assert {c.model for c in calls} == {"solo"}
    with Session(services.engine) as session:
        for result, image_id in zip(generation.results, generation.image_ids, strict=True):
            assert result.image is not None and image_id == result.image.info.sha256
            assert session.get(StoredImage, image_id) is not None
            owners = session.exec(select(ImageOwner.key_id).where(ImageOwner.image_id == image_id)).all()
            assert owners == [key_id]
            assert services.images.read(image_id) == result.image.data


def test_a_hanging_provider_becomes_a_timeout_failure_and_what_came_in_time_is_kept(services, fake) -> None:
    url, script = fake
    # The hanging call answers (OK) only after 6 s, twice the generation's bound; the bound leaves the other call
    # ample time on a loaded machine. The fake's server waits for the hanging call when it stops, so it is not
    # made to hang longer than that.
    script.slow_seconds = 6.0
    script.push("slow")
    key_id = capped_owner(services, cap=1.0)

    async def go() -> Generation:
        async with generation_service(services, url) as service:
            request = request_for(service, n=2, timeout_seconds=3.0)
            # A generous guard: the test fails rather than hangs if the bound is not kept.
            return await asyncio.wait_for(service.generate(request, service.owner_of(key_id)), timeout=60)

    generation = asyncio.run(go())

    outcomes = sorted(r.last_failure.outcome.value if r.last_failure else "delivered" for r in generation.results)
    # Had the service waited for the slow call, both images would have been delivered.
    assert outcomes == ["delivered", "timeout"]
    [timed_out] = [r for r in generation.results if r.image is None]
    assert timed_out.last_failure is not None and "within the 3 s" in timed_out.last_failure.message
    assert sum(1 for image_id in generation.image_ids if image_id) == 1
    period, _ = spend_of(services, key_id)
    # The hanging call's request had gone out in full: the provider may still make, and bill, that image, so the
    # cap counts it too (a call given up on before it was sent would cost nothing).
    assert period.reserved == pytest.approx(0.0) and period.spent == pytest.approx(2 * PRICE)


def test_a_cap_below_one_image_is_refused_before_any_provider_call(services, fake) -> None:
    url, script = fake
    key_id = capped_owner(services, cap=PRICE / 2)

    async def go() -> None:
        async with generation_service(services, url) as service:
            await service.generate(request_for(service), service.owner_of(key_id))

    with pytest.raises(SpendCapReached) as refused:
        asyncio.run(go())

    assert "daily spend cap" in refused.value.message
    assert script.requests == []
    with Session(services.engine) as session:
        assert session.exec(select(ProviderCall)).all() == []
        assert session.exec(select(SpendEntry)).all() == []  # nothing was held
