"""A team in one queue, on the embedded SQLite and on PostgreSQL: claims keep two reviewers off the same item,
filters narrow the list, decisions can be undone for a few minutes, bulk decisions report each item, and each
reviewer's progress adds up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.errors import InvalidInput
from sentinel.models import ReviewClaim, ReviewDecision, utcnow
from sentinel.review.errors import AlreadyDecided, CannotUndo
from sentinel.review.filters import QueueFilter
from sentinel.review.service import UNDO_WINDOW_SECONDS, ReviewService
from tests.review.seeding import judge, review_service, seed, task_name

OBJECTS = judge("layout", False, [("fills-frame", "moderate")])
TEXT = judge("text", False, [("no-text", "severe")])
PIXELS_OK = judge("pixels", True)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, tmp_path_factory) -> Iterator[ReviewService]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    built = review_service(tmp_path_factory.mktemp(f"review-{request.param}"), url)
    yield built
    built.services.engine.dispose()


def expire_claim(service: ReviewService, evaluation_id: str) -> None:
    """The claim's time runs out (as it would after review_claim_seconds)."""
    with Session(service.services.engine) as session:
        session.execute(
            update(ReviewClaim)
            .where(col(ReviewClaim.evaluation_id) == evaluation_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()


def age_decision(service: ReviewService, evaluation_id: str, seconds: float) -> None:
    """The decision was made ``seconds`` ago."""
    with Session(service.services.engine) as session:
        session.execute(
            update(ReviewDecision)
            .where(col(ReviewDecision.evaluation_id) == evaluation_id)
            .values(created_at=utcnow() - timedelta(seconds=seconds))
        )
        session.commit()


def test_two_reviewers_racing_for_the_next_item_never_get_the_same_one(service) -> None:
    task = task_name()
    ids = [seed(service, task, [OBJECTS, PIXELS_OK], waited_seconds=600 - i) for i in range(24)]
    got: dict[str, list[str]] = {"ana": [], "bo": []}
    start = threading.Barrier(2)

    def work(reviewer: str) -> None:
        start.wait()
        while True:
            claimed = service.claim_next(QueueFilter(task=task), reviewer)
            if claimed is None:
                return
            got[reviewer].append(claimed)
            # Deciding frees the reviewer for the next one; their claim goes with the decision.
            service.decide(claimed, "approve", reviewer, None)

    threads = [threading.Thread(target=work, args=(name,)) for name in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not set(got["ana"]) & set(got["bo"])
    assert sorted(got["ana"] + got["bo"]) == sorted(ids)


def test_a_claim_shows_who_holds_it_and_others_get_the_next_item(service) -> None:
    task = task_name()
    first, second = (seed(service, task, [OBJECTS], waited_seconds=s) for s in (300, 200))
    assert service.claim_next(QueueFilter(task=task), "ana") == first
    theirs = service.claim(first, "bo")
    assert (theirs["reviewer"], theirs["mine"]) == ("ana", False)
    assert service.claim_next(QueueFilter(task=task), "bo") == second
    rows = {item["id"]: item for item in service.queue(QueueFilter(task=task), 10, reviewer="bo")}
    assert rows[first]["claim"]["reviewer"] == "ana" and rows[first]["claim"]["mine"] is False
    assert rows[second]["claim"]["reviewer"] == "bo" and rows[second]["claim"]["mine"] is True
    # Nothing else is free for a third reviewer; ana's own item is still hers when she asks again.
    assert service.claim_next(QueueFilter(task=task), "cy") is None
    assert service.claim(first, "ana")["mine"] is True


def test_an_expired_claim_is_free_and_a_released_one_too(service) -> None:
    task = task_name()
    item = seed(service, task, [OBJECTS])
    assert service.claim(item, "ana")["mine"] is True
    assert service.claim(item, "bo")["mine"] is False
    expire_claim(service, item)
    assert service.queue(QueueFilter(task=task), 10)[0]["claim"] is None
    taken = service.claim(item, "bo")
    assert (taken["reviewer"], taken["mine"]) == ("bo", True)
    service.release(item, "ana")  # not hers any more: nothing changes
    assert service.claim(item, "ana")["reviewer"] == "bo"
    service.release(item, "bo")
    assert service.claim_next(QueueFilter(task=task), "ana") == item


def test_next_moves_past_the_current_item_and_gives_it_back(service) -> None:
    task = task_name()
    first, second = (seed(service, task, [OBJECTS], waited_seconds=s) for s in (300, 200))
    assert service.claim_next(QueueFilter(task=task), "ana") == first
    assert service.claim_next(QueueFilter(task=task), "ana", after=first) == second
    # Moving on released the first: another reviewer gets it.
    assert service.claim_next(QueueFilter(task=task), "bo") == first


def test_each_filter_narrows_the_list(service) -> None:
    task = task_name()
    layout_old = seed(service, task, [OBJECTS, PIXELS_OK], waited_seconds=3 * 3600, provider=("fal", "flux:dev"))
    text_new = seed(service, task, [TEXT, PIXELS_OK], waited_seconds=60, provider=("openai", "gpt-image-1"))
    both = seed(service, task, [OBJECTS, TEXT], waited_seconds=1800)

    def ids(**query: str) -> list[str]:
        return [i["id"] for i in service.queue(QueueFilter.from_query(**({"task": task} | query)), 50)]

    assert ids() == [layout_old, both, text_new]
    assert ids(judge="layout") == [layout_old, both]
    assert ids(judge="pixels") == []  # pixels passed everywhere: it objected to nothing
    assert ids(criterion="no-text") == [both, text_new]
    assert ids(model="fal:flux:dev") == [layout_old]
    assert ids(model="openai:gpt-image-1") == [text_new]
    assert ids(older_than="1h") == [layout_old]
    assert ids(newer_than="45m") == [both, text_new]
    assert ids(older_than="10m", newer_than="2h") == [both]
    assert ids(task=task_name()) == []
    facets = service.facets()
    assert {"layout", "text"} <= set(facets["judge"]) and "pixels" not in facets["judge"]
    assert {"fal:flux:dev", "openai:gpt-image-1"} <= set(facets["provider_model"]) and task in facets["task"]


def test_a_row_names_what_failed_worst_first_and_counts_the_votes_stored(service) -> None:
    task = task_name()
    item = seed(service, task, [OBJECTS, TEXT, PIXELS_OK], provider=("fal", "flux-pro"), votes=2)
    [row] = service.queue(QueueFilter(task=task), 10)
    assert [(f["judge"], f["criterion"], f["severity"]) for f in row["failing"]] == [
        ("text", "no-text", "severe"),
        ("layout", "fills-frame", "moderate"),
    ]
    assert row["failing"][0]["detail"] == "no-text is off"
    assert row["votes_in"] == 2 and row["provider_model"] == "fal:flux-pro"
    assert row["id"] == item


def test_a_bad_age_is_refused_naming_the_parameter() -> None:
    with pytest.raises(InvalidInput) as refused:
        QueueFilter.from_query(older_than="yesterday")
    assert refused.value.field == "older_than" and "2h" in refused.value.message
    assert QueueFilter.from_query(task="t", older_than="90m", newer_than="120").as_query() == {
        "task": "t",
        "older_than": "90m",
        "newer_than": "2m",
    }


def test_a_decision_can_be_undone_within_the_window_by_its_reviewer_only(service) -> None:
    task = task_name()
    item = seed(service, task, [OBJECTS])
    service.decide(item, "reject", "ana", "cut off")
    with pytest.raises(CannotUndo, match="ana decided this item"):
        service.undo(item, "bo")
    counted = service.stats()["decisions"]
    undone = service.undo(item, "ana")
    assert service.stats()["decisions"] == counted - 1  # kappa no longer counts it
    assert undone["undone"]["decision"] == "reject" and undone["review"]["state"] == "waiting"
    [row] = service.queue(QueueFilter(task=task), 10)
    assert row["id"] == item and row["claim"]["reviewer"] == "ana"  # back, and still hers to decide again
    assert service.decision(item) is None
    with pytest.raises(CannotUndo, match="no decision to undo"):
        service.undo(item, "ana")
    service.decide(item, "approve", "ana", None)
    age_decision(service, item, UNDO_WINDOW_SECONDS + 60)
    with pytest.raises(CannotUndo, match="can be undone for 5 minutes"):
        service.undo(item, "ana")
    assert service.decision(item).decision == "approve"


def test_bulk_decides_each_item_and_reports_one_already_decided(service) -> None:
    task = task_name()
    items = [seed(service, task, [OBJECTS]) for _ in range(3)]
    service.decide(items[1], "reject", "bo", None)
    results = service.decide_many([*items, "ev_missing", items[0]], "approve", "ana", "all fine")
    assert [(r["evaluation_id"], r["status"]) for r in results] == [
        (items[0], "decided"),
        (items[1], "already_decided"),
        (items[2], "decided"),
        ("ev_missing", "not_found"),
    ]
    assert "bo" in results[1]["message"]
    assert service.decision(items[2]).note == "all fine"
    with pytest.raises(InvalidInput, match="at most 200"):
        service.decide_many([f"ev_{i}" for i in range(201)], "approve", "ana", None)


def test_a_second_decision_names_who_decided_and_when(service) -> None:
    item = seed(service, task_name(), [OBJECTS])
    first = service.decide(item, "approve", "ana", None)
    with pytest.raises(AlreadyDecided) as refused:
        service.decide(item, "reject", "bo", "keep this note")
    assert (refused.value.reviewer, refused.value.decision) == ("ana", "approve")
    assert refused.value.decided_at == first["decided_at"]


def test_progress_counts_each_reviewers_decisions_and_time_per_item(service) -> None:
    task = task_name()
    ana, bo = f"ana-{task}", f"bo-{task}"
    items = [seed(service, task, [OBJECTS]) for _ in range(4)]
    for item, seconds in zip(items[:3], (30, 90, 60), strict=True):
        service.claim(item, ana)
        with Session(service.services.engine) as session:  # she opened it ``seconds`` ago
            session.execute(
                update(ReviewClaim)
                .where(col(ReviewClaim.evaluation_id) == item)
                .values(claimed_at=utcnow() - timedelta(seconds=seconds))
            )
            session.commit()
        decided = service.decide(item, "approve", ana, None)
        assert decided["opened_at"] is not None
    service.decide(items[3], "reject", bo, None)  # without a claim: counted, but no time
    age_decision(service, items[3], 2 * 86400)  # two days ago: not today
    rows = {p["reviewer"]: p for p in service.progress()}
    assert (rows[ana]["decided_today"], rows[ana]["decided_total"]) == (3, 3)
    assert rows[ana]["median_seconds_per_item"] == pytest.approx(60, abs=5)
    assert (rows[bo]["decided_today"], rows[bo]["decided_total"], rows[bo]["median_seconds_per_item"]) == (0, 1, None)
    with Session(service.services.engine) as session:
        assert session.exec(select(ReviewClaim).where(col(ReviewClaim.evaluation_id).in_(items))).first() is None
