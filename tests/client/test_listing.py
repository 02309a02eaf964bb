"""``list_evaluations`` walks every page of ``GET /v1/evaluations`` and ``list_jobs`` every page of ``GET /v1/jobs``
(newest first), with the filters applied by the server. The evaluation tests are skipped, saying so, on a server that
does not list evaluations yet."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest

from sentinel.client import AsyncSentinel, Evaluation, Job, Sentinel
from tests.client.fault_proxy import Seen, fault_proxy
from tests.conftest import FIXTURES

SHOTS = FIXTURES / "product-white-background"
TASK = "product-white-background"


def same_filters_on_every_page(pages: list[Seen]) -> bool:
    """Whether every page's request asks with the first page's filters (and limit), the cursor aside."""
    asked = [{name: value for name, value in parse_qs(page.query).items() if name != "cursor"} for page in pages]
    return all(filters == asked[0] for filters in asked)


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
    assert same_filters_on_every_page(pages)
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


def _make_jobs(sentinel: Sentinel, count: int) -> list[Job]:
    return [sentinel.create_job(TASK, f"a lamp on white, take {number}") for number in range(count)]


def test_list_jobs_follows_every_page_past_the_first(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel:
        [earlier] = _make_jobs(sentinel, 1)
        since = datetime.now(UTC)
        made = _make_jobs(sentinel, 5)
        with fault_proxy(sentinel_url) as proxy, Sentinel(proxy.url) as listing:
            every = listing.list_jobs(task=TASK, since=since, limit=None, page_size=2)
            pages = proxy.requests("GET", "/v1/jobs")
        newest_three = sentinel.list_jobs(task=TASK, since=since, limit=3, page_size=2)
        newest_by_default = sentinel.list_jobs(task=TASK, since=since)
        until_then = sentinel.list_jobs(task=TASK, until=since, limit=None)
        of_another_key = sentinel.list_jobs(task=TASK, since=since, key="no-such-key")
    newest_first = [job.id for job in reversed(made)]
    assert isinstance(every, list) and all(isinstance(job, Job) for job in every)
    assert [job.id for job in every] == newest_first
    assert len(pages) == 3, "five jobs, two per page"
    assert [parse_qs(page.query)["limit"] for page in pages] == [["2"]] * 3
    assert "cursor" not in parse_qs(pages[0].query) and all(parse_qs(page.query)["cursor"] for page in pages[1:])
    assert all(parse_qs(page.query)["task"] == [TASK] and parse_qs(page.query)["since"] for page in pages)
    # The server refuses a cursor sent with other filters than the page that gave it out.
    assert same_filters_on_every_page(pages)
    assert [job.id for job in newest_three] == newest_first[:3]
    assert [job.id for job in newest_by_default] == newest_first
    assert earlier.id in {job.id for job in until_then} and not {job.id for job in made} & {j.id for j in until_then}
    assert of_another_key == []


def test_the_async_client_lists_jobs_past_the_first_page(sentinel_url: str) -> None:
    since = datetime.now(UTC)

    async def main() -> tuple[list[str], list[str], list[str]]:
        async with AsyncSentinel(sentinel_url) as sentinel:
            made = [await sentinel.create_job(TASK, f"a vase on white, take {n}") for n in range(3)]
            every = await sentinel.list_jobs(task=TASK, since=since, limit=None, page_size=1)
            newest_two = await sentinel.list_jobs(task=TASK, since=since, limit=2, page_size=1)
            return [job.id for job in made], [job.id for job in every], [job.id for job in newest_two]

    made, every, newest_two = asyncio.run(main())
    assert every == list(reversed(made))
    assert newest_two == list(reversed(made))[:2]
