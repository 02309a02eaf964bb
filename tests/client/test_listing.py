"""``list_evaluations`` walks every page of ``GET /v1/evaluations`` (newest first), with the filters applied by the
server. Skipped, saying so, on a server that does not list evaluations yet."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest

from sentinel.client import AsyncSentinel, Evaluation, Sentinel
from tests.client.fault_proxy import fault_proxy
from tests.conftest import FIXTURES

SHOTS = FIXTURES / "product-white-background"
TASK = "product-white-background"


@pytest.fixture
def lists(sentinel_url: str) -> str:
    if httpx.get(f"{sentinel_url}/v1/evaluations").status_code == 405:
        pytest.skip("this Sentinel has no GET /v1/evaluations yet (issue 21, results API)")
    return sentinel_url


def test_every_page_is_followed_newest_first_with_the_filters(lists: str) -> None:
    since = datetime.now(UTC)
    with Sentinel(lists) as sentinel:
        made = [sentinel.evaluate(SHOTS / name, TASK) for name in ("good.jpg", "watermark.jpg", "small-product.jpg")]
        with fault_proxy(lists) as proxy, Sentinel(proxy.url) as listing:
            listed = list(listing.list_evaluations(task=TASK, since=since, page_size=2))
            pages = proxy.requests("GET", "/v1/evaluations")
        amber = list(sentinel.list_evaluations(task=TASK, since=since, verdict="amber"))
        first = list(sentinel.list_evaluations(task=TASK, since=since, limit=1))
    assert [e.id for e in listed] == [e.id for e in reversed(made)]
    assert all(isinstance(e, Evaluation) and e.done for e in listed)
    assert len(pages) == 2, "three evaluations, two per page"
    assert "cursor" not in parse_qs(pages[0].query) and parse_qs(pages[1].query)["cursor"]
    assert parse_qs(pages[0].query)["limit"] == ["2"] and parse_qs(pages[0].query)["task"] == [TASK]
    assert [e.id for e in amber] == [made[1].id]
    assert [e.id for e in first] == [made[2].id]


def test_the_async_client_lists_as_an_async_iterator(lists: str) -> None:
    since = datetime.now(UTC)

    async def main() -> tuple[list[str], list[str]]:
        async with AsyncSentinel(lists) as sentinel:
            made = [await sentinel.evaluate(SHOTS / name, TASK) for name in ("good.jpg", "grey-background.jpg")]
            listed = [e.id async for e in sentinel.list_evaluations(task=TASK, since=since, page_size=1)]
            return [e.id for e in made], listed

    made, listed = asyncio.run(main())
    assert listed == list(reversed(made))
