"""Readers waiting for a verdict are woken by the announcement that it is written, within a process and, over
Redis, from another process; without announcements they fall back to reading often."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

from sentinel.telemetry.finished import POLL_SECONDS, SAFETY_NET_SECONDS, FinishedSignals, RedisSignals
from tests.conftest import REDIS_URL

#: Long enough that a wait ending before it was ended by a wake-up, not by a timer.
NEVER = 30.0


def test_a_waiter_is_woken_from_another_thread_and_only_for_its_own_key() -> None:
    signals = FinishedSignals()

    async def scenario() -> tuple[bool, bool]:
        with signals.waiting("evaluation:a") as waiter:
            signals.announce("evaluation:b")
            other = await waiter.wait(0.2)
            threading.Thread(target=signals.announce, args=("evaluation:a",)).start()
            own = await waiter.wait(NEVER)
        return other, own

    assert asyncio.run(scenario()) == (False, True)
    assert signals.interval() == SAFETY_NET_SECONDS


def test_an_announcement_between_the_read_and_the_wait_is_not_lost() -> None:
    signals = FinishedSignals()

    async def scenario() -> bool:
        with signals.waiting("job:j") as waiter:
            signals.announce("job:j")  # as if the worker finished while the reader was reading
            return await waiter.wait(NEVER)

    assert asyncio.run(scenario())


def test_an_announcement_from_another_process_wakes_a_reader_over_redis(redis_namespace: str) -> None:
    signals = RedisSignals(REDIS_URL, redis_namespace)
    announce = (
        "import sys; from sentinel.telemetry.finished import RedisSignals; "
        "RedisSignals(sys.argv[1], sys.argv[2]).announce('evaluation:e1')"
    )

    async def scenario() -> tuple[float, bool]:
        listener = asyncio.create_task(signals.listen())
        try:
            polling = signals.interval()
            while not signals.live:
                await asyncio.sleep(0.01)
            with signals.waiting("evaluation:e1") as waiter:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", announce, REDIS_URL, redis_namespace
                )
                assert await process.wait() == 0
                return polling, await waiter.wait(NEVER)
        finally:
            listener.cancel()

    polling, woken = asyncio.run(scenario())
    # Until the subscription is up, readers read often; once it is, the other process's announcement reaches them.
    assert polling == POLL_SECONDS
    assert woken


def test_a_worker_process_announces_the_verdicts_it_writes(redis_namespace: str, tmp_path) -> None:
    """The whole path: the API takes an evaluation, a `sentinel worker` judges it, and the announcement of its
    verdict appears on the namespace's channel."""
    import httpx
    import redis

    from tests.conftest import RunningProcess, clean_env, png_bytes, start_server

    env = clean_env(
        SENTINEL_REDIS_URL=REDIS_URL,
        SENTINEL_REDIS_NAMESPACE=redis_namespace,
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
    )
    subscriber = redis.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(f"{redis_namespace}:finished")
    server, base = start_server(env, tmp_path / "api.log")
    worker = RunningProcess(
        [str(sys.executable), "-m", "sentinel.cli", "worker", "--processes", "1", "--threads", "2"],
        env,
        tmp_path / "worker.log",
    )
    try:
        created = httpx.post(
            f"{base}/v1/evaluations",
            data={"task": "text-to-image"},
            files={"image": ("a.png", png_bytes(256, 256), "image/png")},
            timeout=30,
        )
        assert created.status_code == 202, created.text
        key = f"evaluation:{created.json()['id']}"
        done = httpx.get(f"{base}/v1/evaluations/{created.json()['id']}", params={"wait": NEVER}, timeout=60)
        assert done.json()["status"] == "done"
        heard: list[str] = []
        deadline = time.monotonic() + 10
        while key not in heard and time.monotonic() < deadline:
            message = subscriber.get_message(timeout=1)  # None for the (ignored) subscription confirmation too
            if message is not None:
                heard.append(message["data"].decode())
        assert key in heard
        # The worker process runs dramatiq with the idle poll cap from the settings (default 100 ms).
        environ = Path(f"/proc/{worker.process.pid}/environ").read_bytes().split(b"\x00")
        assert b"dramatiq_worker_timeout=100" in environ
    finally:
        worker.stop()
        server.stop()
        subscriber.close()
