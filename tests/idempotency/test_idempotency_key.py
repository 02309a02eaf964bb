"""Idempotency-Key on every POST that starts work: a retry gets the first answer, never a second job."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlmodel import Session, func, select

from sentinel.idempotency.service import IdempotencyService, JobOfClaim, fingerprint
from sentinel.jobs.schemas import JobCreate
from sentinel.models import Evaluation, IdempotencyRecord, Job, utcnow
from sentinel.wiring import get_services
from tests.conftest import png_bytes

JOB = {"task": "text-to-image", "prompt": "a blue star", "params": {"width": 256, "height": 256}}


def count(model, **where) -> int:
    with Session(get_services().engine) as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return session.exec(query).one()


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"test-{uuid.uuid4()}"}


def test_same_key_same_body_returns_the_original_job(client) -> None:
    headers = key()
    first = client.post("/v1/jobs", json=JOB, headers=headers)
    again = client.post("/v1/jobs", json=dict(reversed(list(JOB.items()))), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert count(Job, id=first.json()["id"]) == 1


def test_same_key_different_body_is_422(client) -> None:
    headers = key()
    assert client.post("/v1/jobs", json=JOB, headers=headers).status_code == 202
    response = client.post("/v1/jobs", json=JOB | {"prompt": "a red star"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "idempotency_key_reused"


def test_concurrent_duplicates_create_one_job(client) -> None:
    headers = key()
    before = count(Job)
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: client.post("/v1/jobs", json=JOB, headers=headers), range(6)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert count(Job) == before + 1


def test_failed_first_request_does_not_burn_the_key(client) -> None:
    headers = key()
    bad = client.post("/v1/jobs", json=JOB | {"task": "nope"}, headers=headers)
    assert bad.status_code == 400
    # The corrected retry is a different body: with the failed attempt released, it is simply new work.
    good = client.post("/v1/jobs", json=JOB, headers=headers)
    assert good.status_code == 202


def test_evaluation_upload_with_the_same_key_is_one_evaluation(client) -> None:
    headers = key()
    image = png_bytes(96, 96, (9, 9, 9))
    responses = [
        client.post(
            "/v1/evaluations", data={"task": "text-to-image"}, files={"image": ("a.png", image)}, headers=headers
        )
        for _ in range(2)
    ]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert count(Evaluation, id=responses[0].json()["id"]) == 1
    other = client.post(
        "/v1/evaluations",
        data={"task": "text-to-image"},
        files={"image": ("a.png", png_bytes(96, 96, (1, 1, 1)))},
        headers=headers,
    )
    assert other.status_code == 422


def test_generation_with_the_same_key_is_replayed(client) -> None:
    headers = key()
    body = {"prompt": "a green circle", "size": "256x256", "response_format": "url"}
    first = client.post("/v1/images/generations", json=body, headers=headers)
    again = client.post("/v1/images/generations", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["data"] == first.json()["data"]
    assert again.headers["x-sentinel-request-id"] == first.headers["x-sentinel-request-id"]


def test_bad_key_is_refused(client) -> None:
    response = client.post("/v1/jobs", json=JOB, headers={"Idempotency-Key": "x" * 300})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"


def test_duplicates_waiting_on_a_failed_first_request_get_its_answer_not_500(client) -> None:
    headers = key()
    failing = JOB | {"task": "no-such-task"}
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: client.post("/v1/jobs", json=failing, headers=headers), range(20)))
    assert [r.status_code for r in responses] == [400] * 20, [r.text for r in responses if r.status_code != 400]
    assert {r.json()["error"]["type"] for r in responses} == {"unknown_task"}


def test_a_key_claimed_by_a_request_that_died_is_taken_over_by_its_retry(client) -> None:
    """The first request claimed the key and its process died before the job was stored: no job exists, so the
    retry must make it, not be told for ever that the first is "still being processed"."""
    headers = key()
    digest = fingerprint(JobCreate.model_validate(JOB).model_dump())
    with Session(get_services().engine) as session:
        session.add(
            IdempotencyRecord(
                scope="anonymous",
                endpoint="POST /v1/jobs",
                key=headers["Idempotency-Key"],
                fingerprint=digest,
                created_at=utcnow() - timedelta(minutes=5),
            )
        )
        session.commit()
    retry = client.post("/v1/jobs", json=JOB, headers=headers)
    assert retry.status_code == 202, retry.text
    again = client.post("/v1/jobs", json=JOB, headers=headers)
    assert again.status_code == 202 and again.json()["id"] == retry.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert count(Job, id=retry.json()["id"]) == 1


def test_the_answer_is_stored_with_the_job_it_describes(client) -> None:
    headers = key()
    created = client.post("/v1/jobs", json=JOB, headers=headers)
    assert created.status_code == 202
    with Session(get_services().engine) as session:
        record = session.exec(
            select(IdempotencyRecord).where(IdempotencyRecord.key == headers["Idempotency-Key"])
        ).one()
    assert record.status_code == 202 and record.response["id"] == created.json()["id"]


def test_a_failed_request_whose_job_goes_on_leaves_that_job_to_its_retry(client) -> None:
    """A judged request that answered an error after its job was written (the database went away while it waited,
    the server stopped): its retry with the same key waits for that job at once, it does not start a second one
    that buys its images again (outside probe F12)."""
    job_id = client.post("/v1/jobs", json=JOB).json()["id"]
    service = IdempotencyService(get_services())
    where = ("anonymous", "POST /v1/images/generations", key()["Idempotency-Key"], fingerprint("judged"))
    first = service.claim(*where, stale_after_seconds=30)
    assert first.record_id is not None
    with Session(get_services().engine) as session:
        JobOfClaim(first.record_id).note(session, job_id)
        session.commit()
    service.release(first.record_id)
    retry = service.claim(*where, stale_after_seconds=30)
    assert retry.record_id == first.record_id and retry.job_id == job_id
