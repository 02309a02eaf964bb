"""PostgreSQL cut off in the middle of a batch (every connection terminated, new ones refused for a while), then
restored: the API answers 503 meanwhile, not 500, and every evaluation still finishes with one vote per judge."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.conftest import POSTGRES_ADMIN_URL, clean_env, start_server
from tests.faults.conftest import Stack, submit, sweeper, wait_until

pytestmark = pytest.mark.integration

BATCH = 50
OUTAGE_SECONDS = 2.0


def cut_off(database: str, admin: psycopg.Connection) -> int:
    """Refuse new connections to ``database`` and terminate every open one (ours and only ours)."""
    admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    rows = admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    ).fetchall()
    return len(rows)


def test_postgres_connections_dropped_mid_batch_and_restored(own_redis, database, tmp_path) -> None:
    name = urlsplit(database).path.lstrip("/")
    stack = Stack(tmp_path, database, own_redis.url)
    server, base = start_server(clean_env(**stack.env), tmp_path / "api.log")
    sweep, close_sweeper = sweeper(database, own_redis.url, stack.namespace, tmp_path / "sweeper")
    try:
        answers = [submit(base, index) for index in range(BATCH)]
        assert [a.status_code for a in answers] == [202] * BATCH
        ids = [a.json()["id"] for a in answers]
        # The worker starts once the whole batch waits for it: started first, it judged each evaluation as it came
        # in, and on a fast enough machine none was left unfinished by the time the outage began.
        stack.start_worker(threads=4)
        wait_until(lambda: stack.counts(ids)[0] >= 3, 60, "3 verdicts before the outage")
        unfinished_at_outage = BATCH - stack.counts(ids)[0]
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            terminated = cut_off(name, admin)
            started = time.monotonic()
            during: list[httpx.Response] = []
            while time.monotonic() - started < OUTAGE_SECONDS:
                during.append(httpx.get(f"{base}/v1/evaluations/{ids[-1]}", timeout=10))
                time.sleep(0.2)
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert terminated >= 2  # at least the API's and the worker's connections
        assert unfinished_at_outage > 0
        # While the database is away the API says so, with a status a client knows to retry.
        assert {r.status_code for r in during} == {503}, [r.text for r in during]
        error = during[0].json()["error"]
        assert error["type"] == "service_unavailable"
        assert "database is unavailable" in error["message"]
        assert during[0].headers["retry-after"] == "1"
        # Restored: the pools reconnect by themselves, the very next request is served.
        assert httpx.get(f"{base}/v1/evaluations/{ids[0]}", timeout=10).status_code == 200

        def all_done() -> bool:
            # The API processes' sweeper, for a judge message whose retries ran out during the outage.
            sweep.sweep(stalled_after_seconds=3)
            return stack.counts(ids)[0] == BATCH

        wait_until(all_done, 90, f"all {BATCH} verdicts after the outage", every=1.0)
    finally:
        close_sweeper()
        for worker in stack.workers:
            worker.stop()
        server.stop()
    stack.assert_one_vote_per_judge(ids)
    # (The job sweeper logs its failed rounds during the outage; no request failed with an unhandled error.)
    assert "unhandled error" not in server.output(), server.output()
