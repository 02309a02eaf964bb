"""Webhook deliveries you can see and send again, on a real `sentinel serve` over SQLite and over PostgreSQL: a
receiver that fails twice sees one `Sentinel-Delivery` id on all three tries (so it can deduplicate), the owner
lists every try, a replay goes out under the same id, and another tenant sees none of it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from sentinel.keys.service import KeyService
from sentinel.models import Evaluation, OutboxMessage
from sentinel.settings import Settings
from sentinel.webhooks.service import SIGNATURE_HEADER, verify
from sentinel.wiring import build_services
from tests.conftest import clean_env, own_postgres_database, png_bytes, start_server

SECRET = "test-webhook-secret-deliveries-0123"
#: Each delivery is refused this many times before the receiver takes it.
REFUSALS = 2


@dataclass
class Seen:
    """What the receiver was sent: per resource id, (Sentinel-Delivery, signature valid, answered status)."""

    tries: dict[str, list[tuple[str, bool, int]]] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def receiver_handler(seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            resource = json.loads(body)["id"]
            delivery = self.headers["Sentinel-Delivery"]
            valid = verify(SECRET, self.headers[SIGNATURE_HEADER], body)
            with seen.lock:
                refusals = seen.refused.get(delivery, 0)
                status = 503 if refusals < REFUSALS else 204
                seen.refused[delivery] = refusals + 1
                seen.tries.setdefault(resource, []).append((delivery, valid, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Receiver


@dataclass
class Api:
    base: str
    receiver: str
    seen: Seen
    secrets: dict[str, str]
    engine: Engine

    def get(self, who: str, path: str, **params: object) -> httpx.Response:
        return httpx.get(self.base + path, params=params, headers=self._auth(who), timeout=60)

    def post(self, who: str, path: str, **kwargs: object) -> httpx.Response:
        return httpx.post(self.base + path, headers=self._auth(who), timeout=60, **kwargs)

    def _auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[who]}"}

    def tries_seen(self, resource_id: str, count: int) -> list[tuple[str, bool, int]]:
        """The receiver's record for a resource once it holds ``count`` tries (retries come after a backoff)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.seen.lock:
                tries = list(self.seen.tries.get(resource_id, []))
            if len(tries) >= count:
                return tries
            time.sleep(0.05)
        raise AssertionError(f"the receiver saw {tries} for {resource_id}, not {count} tries")

    def listed(self, who: str, resource_id: str, count: int) -> list[dict]:
        """The listing for a resource once it shows ``count`` tries (a try is recorded after the receiver answers)."""
        deadline = time.monotonic() + 30
        rows: list[dict] = []
        while time.monotonic() < deadline:
            answer = self.get(who, "/v1/webhooks/deliveries", resource_id=resource_id)
            assert answer.status_code == 200, answer.text
            rows = answer.json()["data"]
            if len(rows) >= count:
                return rows
            time.sleep(0.05)
        raise AssertionError(f"the listing shows {rows}, not {count} tries")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, tmp_path_factory) -> Iterator[Api]:
    with ExitStack() as stack:
        seen = Seen()
        receiver = ThreadingHTTPServer(("127.0.0.1", 0), receiver_handler(seen))
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        data = tmp_path_factory.mktemp(f"deliveries-{request.param}")
        database = (
            stack.enter_context(own_postgres_database())
            if request.param == "postgresql"
            else f"sqlite:///{data / 'db.sqlite'}"
        )
        env = clean_env(
            SENTINEL_DATA_DIR=str(data),
            SENTINEL_DATABASE_URL=database,
            SENTINEL_WEBHOOK_SECRET=SECRET,
            SENTINEL_WEBHOOK_MIN_BACKOFF_MS="50",
            SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
        )
        # The keys are made as `sentinel keys create` makes them, in this process (a CLI start-up per key is slow).
        keys = KeyService(build_services(Settings(data_dir=data, database_url=database)))
        suffix = uuid.uuid4().hex[:8]
        scopes = ["evaluate", "generate"]
        secrets = {
            tenant: keys.create(f"deliveries-{tenant}-{suffix}", scopes, tenant=f"{tenant}-{suffix}")[1]
            for tenant in ("acme", "globex")
        }
        server, base = start_server(env, data / "serve.log", timeout=60)
        yield Api(base, f"http://127.0.0.1:{receiver.server_address[1]}/hooks", seen, secrets, keys.services.engine)
        server.stop()
        receiver.shutdown()
        keys.services.engine.dispose()


def test_retries_keep_one_delivery_id_the_owner_lists_every_try_and_a_replay_reuses_the_id(api) -> None:
    created = api.post(
        "acme",
        "/v1/evaluations",
        data={"task": "text-to-image", "callback_url": api.receiver},
        files={"image": ("a.png", png_bytes(96, 96))},
    )
    assert created.status_code == 202, created.text
    evaluation_id = created.json()["id"]
    tries = api.tries_seen(evaluation_id, REFUSALS + 1)
    assert [status for _, _, status in tries] == [503, 503, 204]
    assert all(valid for _, valid, _ in tries)
    delivery_ids = {delivery for delivery, _, _ in tries}
    assert len(delivery_ids) == 1, f"each retry was sent under another Sentinel-Delivery: {delivery_ids}"
    [delivery_id] = delivery_ids

    rows = api.listed("acme", evaluation_id, REFUSALS + 1)
    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in rows] == [
        (3, 204, True),
        (2, 503, False),
        (1, 503, False),
    ]
    assert {(r["delivery_id"], r["kind"], r["event"], r["url"]) for r in rows} == {
        (delivery_id, "evaluation", "finished", api.receiver)
    }
    assert rows[-1]["error"] == "receiver answered HTTP 503" and rows[0]["error"] is None
    failed = api.get("acme", "/v1/webhooks/deliveries", resource_id=evaluation_id, delivered="false").json()
    assert [r["attempt"] for r in failed["data"]] == [2, 1]
    # A page at a time, by cursor.
    first = api.get("acme", "/v1/webhooks/deliveries", resource_id=evaluation_id, limit=2).json()
    rest = api.get("acme", "/v1/webhooks/deliveries", resource_id=evaluation_id, cursor=first["next_cursor"]).json()
    assert [r["id"] for r in first["data"] + rest["data"]] == [r["id"] for r in rows]
    assert rest["next_cursor"] is None

    # Another tenant sees none of it and cannot send it again.
    assert api.get("globex", "/v1/webhooks/deliveries", resource_id=evaluation_id).json()["data"] == []
    refused = api.post("globex", f"/v1/webhooks/deliveries/{delivery_id}/replay")
    assert refused.status_code == 404 and refused.json()["error"]["param"] == "delivery_id"
    assert api.post("acme", "/v1/webhooks/deliveries/dlv_nope/replay").status_code == 404

    replayed = api.post("acme", f"/v1/webhooks/deliveries/{delivery_id}/replay")
    assert replayed.status_code == 202, replayed.text
    assert replayed.json() | {"resource_id": None, "event": None} == {
        "delivery_id": delivery_id,
        "replayed": True,
        "resource_id": None,
        "event": None,
    }
    again = api.tries_seen(evaluation_id, REFUSALS + 2)[-1]
    assert again == (delivery_id, True, 204)
    latest = api.listed("acme", evaluation_id, REFUSALS + 2)[0]
    assert (latest["delivery_id"], latest["attempt"], latest["delivered"]) == (delivery_id, 4, True)


def test_each_delivery_has_its_own_id_and_a_job_s_tries_are_its_tenant_s(api) -> None:
    job = api.post(
        "acme",
        "/v1/jobs",
        json={
            "task": "text-to-image",
            "prompt": "a ball",
            "params": {"width": 256, "height": 256},
            "callback_url": api.receiver,
        },
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    evaluation = api.post(
        "globex",
        "/v1/evaluations",
        data={"task": "text-to-image", "callback_url": api.receiver},
        files={"image": ("b.png", png_bytes(80, 80, (10, 200, 10)))},
    ).json()["id"]
    job_tries = api.tries_seen(job_id, REFUSALS + 1)
    evaluation_tries = api.tries_seen(evaluation, REFUSALS + 1)
    assert len({d for d, _, _ in job_tries}) == len({d for d, _, _ in evaluation_tries}) == 1
    assert job_tries[0][0] != evaluation_tries[0][0]
    rows = api.listed("acme", job_id, REFUSALS + 1)
    assert {(r["kind"], r["event"]) for r in rows} == {("job", "finished")}
    mine = {r["resource_id"] for r in api.get("acme", "/v1/webhooks/deliveries", limit=500).json()["data"]}
    theirs = {r["resource_id"] for r in api.listed("globex", evaluation, REFUSALS + 1)}
    assert job_id in mine and evaluation not in mine
    assert theirs == {evaluation}
    assert api.get("globex", "/v1/webhooks/deliveries", resource_id=job_id).json()["data"] == []


def test_a_bad_cursor_is_a_400_naming_it(api) -> None:
    answer = api.get("acme", "/v1/webhooks/deliveries", cursor="not-a-cursor")
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "cursor"
    assert api.get("acme", "/v1/webhooks/deliveries", delivered="maybe").status_code == 400


def test_a_message_written_before_delivery_ids_keeps_one_id_across_its_retries(api) -> None:
    """A deliver_webhook message an older version left in the outbox (kind, id, event; no delivery id) during an
    upgrade is delivered, and its retries still share one Sentinel-Delivery."""
    evaluation_id = api.post(
        "acme", "/v1/evaluations", data={"task": "text-to-image"}, files={"image": ("c.png", png_bytes(72, 72))}
    ).json()["id"]
    assert api.get("acme", f"/v1/evaluations/{evaluation_id}", wait=30).json()["status"] == "done"
    with Session(api.engine) as session:
        # It has no callback_url of its own: point it at the receiver as the old message would have found it.
        session.execute(update(Evaluation).where(col(Evaluation.id) == evaluation_id).values(callback_url=api.receiver))
        session.add(
            OutboxMessage(
                actor="deliver_webhook",
                queue="webhooks",
                args=["evaluation", evaluation_id, "finished"],
                options={"max_retries": 5, "min_backoff": 50, "max_backoff": 1000},
            )
        )
        session.commit()
    tries = api.tries_seen(evaluation_id, REFUSALS + 1)
    assert [status for _, _, status in tries] == [503, 503, 204]
    assert len({delivery for delivery, _, _ in tries}) == 1
    rows = api.listed("acme", evaluation_id, REFUSALS + 1)
    assert {r["delivery_id"] for r in rows} == {tries[0][0]} and rows[0]["attempt"] == 3
