"""A cursor knows what it pages: the list that gave it out (evaluations, jobs, webhook deliveries) and the filters
that narrowed it. One taken to another list, or sent with other filters, would page wrongly without a word (a place
among the red evaluations applied to the green ones skips or repeats rows), so it is a 400 naming `cursor` that says
why; the same filters written another way still page on. Against a real `sentinel serve` on the embedded defaults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from sentinel.db import keyset
from sentinel.errors import InvalidInput
from tests.conftest import clean_env, png_bytes, start_server

#: Jobs' own evaluations are of the jobs' task: the evaluations sent in directly are of another.
TASK, EVALUATED = "text-to-image", "product-white-background"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("cursor-kinds")
    server, url = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp / "data")), tmp / "serve.log")
    try:
        yield url
    finally:
        server.stop()


def get(base: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{base}{path}", params=params, timeout=30)


@pytest.fixture(scope="module")
def made(base: str) -> dict[str, list[dict[str, Any]]]:
    """Three evaluations (all of one verdict, awaited) and three jobs, oldest first."""
    evaluations = []
    for shade in (10, 20, 30):
        image = ("a.png", png_bytes(96, 96, (shade, shade, shade)))
        created = httpx.post(f"{base}/v1/evaluations", data={"task": EVALUATED}, files={"image": image}, timeout=30)
        assert created.status_code == 202, created.text
        finished = get(base, f"/v1/evaluations/{created.json()['id']}", wait=30)
        evaluations.append(finished.json())
    jobs = []
    for _ in range(3):
        body = {"task": TASK, "prompt": "a red ball", "params": {"width": 256, "height": 256}, "max_attempts": 1}
        created = httpx.post(f"{base}/v1/jobs", json=body, timeout=30)
        assert created.status_code == 202, created.text
        jobs.append(created.json())
    return {"evaluations": evaluations, "jobs": jobs}


def refused(answer: httpx.Response) -> str:
    """The message of a 400 that names ``cursor``."""
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "cursor"
    return str(error["message"])


def test_an_evaluations_cursor_is_refused_by_the_jobs_list_and_the_reverse(base: str, made: Any) -> None:
    evaluations_cursor = get(base, "/v1/evaluations", limit=1).json()["next_cursor"]
    jobs_cursor = get(base, "/v1/jobs", limit=1).json()["next_cursor"]
    assert evaluations_cursor and jobs_cursor

    message = refused(get(base, "/v1/jobs", cursor=evaluations_cursor))
    assert "GET /v1/evaluations" in message and "not of GET /v1/jobs" in message
    message = refused(get(base, "/v1/evaluations", cursor=jobs_cursor))
    assert "GET /v1/jobs" in message and "not of GET /v1/evaluations" in message
    message = refused(get(base, "/v1/webhooks/deliveries", cursor=jobs_cursor))
    assert "not of GET /v1/webhooks/deliveries" in message


def test_a_cursor_used_with_other_filters_is_refused(base: str, made: Any) -> None:
    verdict = made["evaluations"][0]["verdict"]
    other = next(v for v in ("green", "amber", "red") if v != verdict)
    cursor = get(base, "/v1/evaluations", verdict=verdict, limit=1).json()["next_cursor"]
    assert cursor, "three evaluations of one verdict make more than one page of one"

    message = refused(get(base, "/v1/evaluations", verdict=other, cursor=cursor))
    assert "other filters" in message and "task, verdict, since, until and key" in message
    # Leaving a filter out is another list too.
    refused(get(base, "/v1/evaluations", cursor=cursor))

    unfiltered = get(base, "/v1/jobs", limit=1).json()["next_cursor"]
    message = refused(get(base, "/v1/jobs", task=TASK, cursor=unfiltered))
    assert "other filters" in message and "state" in message


def test_a_deliveries_cursor_keeps_to_its_resource_and_outcome(base: str) -> None:
    # Made as the server makes one for the failed tries of one evaluation (no deliveries exist on this server).
    listing = keyset.Listing("deliveries", {"resource_id": "ev_" + "a" * 32, "delivered": False})
    cursor = keyset.encode(datetime.now(UTC), 7, listing)
    same = get(base, "/v1/webhooks/deliveries", resource_id="ev_" + "a" * 32, delivered="false", cursor=cursor)
    assert same.status_code == 200, same.text
    for other in ({"resource_id": "ev_" + "a" * 32, "delivered": "true"}, {"delivered": "false"}):
        message = refused(get(base, "/v1/webhooks/deliveries", cursor=cursor, **other))
        assert "resource_id and delivered" in message


def test_the_same_filters_written_another_way_still_page(base: str, made: Any) -> None:
    since = datetime.fromisoformat(made["evaluations"][0]["created_at"]) - timedelta(seconds=1)
    first = get(base, "/v1/evaluations", task=EVALUATED, since=since.astimezone(UTC).isoformat(), limit=2).json()
    # The same moment in another zone, as a client in Berlin might send it.
    berlin = since.astimezone(timezone(timedelta(hours=1))).isoformat()
    rest = get(base, "/v1/evaluations", task=EVALUATED, since=berlin, limit=2, cursor=first["next_cursor"])
    assert rest.status_code == 200, rest.text
    listed = [e["id"] for e in first["data"] + rest.json()["data"]]
    assert listed == [e["id"] for e in reversed(made["evaluations"])]


def test_a_jobs_cursor_pages_on_with_its_own_filters(base: str, made: Any) -> None:
    ids, cursor = [], None
    while True:
        page = get(base, "/v1/jobs", task=TASK, limit=1, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        ids += [job["id"] for job in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert ids == [job["id"] for job in reversed(made["jobs"])]


# -- the cursor itself -----------------------------------------------------------------------------------


def test_a_cursor_decodes_only_for_its_own_list_and_filters() -> None:
    when = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
    red = keyset.Listing("evaluations", {"task": "t", "verdict": "red", "key": None})
    cursor = keyset.encode(when, "ev_1", red)
    assert len(cursor) <= keyset.MAX_CURSOR_CHARS
    # The order filters are given in, and filters left unset, do not make another list.
    same = keyset.Listing("evaluations", {"verdict": "red", "key": None, "task": "t"})
    assert keyset.decode(cursor, str, same) == (when, "ev_1")
    for other in (
        keyset.Listing("evaluations", {"task": "t", "verdict": "green", "key": None}),
        keyset.Listing("jobs", {"task": "t", "verdict": "red", "key": None}),
    ):
        with pytest.raises(InvalidInput) as caught:
            keyset.decode(cursor, str, other)
        assert caught.value.field == "cursor"


def test_the_longest_cursor_fits_the_limit_the_endpoints_accept() -> None:
    when = datetime(2026, 12, 6, 13, 0, 0, 123456, tzinfo=UTC)
    for kind in keyset.KINDS:
        cursor = keyset.encode(when, "x" * keyset.MAX_ID_CHARS, keyset.Listing(kind, {"task": "t" * 100}))
        assert len(cursor) <= keyset.MAX_CURSOR_CHARS
