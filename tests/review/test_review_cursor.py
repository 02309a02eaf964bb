"""`GET /v1/review` pages by cursor, as `/v1/jobs` and `/v1/evaluations` do: `limit` items oldest first and a
`next_cursor` to pass as `cursor`. A reviewer paging through the queue while others decide items and new items turn
amber sees every item once: none skipped, none repeated; an item that turns amber meanwhile joins the end even when
it was submitted long ago. A cursor of another list, or with other filters, is a 400 naming `cursor`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from sentinel.evaluation.service import EvaluationService
from sentinel.models import Evaluation, StoredImage, utcnow
from sentinel.review.filters import QueueFilter
from sentinel.review.service import ReviewService
from sentinel.wiring import get_services
from tests.review.seeding import IMAGE_ID, judge, seed, task_name
from tests.review.seeding import review_service as seeded_service

OBJECTS = judge("layout", False, [("fills-frame", "moderate")])


def review_service() -> ReviewService:
    """The review service over the app's own database (the client fixture's embedded defaults)."""
    services = get_services()
    with Session(services.engine) as session:
        if session.get(StoredImage, IMAGE_ID) is None:
            session.add(StoredImage(id=IMAGE_ID, mime="image/png", width=8, height=8, size_bytes=10))
            session.commit()
    return ReviewService(services, EvaluationService(services))


def page(client: Any, **params: Any) -> dict[str, Any]:
    answer = client.get("/v1/review", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_paging_the_queue_while_items_are_decided_and_added_shows_each_item_once(client) -> None:
    service = review_service()
    task = task_name()
    waiting = [seed(service, task, [OBJECTS], waited_seconds=3600 - 60 * i) for i in range(5)]

    first = page(client, task=task, limit=2)
    assert [i["id"] for i in first["data"]] == waiting[:2]
    assert first["next_cursor"]
    # Meanwhile another reviewer decides the first two items (an offset of 2 would now skip two), and an image
    # submitted an hour ago turns amber now: it joined the queue last.
    for evaluation_id in waiting[:2]:
        decided = client.post(f"/v1/review/{evaluation_id}/decision", json={"decision": "approve"})
        assert decided.status_code == 200, decided.text
    late = seed(service, task, [OBJECTS], waited_seconds=1)
    with Session(service.services.engine) as session:
        session.execute(
            update(Evaluation).where(col(Evaluation.id) == late).values(created_at=utcnow() - timedelta(hours=2))
        )
        session.commit()

    seen = [i["id"] for i in first["data"]]
    cursor = first["next_cursor"]
    while cursor:
        following = page(client, task=task, limit=2, cursor=cursor)
        seen += [i["id"] for i in following["data"]]
        cursor = following["next_cursor"]
    assert seen == [*waiting, late]
    # Without a cursor the first page is what waits now; `limit` alone works as it always did.
    assert [i["id"] for i in page(client, task=task, limit=50)["data"]] == [*waiting[2:], late]
    assert page(client, task=task, limit=50)["next_cursor"] is None


def test_a_cursor_pages_only_the_queue_and_the_filters_it_came_from(client) -> None:
    service = review_service()
    task = task_name()
    for i in range(3):
        seed(service, task, [OBJECTS], waited_seconds=600 - i)
    cursor = page(client, task=task, limit=1)["next_cursor"]
    assert cursor

    def refused(path: str, **params: Any) -> str:
        answer = client.get(path, params=params)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["param"] == "cursor", error
        return str(error["message"])

    assert "other filters" in refused("/v1/review", task=task_name(), limit=1, cursor=cursor)
    assert "not a cursor this API gave out" in refused("/v1/review", task=task, cursor=cursor[:-2] + "xx")
    assert "not a cursor this API gave out" in refused("/v1/jobs", cursor=cursor)
    client.post("/v1/jobs", json={"task": "text-to-image", "prompt": "a red ball"})
    client.post("/v1/jobs", json={"task": "text-to-image", "prompt": "a red ball"})
    jobs_cursor = client.get("/v1/jobs", params={"limit": 1}).json()["next_cursor"]
    assert jobs_cursor
    assert "another list" in refused("/v1/review", task=task, cursor=jobs_cursor)


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReviewService]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    built = seeded_service(tmp_path, url)
    yield built
    built.services.engine.dispose()


def test_pages_follow_each_other_on_both_databases(service: ReviewService) -> None:
    task = task_name()
    # Two joined the queue at the same moment: the id breaks the tie, on both databases.
    waiting = [seed(service, task, [OBJECTS], waited_seconds=900 - 60 * i) for i in range(5)]
    with Session(service.services.engine) as session:
        same = session.get(Evaluation, waiting[1])
        assert same is not None
        session.execute(update(Evaluation).where(col(Evaluation.id) == waiting[2]).values(finished_at=same.finished_at))
        session.commit()
    expected = waiting[:1] + sorted(waiting[1:3]) + waiting[3:]
    seen: list[str] = []
    cursor = None
    while True:
        items, cursor = service.queue_page(QueueFilter(task=task), 2, cursor)
        seen += [i["id"] for i in items]
        if cursor is None:
            break
    assert seen == expected
