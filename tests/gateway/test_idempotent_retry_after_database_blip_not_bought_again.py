"""A generation with an Idempotency-Key whose provider answered (the image is paid for) while the database was away:
its answer could not be stored for the key. It was answered 503 with Retry-After, and the client's retry with the
same key bought the image again. Now the answer is kept on the server's disk for the key: a ``b64_json`` answer goes
out at once (marked not stored, as without a key) and a retry replays it; a ``url`` answer (whose image has no row to
point at yet) is a 503 asking for that retry, which, once the database is back, writes the image's row and the key's
answer and replays it. The provider is called once. Against `sentinel serve` on a PostgreSQL database of the test's
own behind a TCP proxy that is cut while the fake provider works on the image."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from sentinel.models import IdempotencyRecord
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, own_postgres_database, start_server, write_fake_routes
from tests.faults.conftest import wait_until
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

KEY = {"Idempotency-Key": "order-1234-image"}


@dataclass
class Blip:
    base: str
    proxy: TcpProxy
    script: Script
    data_dir: Path
    database: str

    def stored_answer(self) -> int | None:
        """The status of the key's answer as the database holds it (None: not answered there)."""
        engine = create_engine(self.database.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with Session(engine) as session:
                record = session.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == KEY["Idempotency-Key"]))
                found = record.first()
        finally:
            engine.dispose()
        return found.status_code if found is not None else None

    def post(self, body: dict[str, object]) -> httpx.Response:
        return httpx.post(f"{self.base}/v1/images/generations", json=body, headers=KEY, timeout=60)

    def post_through_a_cut(self, body: dict[str, object]) -> httpx.Response:
        """``body`` sent with the key; the database cut once the provider has the call (it stays cut)."""
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(self.post, body)
            while not self.script.requests:
                assert not pending.done(), pending.result().text
            self.proxy.cut()
            return pending.result(timeout=60)


@pytest.fixture
def blip(tmp_path: Path) -> Iterator[Blip]:
    script = Script()
    script.slow_seconds = 3.0
    script.push("slow")
    with serve(create_app(script)) as fake, own_postgres_database() as database:
        parts = urlsplit(database)
        with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            env = clean_env(
                SENTINEL_DATA_DIR=str(tmp_path / "data"),
                SENTINEL_ROUTES=str(write_fake_routes(tmp_path / "routes.yaml", fake.url)),
                SENTINEL_DATABASE_URL=proxy.url("postgresql", parts.username or "", parts.path),
                FAKE_KEY="sk-fake",
            )
            server, base = start_server(env, tmp_path / "serve.log")
            try:
                yield Blip(base, proxy, script, tmp_path / "data", database)
            finally:
                proxy.restore()
                server.stop()


def test_a_b64_json_answer_goes_out_and_its_retry_replays_it_without_buying_again(blip: Blip) -> None:
    body = {"prompt": "a lighthouse at dusk", "model": "house", "response_format": "b64_json"}
    first = blip.post_through_a_cut(body)
    # The paid image is answered at once, marked not stored, as a request without a key is.
    assert first.status_code == 200, first.text
    assert first.headers["x-sentinel-stored"] == "false"
    paid = first.json()["data"][0]["b64_json"]
    assert base64.b64decode(paid).startswith(b"\x89PNG")

    # A retry (the answer was lost on the way, say) while the database is still away: the same answer, replayed.
    during = blip.post(body)
    assert during.status_code == 200, during.text
    assert during.headers["idempotent-replayed"] == "true"
    assert during.json()["data"][0]["b64_json"] == paid

    blip.proxy.restore()
    # Once the database is back the server writes the key's answer there itself, so a retry that reaches another
    # server replays it too; nothing is left kept on this server's disk.
    wait_until(blip.stored_answer, 60, "the kept answer written to the database")
    assert not any((blip.data_dir / "unrecorded-answers").iterdir())
    after = blip.post(body)
    assert after.status_code == 200, after.text
    assert after.headers["idempotent-replayed"] == "true"
    assert after.json()["data"][0]["b64_json"] == paid
    assert len(blip.script.requests) == 1


def test_a_url_answer_is_kept_for_the_retry_which_gets_the_image_paid_for(blip: Blip) -> None:
    body = {"prompt": "a lighthouse at dusk", "model": "house", "response_format": "url"}
    first = blip.post_through_a_cut(body)
    # Nothing to point at yet: a 503 that asks for the retry (which does not buy again), naming the database.
    assert first.status_code == 503, first.text
    assert first.headers.get("x-should-retry") != "false"
    assert int(first.headers["retry-after"]) >= 1
    problem = first.json()["error"]
    assert problem["code"] == "database_unavailable"
    assert "same key" in problem["message"]

    # The retry while the database is still away is told to wait again; it buys nothing.
    during = blip.post(body)
    assert during.status_code == 503, during.text
    assert len(blip.script.requests) == 1

    blip.proxy.restore()
    after = blip.post(body)
    assert after.status_code == 200, after.text
    assert after.headers["idempotent-replayed"] == "true"
    url = after.json()["data"][0]["url"]
    image = httpx.get(url, timeout=30)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    again = blip.post(body)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert len(blip.script.requests) == 1
