"""An image a job's attempt paid for is not bought again because the database blinked (outside probe F2).

The provider answers (the image is paid for) just as PostgreSQL goes away: the image's row and its call log cannot
be written. The attempt keeps the image and the calls on the worker's disk, as it does while the blob store is away
(see test_paid_image_kept), and its retry, once the database is back, writes them and hands that image to the
panel: the provider is called once, the call log names the one paid call, and the key's spend cap counts it once.
Against PostgreSQL behind a proxy the test cuts, and a fake OpenAI-shaped provider on 127.0.0.1.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel.evaluation.service import EvaluationService
from sentinel.generation.wiring import open_generation
from sentinel.jobs.attempts import AttemptRunner, attempt_request_id
from sentinel.jobs.progress import JobProgress
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.keys.caller import Caller
from sentinel.keys.service import KeyService
from sentinel.models import AttemptState, JobAttempt, OutboxMessage, SpendPeriod, utcnow
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.wiring import build_services
from sentinel.worker.loop import run_async
from sentinel_fakes.server import serve
from tests.conftest import own_postgres_database, png_bytes
from tests.support.attempt_worker import calls_of, lease_run_out
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

PRICE = 0.04


class ProviderThatOutlivesTheDatabase:
    """An OpenAI-shaped provider whose every answer is a new (paid) image; with ``cut_first`` set, it cuts the
    database off just before it answers, as a blip in the middle of a call does."""

    def __init__(self) -> None:
        self.calls = 0
        self.cut_first: TcpProxy | None = None
        self._colour = itertools.count(1)

    def app(self) -> Starlette:
        async def generations(request: Request) -> JSONResponse:
            await request.body()
            self.calls += 1
            if self.cut_first is not None:
                self.cut_first.cut()
            picture = png_bytes(256, 256, (40, next(self._colour) % 256, 200))
            return JSONResponse({"created": 0, "data": [{"b64_json": base64.b64encode(picture).decode()}]})

        return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


@pytest.fixture
def stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Services, TcpProxy, ProviderThatOutlivesTheDatabase]]:
    provider = ProviderThatOutlivesTheDatabase()
    monkeypatch.setenv("FAKE_KEY", "sk-test-database-blip")
    with serve(provider.app()) as fake, own_postgres_database() as database:
        routes = {
            "providers": {"paid": {"kind": "openai", "base_url": f"{fake.url}/v1", "api_key_env": "FAKE_KEY"}},
            "models": {"paid": {"candidates": [{"target": "paid:dall-e-3"}], "cost_per_image": PRICE}},
            "default_model": "paid",
        }
        (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
        parts = urlsplit(database)
        with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            settings = Settings(
                data_dir=tmp_path / "data",
                database_url=proxy.url("postgresql", parts.username or "", parts.path),
                routes=tmp_path / "routes.yaml",
                database_timeout_seconds=2,
            )
            services = build_services(settings)
            try:
                yield services, proxy, provider
            finally:
                proxy.restore()
                services.engine.dispose()


def test_an_image_paid_for_during_a_database_blip_is_kept_and_finished_once_the_database_is_back(stack) -> None:
    services, proxy, provider = stack
    generation = run_async(open_generation(services))
    key, _ = KeyService(services).create("capped", ["generate"], spend_cap=1.0, period="day")
    caller = Caller.of(key)
    job = JobService(services, lambda: generation).create(JobCreate(task="text-to-image", prompt="a kite"), caller)
    with Session(services.engine) as session:
        session.execute(OutboxMessage.__table__.update().values(sent_at=utcnow()))  # this test runs each step itself
        session.commit()
    runner = AttemptRunner(services, EvaluationService(services), JobProgress(services), lambda: generation)

    provider.cut_first = proxy
    with pytest.raises(Exception, match="the database could not record it"):
        runner.run(job.id, 0, 1)
    assert provider.calls == 1

    # The database is back; the retry runs once the lease of the run that failed is over (as the sweep sees it).
    provider.cut_first = None
    proxy.restore()
    lease_run_out(services, job.id)
    runner.run(job.id, 0, 1)

    # The image paid for is the attempt's: it was not bought again.
    assert provider.calls == 1
    with Session(services.engine) as session:
        attempt = session.exec(select(JobAttempt).where(JobAttempt.job_id == job.id)).one()
    assert attempt.state == AttemptState.JUDGING and attempt.image_id and attempt.evaluation_id
    served = services.images.read(attempt.image_id)
    assert served.startswith(b"\x89PNG")
    # The call log names the one paid call (priced once), delivering that image; nothing is left in flight.
    calls = calls_of(services, attempt_request_id(job.id, 0, 1))
    assert [(c.outcome, c.image_id) for c in calls] == [("ok", attempt.image_id)]
    assert calls[0].cost_estimate == pytest.approx(PRICE)
    # The key's spend cap counts the image once, and holds nothing more for it.
    with Session(services.engine) as session:
        period = session.exec(select(SpendPeriod).where(SpendPeriod.key_id == caller.id)).one()
    assert period.spent == pytest.approx(PRICE) and period.reserved == pytest.approx(0.0)
    # What was kept on the worker's disk is gone once written.
    kept = services.settings.data_dir / "unstored-images" / job.id
    assert not kept.exists() or not any(kept.iterdir())
