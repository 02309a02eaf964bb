"""A spend reservation whose request's process died is released by the sweep; a live one is left alone, and a settle
after a release books what was spent without releasing twice.

A key that spent nothing was refused (402 "used $0.08") after two servers were killed mid-generation: their
reservations were held until the period reset, for a monthly cap the rest of the month."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine
from sqlmodel import Session, col, select

from sentinel.jobs.progress import JobProgress
from sentinel.jobs.recovery import JobRecovery
from sentinel.keys.caller import Caller
from sentinel.keys.service import KeyService
from sentinel.models import ProviderCall, SpendEntry, SpendPeriod
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.spend.service import SpendCapReached, SpendService
from sentinel.wiring import build_services
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server
from tests.keys.test_keys import create_key

PRICE = 0.04
#: How much older the ledger rows of a request whose process died are made: well past the sweep's patience.
LATER = 10 * 60


@pytest.fixture(params=["sqlite", "postgresql"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Services:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_services")
    return build_services(Settings(data_dir=tmp_path))


def capped(services: Services, cap: float = 0.10) -> Caller:
    key, _ = KeyService(services).create("capped", ["generate"], spend_cap=cap, period="day")
    return Caller.of(key)


def age(engine, seconds: float, request_id: str | None = None) -> None:
    """The ledger rows (of one request) as if written ``seconds`` earlier: time passing, without waiting for it."""
    with Session(engine) as session:
        rows = select(SpendEntry.id)
        if request_id is not None:
            rows = rows.where(SpendEntry.request_id == request_id)
        ids = list(session.exec(rows))
        for entry in session.exec(select(SpendEntry).where(col(SpendEntry.id).in_(ids))):
            entry.created_at = entry.created_at - timedelta(seconds=seconds)
            session.add(entry)
        session.commit()


def period_of(services: Services, caller: Caller) -> SpendPeriod:
    with Session(services.engine) as session:
        return session.exec(select(SpendPeriod).where(SpendPeriod.key_id == caller.id)).one()


def test_the_sweep_releases_a_dead_requests_reservation_and_leaves_a_live_one(services: Services) -> None:
    spend = SpendService(services)
    caller = capped(services)
    spend.reserve(caller, 0.08, "gen_dead")  # its server was killed: never settled
    live = spend.reserve(caller, 0.02, "gen_live")
    assert live is not None
    with pytest.raises(SpendCapReached, match=r"used \$0\.1000"):
        spend.reserve(caller, 0.04, "gen_refused")
    age(services.engine, LATER)
    spend.renew(live)  # the live request still works: it says so

    swept = JobRecovery(services, JobProgress(services)).sweep()
    assert swept["spend_released"] == 1
    assert period_of(services, caller).reserved == pytest.approx(0.02)
    # The key can spend again what the dead request held.
    assert spend.reserve(caller, 0.08, "gen_next") is not None
    spend.settle(live, 0.02)
    period = period_of(services, caller)
    assert period.reserved == pytest.approx(0.08) and period.spent == pytest.approx(0.02)


def test_a_settle_after_its_reservation_was_released_books_the_spend_once(services: Services) -> None:
    # A request that looked dead (no renewal for minutes: a database away) but finished: its spend is booked, and
    # what the sweep released is not released again (which would have freed another request's reservation).
    spend = SpendService(services)
    caller = capped(services)
    slow = spend.reserve(caller, 0.04, "gen_slow")
    other = spend.reserve(caller, 0.04, "gen_other")
    age(services.engine, LATER, "gen_slow")
    assert spend.release_stale() == 1
    spend.settle(slow, 0.04)
    period = period_of(services, caller)
    assert period.reserved == pytest.approx(0.04) and period.spent == pytest.approx(0.04)
    spend.settle(other, 0.0)
    period = period_of(services, caller)
    assert period.reserved == pytest.approx(0.0) and period.spent == pytest.approx(0.04)


def test_a_resumed_attempts_second_reservation_does_not_keep_the_first(services: Services) -> None:
    # A job attempt's worker died mid-call; the resumed run reserves again under the same request id and settles.
    # What the dead run held is released once the request stops writing (the ledger then balances).
    spend = SpendService(services)
    caller = capped(services, cap=5.0)
    spend.reserve(caller, 0.04, "job_x:0:1")
    resumed = spend.reserve(caller, 0.04, "job_x:0:1")
    spend.settle(resumed, 0.04)
    assert period_of(services, caller).reserved == pytest.approx(0.04)
    assert spend.release_stale() == 0  # just written: could be a run still under way
    age(services.engine, LATER)
    assert spend.release_stale() == 1
    period = period_of(services, caller)
    assert period.reserved == pytest.approx(0.0) and period.spent == pytest.approx(0.04)
    with Session(services.engine) as session:
        entries = session.exec(select(SpendEntry).where(SpendEntry.key_id == caller.id)).all()
    assert sum(e.reserved for e in entries) == pytest.approx(period.reserved)
    assert sum(e.spent for e in entries) == pytest.approx(period.spent)


# -- a real server killed mid-generation -------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[tuple[str, Script]]:
    script = Script()
    with serve(create_app(script)) as server:
        yield server.url, script


def test_a_call_in_flight_when_its_server_was_killed_is_booked_and_the_rest_of_the_hold_released(
    tmp_path: Path, fake
) -> None:
    # The gateway's plain call was logged only once answered: a server killed mid-call left no row, and the sweep
    # released its reservation as if nothing had been spent, while the provider billed the call (F10/F11). It is
    # written down, in flight, with the reservation; the sweep books it, and the key can spend the rest again.
    url, script = fake
    routes = {
        "providers": {
            "fake": {"kind": "openai", "base_url": f"{url}/v1", "api_key_env": "FAKE_KEY", "timeout_seconds": 60}
        },
        "models": {"house": {"candidates": [{"target": "fake:gpt-image-1"}], "cost_per_image": PRICE}},
        "default_model": "house",
        "max_passes": 1,
    }
    (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
        SENTINEL_API_KEY_CACHE_SECONDS="0",
        FAKE_KEY="sk-fake",
    )
    token = create_key(env, "--name", "capped", "--spend-cap", "0.08", "--period", "day", "--scopes", "generate")
    headers = {"Authorization": f"Bearer {token}"}
    body = {"prompt": "a cup", "response_format": "url"}
    script.slow_seconds = 30.0
    script.push("slow")
    server, base = start_server(env, tmp_path / "first.log")
    try:
        # The request waits on the provider, its $0.04 reserved, when the server is killed.
        caller = threading.Thread(
            target=lambda: _suppressed(lambda: httpx.post(f"{base}/v1/images/generations", json=body, headers=headers))
        )
        caller.start()
        deadline = time.monotonic() + 20
        while not script.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert script.requests, "the provider was never asked"
    finally:
        server.kill()
    caller.join(timeout=30)
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'sentinel.db'}")
    # The call the provider was making is in the log, before any answer, at its price.
    with Session(engine) as session:
        [call] = session.exec(select(ProviderCall)).all()
    assert (call.outcome, call.cost_estimate) == ("in_flight", pytest.approx(PRICE))
    # Minutes pass; the sweep finds the request's reservation no longer renewed.
    age(engine, LATER)
    swept_by = build_services(Settings(data_dir=tmp_path / "data", routes=tmp_path / "routes.yaml"))
    swept = JobRecovery(swept_by, JobProgress(swept_by)).sweep()
    swept_by.engine.dispose()
    assert swept["spend_released"] == 1 and swept["in_flight_at_crash"] == 1
    server, base = start_server(env, tmp_path / "second.log")
    try:
        deadline = time.monotonic() + 20
        while True:
            answer = httpx.post(f"{base}/v1/images/generations", json=body, headers=headers, timeout=30)
            if answer.status_code != 402 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer.status_code == 200, answer.text
    finally:
        server.stop()
    with Session(engine) as session:
        [period] = session.exec(select(SpendPeriod)).all()
        kinds = [e.kind for e in session.exec(select(SpendEntry).order_by(col(SpendEntry.id)))]
        calls = session.exec(select(ProviderCall).order_by(col(ProviderCall.id))).all()
    engine.dispose()
    # Both calls are spent: the killed one booked by the sweep's release, the second by its settle.
    assert period.reserved == pytest.approx(0.0) and period.spent == pytest.approx(2 * PRICE)
    assert kinds == ["reserve", "release", "reserve", "settle"]
    assert [(c.outcome, c.provider) for c in calls] == [("in_flight_at_crash", "(not yet named)"), ("ok", "fake")]
    assert calls[0].cost_estimate == pytest.approx(PRICE) and calls[1].cost_estimate == pytest.approx(PRICE)


def _suppressed(call) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server was killed under it
        call()
