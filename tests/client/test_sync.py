"""The blocking client against a served Sentinel: evaluations from paths, bytes, files and URLs, jobs and their
waits, the review queue and decisions, all as typed results that keep their JSON."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from sentinel.client import (
    Decision,
    Evaluation,
    Job,
    JobAttempt,
    JudgeVote,
    ReviewItem,
    Sentinel,
    SentinelAPIError,
    SentinelTimeout,
)
from tests.client.fault_proxy import fault_proxy
from tests.conftest import FIXTURES

MISSPELLED = FIXTURES / "text-render" / "misspelled.jpg"
SHOTS = FIXTURES / "product-white-background"


def test_evaluate_a_path_waits_for_the_verdict_and_types_it(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel:
        evaluation = sentinel.evaluate(MISSPELLED, task="text-render", params={"text": "OPEN 24/7"})
    assert isinstance(evaluation, Evaluation)
    assert (evaluation.status, evaluation.verdict, evaluation.final_verdict) == ("done", "red", "red")
    assert "OCR read 'OPENN 24/7', expected 'OPEN 24/7'" in (evaluation.summary or "")
    assert evaluation.id.startswith("ev_") and evaluation.raw["id"] == evaluation.id
    assert evaluation.raw["verdict"] == "red" and evaluation.raw["params"] == {"text": "OPEN 24/7"}
    assert isinstance(evaluation.created_at, datetime) and evaluation.created_at.tzinfo is not None
    assert evaluation.judges and all(isinstance(vote, JudgeVote) for vote in evaluation.judges)
    assert evaluation.issues and evaluation.issues[0].severity == "severe"
    assert evaluation.image.url.startswith(f"/v1/images/{evaluation.image.id}?")  # signed, on the server


def test_bytes_and_open_files_are_uploaded_and_the_wait_can_come_later(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel:
        started = sentinel.evaluate(MISSPELLED.read_bytes(), "text-render", {"text": "OPEN 24/7"}, wait=False)
        assert started.id.startswith("ev_")
        judged = sentinel.wait_for_evaluation(started.id, timeout=60)
        with MISSPELLED.open("rb") as file:
            from_file = sentinel.evaluate(file, "text-render", {"text": "OPEN 24/7"})
        assert sentinel.get_evaluation(started.id).raw == judged.raw
    assert judged.verdict == from_file.verdict == "red"
    assert judged.image.id == from_file.image.id  # the same bytes, whichever way they were given


def test_a_url_is_sent_as_a_url_for_the_server_to_fetch(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel:
        uploaded = sentinel.evaluate(SHOTS / "good.jpg", "product-white-background")
    image_url = uploaded.image.url if uploaded.image.url.startswith("http") else sentinel_url + uploaded.image.url
    with fault_proxy(sentinel_url) as proxy, Sentinel(proxy.url) as sentinel:
        by_url = sentinel.evaluate(image_url, "product-white-background")
        [post] = proxy.requests("POST", "/v1/evaluations")
    assert post.content_type == "application/json"  # not uploaded: Sentinel fetched the URL itself
    assert (by_url.image.id, by_url.verdict) == (uploaded.image.id, "green")


def test_an_edit_evaluation_sends_source_and_mask(sentinel_url: str) -> None:
    edits = FIXTURES / "object-removal"
    with Sentinel(sentinel_url) as sentinel:
        evaluation = sentinel.evaluate(
            edits / "good.png", "object-removal", source=edits / "source.png", mask=edits / "mask.png"
        )
    assert evaluation.source is not None and evaluation.mask is not None
    assert evaluation.verdict == "green", evaluation.summary


def test_a_url_and_a_file_in_one_request_are_refused_before_sending(sentinel_url: str) -> None:
    with fault_proxy(sentinel_url) as proxy, Sentinel(proxy.url) as sentinel:
        with pytest.raises(ValueError, match="image, source given as URL but mask as file or bytes"):
            sentinel.evaluate(
                "https://example.com/a.png",
                "object-removal",
                source="https://example.com/s.png",
                mask=FIXTURES / "object-removal" / "mask.png",
            )
        assert proxy.seen == []


def test_the_same_idempotency_key_gives_the_same_evaluation(sentinel_url: str) -> None:
    key = f"order-{uuid.uuid4()}"
    with Sentinel(sentinel_url) as sentinel:
        first = sentinel.evaluate(SHOTS / "good.jpg", "product-white-background", idempotency_key=key, wait=False)
        again = sentinel.evaluate(SHOTS / "good.jpg", "product-white-background", idempotency_key=key, wait=False)
    assert again.id == first.id


def test_create_a_job_and_wait_for_it(sentinel_url: str) -> None:
    prompt = f"a green bottle on a white background ({uuid.uuid4().hex[:8]})"
    with Sentinel(sentinel_url) as sentinel:
        created = sentinel.create_job("product-white-background", prompt)
        assert isinstance(created, Job) and created.state == "queued" and not created.done
        job = sentinel.wait_for_job(created.id, timeout=120)
        listed = sentinel.list_jobs(task="product-white-background")
    assert (job.state, job.verdict, job.final_verdict) == ("done", "green", "green")
    assert job.attempts and all(isinstance(attempt, JobAttempt) for attempt in job.attempts)
    assert job.attempts[0].provider == "local" and job.attempts[0].evaluation_id
    [image] = job.images
    assert image.passing and image.image is not None and image.verdict == "green"
    assert job.raw["result"]["images"][0]["image"]["id"] == image.image.id
    assert [j.id for j in listed if j.prompt == prompt] == [job.id]


def test_a_seeded_job_keeps_its_seed(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel:
        created = sentinel.create_job("text-to-image", "a seeded bottle", seed=1234)
        assert created.seed == 1234
        assert sentinel.get_job(created.id).seed == 1234


def test_a_wait_that_runs_out_raises_sentinel_timeout_with_the_job_as_last_seen(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel:
        # `slow-local` takes longer to draw one image than this wait lasts.
        created = sentinel.create_job("text-to-image", "a slow bottle", model="slow-local")
        with pytest.raises(SentinelTimeout) as raised:
            sentinel.wait_for_job(created.id, timeout=1.0)
    assert created.id in str(raised.value)
    assert isinstance(raised.value.last, Job) and raised.value.last.id == created.id
    assert not raised.value.last.done


def test_review_an_amber_result_and_decide_it(sentinel_url: str) -> None:
    with Sentinel(sentinel_url) as sentinel:
        shot = sentinel.evaluate(SHOTS / "shadow-band.jpg", "product-white-background")
        assert shot.verdict == "amber" and shot.review is not None and shot.review.state == "waiting"
        assert shot.final_verdict is None  # nothing to act on until a person decides
        queue = sentinel.review_queue(task="product-white-background", limit=500)
        [item] = [item for item in queue if item.id == shot.id]
        # Followed page by page: the whole queue, oldest first, each item once.
        second = sentinel.evaluate(SHOTS / "shadow-band.jpg", "product-white-background")
        paged = sentinel.review_queue(task="product-white-background", limit=None, page_size=1)
        assert [i.id for i in paged][-2:] == [shot.id, second.id]
        assert len({i.id for i in paged}) == len(paged) >= 2
        assert isinstance(item, ReviewItem) and item.failing and item.job_id is None
        decision = sentinel.decide(shot.id, "reject", note="grey floor band")
        after = sentinel.get_evaluation(shot.id)
        with pytest.raises(SentinelAPIError) as again:
            sentinel.decide(shot.id, "approve")
    assert isinstance(decision, Decision)
    assert (decision.id, decision.decision, decision.final_verdict) == (shot.id, "reject", "red")
    assert decision.reviewer == "anonymous" and decision.note == "grey floor band"
    assert (after.verdict, after.final_verdict) == ("amber", "red")
    assert after.review is not None and after.review.note == "grey floor band"
    # A second decision: 409 naming who decided, with the extra fields of the error kept.
    assert (again.value.status_code, again.value.type) == (409, "already_decided")
    assert again.value.error["decided_by"] == "anonymous" and again.value.error["decision"] == "reject"
