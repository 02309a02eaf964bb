"""The API's subscription to finished work over the lean Redis connection (sentinel.telemetry.resp): readers are
woken by what other processes publish, a dropped subscription is made again (readers poll meanwhile), and a
channel's other traffic never wakes the wrong reader."""

from __future__ import annotations

import asyncio
import time

import redis

from sentinel.telemetry.finished import POLL_SECONDS, SAFETY_NET_SECONDS, RedisSignals
from tests.conftest import REDIS_URL

#: Long enough that a wait ending before it was ended by a wake-up, not by a timer.
NEVER = 30.0


async def _until(condition, timeout: float = 10.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, "timed out"
        await asyncio.sleep(0.01)


def test_published_keys_wake_their_readers_and_only_theirs(redis_namespace: str) -> None:
    signals = RedisSignals(REDIS_URL, redis_namespace)
    publisher = redis.Redis.from_url(REDIS_URL)

    async def scenario() -> tuple[bool, bool]:
        listener = asyncio.create_task(signals.listen())
        try:
            await _until(lambda: signals.live)
            with signals.waiting("evaluation:mine") as mine, signals.waiting("evaluation:other") as other:
                publisher.publish(signals.channel, "evaluation:mine")
                woken = await mine.wait(NEVER)
                return woken, await other.wait(0.2)
        finally:
            listener.cancel()

    try:
        woken, other_woken = asyncio.run(scenario())
    finally:
        publisher.close()
    assert woken and not other_woken


def test_a_dropped_subscription_is_made_again(redis_namespace: str) -> None:
    signals = RedisSignals(REDIS_URL, redis_namespace)
    admin = redis.Redis.from_url(REDIS_URL)

    async def scenario() -> tuple[float, bool]:
        others = {client["id"] for client in admin.client_list(_type="pubsub")}
        listener = asyncio.create_task(signals.listen())
        try:
            await _until(lambda: signals.live)
            # Only this listener's connection: the server is shared with other tests' subscriptions.
            for client in admin.client_list(_type="pubsub"):
                if client["id"] not in others:
                    admin.client_kill_filter(_id=client["id"])
            await _until(lambda: not signals.live)
            polling = signals.interval()  # while it is down, readers read often
            await _until(lambda: signals.live)
            with signals.waiting("job:j1") as waiter:
                admin.publish(signals.channel, "job:j1")
                return polling, await waiter.wait(NEVER)
        finally:
            listener.cancel()

    try:
        polling, woken = asyncio.run(scenario())
    finally:
        admin.close()
    assert polling == POLL_SECONDS
    assert woken
    assert signals.interval() == POLL_SECONDS  # the listener is stopped: nothing reaches readers now
    assert SAFETY_NET_SECONDS > POLL_SECONDS
