"""A worker SIGKILLed after its attempt's image was delivered and stored (the call log's ``ok`` row committed) but
before the attempt was handed to the panel: the worker that takes the attempt over judges that image, and the
provider is paid once.

Real processes on Redis and a PostgreSQL database of this test's own: `sentinel serve`, a `sentinel worker` that is
killed, and its replacement. The kill lands at that exact point without touching Sentinel's code: the test holds a
lock on the job's row from the moment the provider is called, so the worker's hand-over (which moves the job to
"judging") waits on it after the image and its call log are committed; the test kills the worker once PostgreSQL
says it waits there.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import (
    FIXTURES,
    REDIS_URL,
    SENTINEL,
    RunningProcess,
    clean_env,
    delete_redis_keys,
    start_server,
    write_fake_routes,
)
from tests.faults.conftest import wait_until

pytestmark = pytest.mark.integration

#: A real picture (the offline judges see an astronaut), at the route's first size.
IMAGE = (FIXTURES / "text-to-image" / "good-astronaut.jpg").read_bytes()


class PaidProvider:
    """An OpenAI-shaped provider that counts the images it is asked for and answers each with ``IMAGE`` once the
    test says so (``answer``), having said it was called (``called``)."""

    def __init__(self) -> None:
        self.calls = 0
        self.called = threading.Event()
        self.answer = threading.Event()

    def app(self) -> Starlette:
        async def generations(request: Request) -> JSONResponse:
            await request.body()
            self.calls += 1
            self.called.set()
            await asyncio.to_thread(self.answer.wait, 60)
            data = [{"b64_json": base64.b64encode(IMAGE).decode()}]
            return JSONResponse({"created": int(time.time()), "data": data})

        return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


def blocked_by(connection: psycopg.Connection[Any], pid: int) -> int:
    """How many other sessions wait on a lock that session ``pid`` holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (pid,))
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def paid_calls(connection: psycopg.Connection[Any], job_id: str) -> list[tuple[str, str | None]]:
    """(request id, image id) of the job's provider calls that delivered an image."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT request_id, image_id FROM provider_calls WHERE outcome = 'ok' AND request_id LIKE %s ORDER BY id",
            (f"{job_id}%",),
        )
        return [(request_id, image_id) for request_id, image_id in cursor.fetchall()]


def final(base: str, job_id: str) -> dict[str, Any] | None:
    """The job once it is final (a long poll of up to 60 s), else None."""
    job = httpx.get(f"{base}/v1/jobs/{job_id}?wait=60", timeout=70).json()
    return job if job.get("state") in ("done", "failed", "expired") else None


@pytest.mark.timeout(300)
def test_an_attempt_whose_worker_died_after_its_image_was_stored_is_judged_with_that_image(
    database: str, tmp_path: Path
) -> None:
    namespace = f"sentinel-fault-{uuid.uuid4().hex[:10]}"
    provider = PaidProvider()
    processes: list[RunningProcess] = []
    with serve(provider.app()) as fake:
        env = clean_env(
            SENTINEL_DATABASE_URL=database,
            SENTINEL_REDIS_URL=REDIS_URL,
            SENTINEL_REDIS_NAMESPACE=namespace,
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_ROUTES=str(write_fake_routes(tmp_path / "routes.yaml", fake.url)),
            FAKE_KEY="sk-fake",
            # The dead worker's attempt is taken over within seconds: its message requeued, its lease run out.
            SENTINEL_REDIS_HEARTBEAT_TIMEOUT_MS="2000",
            SENTINEL_REDIS_MAINTENANCE_CHANCE="1000000",
            SENTINEL_SWEEP_INTERVAL_SECONDS="1",
            SENTINEL_GENERATION_LEASE_SECONDS="3",
        )
        watcher = psycopg.connect(database, autocommit=True)
        holder = psycopg.connect(database)
        try:
            server, base = start_server(env, tmp_path / "api.log")
            processes.append(server)
            doomed = RunningProcess(
                [SENTINEL, "worker", "--processes", "1", "--threads", "1"], env, tmp_path / "doomed.log"
            )
            processes.append(doomed)
            created = httpx.post(
                f"{base}/v1/jobs",
                json={"task": "text-to-image", "prompt": "an astronaut on the moon", "max_attempts": 1},
                timeout=30,
            )
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]

            assert provider.called.wait(90), doomed.output()[-3000:]
            # The attempt is leased and the job marked generating (both committed before the provider is called):
            # the job's row is now held until the worker is dead, so its hand-over cannot commit.
            holder.execute("SELECT id FROM jobs WHERE id = %s FOR NO KEY UPDATE", (job_id,))
            provider.answer.set()
            wait_until(
                lambda: paid_calls(watcher, job_id) and blocked_by(watcher, holder.info.backend_pid),
                60,
                "the image logged and the worker's hand-over waiting on the job's row",
            )
            [(request_id, image_id)] = paid_calls(watcher, job_id)
            doomed.kill()
            holder.rollback()

            processes.append(
                RunningProcess(
                    [SENTINEL, "worker", "--processes", "1", "--threads", "1"], env, tmp_path / "replacement.log"
                )
            )
            job = wait_until(lambda: final(base, job_id), 120, "the job final after the replacement started", 0)
            paid = paid_calls(watcher, job_id)
        finally:
            provider.answer.set()
            for process in reversed(processes):
                process.stop()
            holder.close()
            watcher.close()
            delete_redis_keys(namespace)

    assert provider.calls == 1, (provider.calls, paid, job["attempts"])
    assert paid == [(request_id, image_id)], paid
    assert job["state"] == "done", job
    [attempt] = job["attempts"]
    assert (attempt["slot"], attempt["number"], attempt["state"]) == (0, 1, "judged"), attempt
    assert attempt["image"]["id"] == image_id, (attempt, image_id)
    assert attempt["verdict"] in ("green", "amber", "red") and attempt["evaluation_id"], attempt
    assert job["result"]["images"][0]["image"]["id"] == image_id, job["result"]
