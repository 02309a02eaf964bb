"""The rate limit on Redis, counted by the lean connection (sentinel.telemetry.resp) on every request: the same moving
windows as the `limits` library's client (an API process of either kind counts in the same window), a refusal
names its wait, and a Redis that is away or drops the connection never holds or refuses a request."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis

from sentinel.keys.ratelimit import NO_LIMIT, NO_LIMIT_RPM, RateLimiter
from sentinel.settings import Settings
from tests.conftest import REDIS_URL, free_port


def limiter(namespace: str, *, lean: bool = True, url: str = REDIS_URL) -> RateLimiter:
    made = RateLimiter(Settings(redis_url=url, redis_namespace=namespace))
    if not lean:
        made.lean = None  # counts with the library's own client, as an API process of the last release did
    return made


def test_the_lean_path_is_the_one_used_on_a_plain_redis_url(redis_namespace: str) -> None:
    assert limiter(redis_namespace).lean is not None
    assert limiter(redis_namespace, url="rediss://127.0.0.1:6379/0").lean is None


def test_a_full_window_refuses_and_names_the_wait(redis_namespace: str) -> None:
    counting = limiter(redis_namespace)

    async def hits() -> list[float | None]:
        return [await counting.hit("key:full", 3) for _ in range(5)]

    answers = asyncio.run(hits())
    assert answers[:3] == [None, None, None]
    assert all(wait is not None and 1 <= wait <= 60 for wait in answers[3:])


def test_both_clients_count_in_the_same_window(redis_namespace: str) -> None:
    lean, library = limiter(redis_namespace), limiter(redis_namespace, lean=False)
    assert lean.lean is not None and library.lean is None

    async def hits() -> list[float | None]:
        answers = []
        for index in range(6):
            answers.append(await (lean if index % 2 else library).hit("key:shared", 4))
        return answers

    answers = asyncio.run(hits())
    assert answers[:4] == [None] * 4
    assert answers[4] is not None and answers[5] is not None


def test_concurrent_requests_are_each_counted_once(redis_namespace: str) -> None:
    counting = limiter(redis_namespace)

    async def at_once() -> list[float | None]:
        return list(await asyncio.gather(*(counting.hit("key:burst", 25) for _ in range(40))))

    answers = asyncio.run(at_once())
    assert sum(answer is None for answer in answers) == 25


def test_a_script_redis_does_not_have_yet_is_sent_whole(redis_namespace: str) -> None:
    counting = limiter(redis_namespace)
    counting._script_sha = "0" * 40  # as after a Redis restart: the server answers NOSCRIPT

    async def hits() -> list[float | None]:
        return [await counting.hit("key:noscript", 1) for _ in range(2)]

    allowed, refused = asyncio.run(hits())
    assert allowed is None and refused is not None


def test_a_dropped_connection_is_made_again(redis_namespace: str) -> None:
    counting = limiter(redis_namespace)
    admin = redis.Redis.from_url(REDIS_URL)

    async def scenario() -> list[float | None]:
        answers = [await counting.hit("key:dropped", 2)]
        assert counting.lean is not None and counting.lean._pipe is not None
        admin.client_kill_filter(_type="normal", skipme=True, laddr=None, _id=await client_id(counting))
        # The first request after the drop may be let through uncounted; the ones after it are counted again.
        answers.append(await counting.hit("key:dropped", 2))
        answers.append(await counting.hit("key:dropped", 2))
        answers.append(await counting.hit("key:dropped", 2))
        return answers

    try:
        answers = asyncio.run(scenario())
    finally:
        admin.close()
    assert answers[0] is None
    assert answers[-1] is not None


async def client_id(counting: RateLimiter) -> int:
    assert counting.lean is not None
    return int(await counting.lean.call("CLIENT", "ID"))


def test_an_unreachable_redis_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    away = limiter("sentinel-test-away", url=f"redis://127.0.0.1:{free_port()}/0")

    async def hits() -> list[float | None]:
        return [await away.hit("key:away", 1) for _ in range(3)]

    with caplog.at_level(logging.WARNING, logger="sentinel.keys.ratelimit"):
        answers = asyncio.run(hits())
    assert answers == [None, None, None]
    assert "rate limits not enforced" in caplog.text


def test_a_connection_that_went_silent_is_left_for_a_new_one(redis_namespace: str) -> None:
    """A connection whose server stopped answering without closing it (a dropped NAT mapping, a firewall that
    discards): after one command's timeout the next ones connect again, instead of each waiting its timeout on the
    dead connection forever with the limits never enforced."""

    async def scenario() -> list[float | None]:
        connections = 0
        target_host, target_port = REDIS_URL.removeprefix("redis://").split("/")[0].split(":")

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            if connections == 1:  # the first connection is swallowed: read, never answered, never closed
                while await reader.read(65536):
                    pass
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(target_host, int(target_port))
            await asyncio.gather(relay(reader, upstream_writer), relay(upstream_reader, writer))

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        counting = limiter(redis_namespace, url=f"redis://127.0.0.1:{port}/0")
        assert counting.lean is not None
        counting.lean.timeout = 0.5
        try:
            return [await counting.hit("key:silent", 2) for _ in range(4)]
        finally:
            counting.lean.close()
            server.close()

    answers = asyncio.run(scenario())
    assert answers[:3] == [None, None, None]  # the first let through uncounted; the next two counted
    assert answers[3] is not None, "the fourth request was not refused: the limit was not counted after the stall"


@pytest.mark.parametrize("off", [NO_LIMIT, NO_LIMIT_RPM])
def test_a_limit_set_out_of_reach_is_not_counted_at_all(redis_namespace: str, off: int) -> None:
    """No limit (NO_LIMIT, the setting's 0) and a limit of NO_LIMIT_RPM or more are off: their requests are let
    through without a round trip to Redis, which keeps no window for them."""
    counting = limiter(redis_namespace)

    async def hits() -> list[float | None]:
        return [await counting.hit("ip:unlimited", off) for _ in range(3)] + [await counting.hit("ip:limited", 10)]

    assert asyncio.run(hits()) == [None] * 4
    stored = redis.Redis.from_url(REDIS_URL).keys(f"{redis_namespace}:*")
    assert [key for key in stored if b"unlimited" in key] == []
    assert [key for key in stored if b"limited" in key]  # the counted one is there: the check can see windows
