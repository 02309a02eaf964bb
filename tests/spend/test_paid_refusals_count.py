"""A spend cap counts every paid provider call, the answers our checks refused too (an animated GIF, a cut image:
each a billed generation), and a walk that paid for such answers buys the next image only when the cap has room for
it; concurrent requests still never overspend (probe A5). On PostgreSQL, many requests at once."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from PIL import Image
from sqlmodel import Session, select

from sentinel.generation.service import Generation, GenerationRequest, GenerationService
from sentinel.generation.wiring import HTTP_LIMITS
from sentinel.keys.service import KeyService
from sentinel.models import ProviderCall, SpendEntry, SpendPeriod
from sentinel.net.transport import provider_client
from sentinel.providers.cooldown import MemoryCooldowns
from sentinel.providers.registry import build_providers
from sentinel.providers.router import ImageSpec, Router
from sentinel.services import Services
from sentinel.spend.service import SpendCapReached
from sentinel_fakes.server import png_image
from tests.providers.scripted_answers import OK_ANSWER, Answers, providers, routing

PRICE = 0.04


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((200, 30, 30), (30, 200, 30))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def answer_with(image: bytes) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, b'{"data": [{"b64_json": "' + base64.b64encode(image) + b'"}]}'


#: Two candidates whose 200 carries an image our checks refuse (paid all the same), then one that delivers.
REFUSED_TWICE_THEN_OK = {
    "animated": [answer_with(animated_gif())],
    "cut": [answer_with(png_image(256, 256, seed=3)[:2000])],
    "working": [OK_ANSWER],
}


@pytest.fixture(autouse=True)
def key(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-key-0123456789")


@asynccontextmanager
async def generation_service(services: Services, urls: dict[str, str]) -> AsyncIterator[GenerationService]:
    config = routing({name: ("openai", f"{url}/v1", "dall-e-3") for name, url in urls.items()}, max_passes=1)
    client = provider_client(HTTP_LIMITS, httpx.Timeout(60.0))
    router = Router(config, build_providers(config, client), MemoryCooldowns(), services.settings)
    service = GenerationService(services, router, client)
    try:
        yield service
    finally:
        await service.close()


def request_for(service: GenerationService) -> GenerationRequest:
    resolved, width, height = service.resolve("images", size="1024x1024")
    spec = ImageSpec(prompt="a lighthouse", width=width, height=height)
    return GenerationRequest(model=resolved, spec=spec, n=1, request_id=f"gen_{uuid.uuid4().hex}")


def run_requests(services: Services, cap: float, count: int) -> tuple[list[Generation | BaseException], dict]:
    key_id = KeyService(services).create("capped", ["generate"], spend_cap=cap, period="day")[0].id
    answers = {name: Answers(script) for name, script in REFUSED_TWICE_THEN_OK.items()}

    async def go(urls: dict[str, str]) -> list[Generation | BaseException]:
        async with generation_service(services, urls) as service:
            owner = service.owner_of(key_id)
            return await asyncio.gather(
                *(service.generate(request_for(service), owner) for _ in range(count)), return_exceptions=True
            )

    with providers(**answers) as urls:
        outcomes = asyncio.run(go(urls))
    with Session(services.engine) as session:
        period = session.exec(select(SpendPeriod).where(SpendPeriod.key_id == key_id)).one()
        calls = list(session.exec(select(ProviderCall)))
        entries = list(session.exec(select(SpendEntry).where(SpendEntry.key_id == key_id)))
    return outcomes, {"period": period, "calls": calls, "entries": entries, "answers": answers}


def test_a_request_that_paid_for_refused_answers_books_them_all(pg_services) -> None:
    outcomes, seen = run_requests(pg_services, cap=0.12, count=1)
    generation = outcomes[0]
    assert isinstance(generation, Generation) and generation.results[0].image is not None
    # Three paid calls: two refused, one delivered; the cap counts all three.
    assert sorted(call.cost_estimate for call in seen["calls"]) == [pytest.approx(PRICE)] * 3
    assert seen["period"].spent == pytest.approx(3 * PRICE)
    assert seen["period"].reserved == pytest.approx(0.0)


def test_a_walk_stops_before_buying_past_the_cap(pg_services) -> None:
    outcomes, seen = run_requests(pg_services, cap=0.10, count=1)
    generation = outcomes[0]
    assert isinstance(generation, Generation) and generation.results[0].image is None
    failed = generation.results[0].last_failure
    assert failed is not None and "spend cap" in failed.message
    # The two refused answers were bought; the third image would not fit in $0.10, so it was never asked for.
    assert seen["answers"]["working"].paths == []
    assert seen["period"].spent == pytest.approx(2 * PRICE)
    assert seen["period"].reserved == pytest.approx(0.0)


@pytest.mark.parametrize("cap", [0.10, 0.30, 0.50])
def test_concurrent_requests_never_spend_past_the_cap_and_the_cap_counts_every_paid_call(pg_services, cap) -> None:
    outcomes, seen = run_requests(pg_services, cap=cap, count=30)
    period, calls = seen["period"], seen["calls"]
    paid = sum(call.cost_estimate for call in calls)
    assert period.spent == pytest.approx(paid)
    assert period.spent <= cap + 1e-9
    assert period.reserved == pytest.approx(0.0)
    # Every request either was refused at the start (402) or ran; none crashed.
    refused = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert all(isinstance(outcome, SpendCapReached) for outcome in refused)
    # Every answer a provider gave, a refused image as much as a delivered one, is paid and booked; a candidate the
    # walk passed over (cooling down after refusing images to requests before it) costs nothing. Which requests
    # met a cooling candidate depends on how they interleaved, so the count of calls per image is not fixed.
    answered = [call for call in calls if call.outcome != "skipped"]
    assert answered and all(call.cost_estimate == pytest.approx(PRICE) for call in answered)
    assert all(call.cost_estimate == 0 for call in calls if call.outcome == "skipped")
    for generation in outcomes:
        if isinstance(generation, Generation) and generation.results[0].image is not None:
            mine = [call for call in answered if call.request_id == generation.request_id]
            # The walk's refused answers are booked with its image: each of them, and the delivering call, once.
            assert [call.outcome for call in mine].count("ok") == 1
            assert len(mine) == sum(1 for attempt in generation.results[0].attempts if attempt.outcome != "skipped")
