"""A plain gateway call that the provider answers (and bills) while the database is away stays in the key's spend.

The gateway logged a call, and settled its key's spend, only once answered (F11): a database away when the answer
came lost both, and the ledger's sweep later released the request's reservation as if nothing had been spent, so the
key's cap never saw a call the provider billed. The call is now written down, in flight, in the transaction that
reserves the spend (before anything is sent); the sweep that releases the dead reservation books it. Against a
PostgreSQL database of the test's own behind a TCP proxy that is cut while the fake provider works on the image."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.keys.caller import Caller
from sentinel.keys.service import KeyService
from sentinel.models import ProviderCall, SpendEntry, SpendPeriod
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel_fakes.server import Script
from tests.conftest import own_postgres_database
from tests.generation.test_generation_service import PRICE, fake, generation_service, request_for  # noqa: F401
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def test_a_gateway_call_answered_while_the_database_is_away_is_booked_by_the_sweep(tmp_path: Path, fake) -> None:  # noqa: F811
    url, script = fake
    script.slow_seconds = 3.0
    script.push("slow")
    with own_postgres_database() as database:
        request_id, failed, key_id = generate_through_a_blip(tmp_path, database, url, script)
        assert isinstance(failed, Exception), failed
        services = build_services(Settings(data_dir=tmp_path / "data", database_url=database))
        try:
            # Minutes pass: the request's reservation is no longer renewed.
            with Session(services.engine) as session:
                session.execute(update(SpendEntry).values(created_at=SpendEntry.created_at - timedelta(minutes=10)))
                session.commit()
            swept = JobRecovery(services, JobProgress(services)).sweep()
            with Session(services.engine) as session:
                period = session.exec(select(SpendPeriod).where(SpendPeriod.key_id == key_id)).one()
                calls = session.exec(select(ProviderCall).where(ProviderCall.request_id == request_id)).all()
        finally:
            services.engine.dispose()
    assert swept["spend_released"] == 1 and swept["in_flight_at_crash"] == 1
    [call] = calls
    assert call.outcome == "in_flight_at_crash" and call.cost_estimate == pytest.approx(PRICE)
    assert period.spent == pytest.approx(PRICE) and period.reserved == pytest.approx(0.0)


def generate_through_a_blip(tmp_path: Path, database: str, url: str, script: Script) -> tuple[str, object, str]:
    """A capped key's generation whose database (behind a proxy) is cut once the provider has the call: its request
    id, what ``generate`` returned or raised, and the key's id."""
    parts = urlsplit(database)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        scheme = database.split("://", 1)[0]
        proxied = proxy.url(scheme, parts.username or "", parts.path)
        services = build_services(Settings(data_dir=tmp_path / "data", database_url=proxied))
        key, _ = KeyService(services).create("capped", ["generate"], spend_cap=1.0, period="day")
        outcome: list[object] = []

        async def generate() -> None:
            async with generation_service(services, url) as service:
                request = request_for(service)
                outcome.append(request.request_id)
                try:
                    outcome.append(await service.generate(request, Caller.of(key)))
                except Exception as exc:  # the database is away when the answer is to be logged
                    outcome.append(exc)

        running = threading.Thread(target=lambda: asyncio.run(generate()))
        running.start()
        deadline = time.monotonic() + 30
        while not script.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert script.requests, "the provider was never asked"
        proxy.cut()  # the provider makes (and bills) the image while the database is away
        running.join(timeout=90)
        proxy.restore()
        services.engine.dispose()
    return str(outcome[0]), outcome[1], key.id
