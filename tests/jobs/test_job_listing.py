"""GET /v1/jobs pages like GET /v1/evaluations: newest first, `limit` a page, `next_cursor` to the next one (so jobs
past the newest 500 can be listed), jobs made meanwhile never shifting the pages, and the same `since`, `until`
and `key` filters with 400s naming a bad value."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import clean_env, start_server


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("job-listing")
    server, url = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp / "data")), tmp / "serve.log")
    try:
        yield url
    finally:
        server.stop()


def create_job(base: str) -> dict[str, Any]:
    body = {"task": "text-to-image", "prompt": "a red ball", "params": {"width": 256, "height": 256}, "max_attempts": 1}
    created = httpx.post(f"{base}/v1/jobs", json=body, timeout=30)
    assert created.status_code == 202, created.text
    return created.json()


def listed(base: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{base}/v1/jobs", params=params, timeout=30)


def every_page(base: str, **params: Any) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        answer = listed(base, **params, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([job["id"] for job in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


@pytest.fixture(scope="module")
def made(base: str) -> list[dict[str, Any]]:
    """Five jobs, oldest first."""
    return [create_job(base) for _ in range(5)]


def test_pages_follow_the_cursor_to_the_oldest_job(base: str, made: list[dict[str, Any]]) -> None:
    pages = every_page(base, limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [job_id for page in pages for job_id in page] == [job["id"] for job in reversed(made)]


def test_a_job_made_meanwhile_does_not_shift_the_pages(base: str, made: list[dict[str, Any]]) -> None:
    first = listed(base, limit=2).json()
    newer = create_job(base)
    rest = listed(base, limit=10, cursor=first["next_cursor"]).json()
    assert [job["id"] for job in rest["data"]] == [job["id"] for job in reversed(made[:3])]
    assert newer["id"] not in {job["id"] for job in rest["data"]}
    assert rest["next_cursor"] is None


def test_since_and_until_narrow_to_a_window(base: str, made: list[dict[str, Any]]) -> None:
    since = made[1]["created_at"]
    until = made[3]["created_at"]
    window = every_page(base, since=since, until=until, limit=1)
    assert [job_id for page in window for job_id in page] == [made[2]["id"], made[1]["id"]]
    later = (datetime.fromisoformat(made[-1]["created_at"]) + timedelta(days=1)).isoformat()
    assert listed(base, since=later).json() == {"object": "list", "data": [], "next_cursor": None}


def test_key_narrows_to_a_keys_jobs(base: str, made: list[dict[str, Any]]) -> None:
    # An open server's jobs belong to no key: naming one lists none of them.
    assert listed(base, key="key_nobody").json()["data"] == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-05", "until": "2026-12-04"}, "until"),
        ({"limit": 501}, "limit"),
        ({"state": "sleeping"}, "state"),
    ],
)
def test_a_bad_value_is_a_400_naming_it(base: str, params: dict[str, Any], named: str) -> None:
    answer = listed(base, **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == named
