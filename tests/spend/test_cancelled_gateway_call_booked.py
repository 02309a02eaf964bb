"""A gateway request cancelled while its provider call is under way books that call: the provider may bill it.

The request's reservation was settled to nothing when its routing was cancelled (a server shutting down past its
grace period, a task cancelled), though the call had gone out: the key's cap never saw a call the provider could
bill. It is now marked ``in_flight_at_crash`` and booked at its price, in the transaction that releases the rest."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlmodel import Session, select

from sentinel.keys.caller import Caller
from sentinel.keys.service import KeyService
from sentinel.models import ProviderCall
from sentinel.services import Services
from tests.generation.test_generation_service import (  # noqa: F401
    PRICE,
    fake,
    generation_service,
    request_for,
    services,
    spend_of,
)


def test_a_gateway_call_cancelled_after_it_was_sent_is_booked_at_its_price(services: Services, fake) -> None:  # noqa: F811
    url, script = fake
    script.slow_seconds = 30.0
    script.push("slow")
    key, _ = KeyService(services).create("capped", ["generate"], spend_cap=1.0, period="day")

    async def go() -> str:
        async with generation_service(services, url) as service:
            request = request_for(service)
            running = asyncio.ensure_future(service.generate(request, Caller.of(key)))
            ends = time.monotonic() + 20
            while not script.requests and time.monotonic() < ends:
                await asyncio.sleep(0.02)
            assert script.requests, "the provider was never asked"
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            return request.request_id

    request_id = asyncio.run(go())

    period, _ = spend_of(services, key.id)
    assert period.spent == pytest.approx(PRICE) and period.reserved == pytest.approx(0.0)
    with Session(services.engine) as session:
        [call] = session.exec(select(ProviderCall).where(ProviderCall.request_id == request_id)).all()
    assert call.outcome == "in_flight_at_crash" and call.cost_estimate == pytest.approx(PRICE)
