"""Jobs on the embedded default: in-process broker and workers, SQLite, the offline `local` provider."""

from __future__ import annotations


def test_job_on_the_local_provider_is_judged_and_chosen(client) -> None:
    created = client.post(
        "/v1/jobs",
        json={"task": "text-to-image", "prompt": "a red ball", "params": {"width": 512, "height": 512}, "n": 2},
    )
    assert created.status_code == 202, created.text
    job = client.get(f"/v1/jobs/{created.json()['id']}?wait=30").json()
    assert job["state"] == "done", job
    assert {a["slot"] for a in job["attempts"]} == {0, 1}
    for image in job["result"]["images"]:
        assert image["verdict"] in ("green", "amber", "red")
        served = client.get(image["image"]["url"])
        assert served.headers["content-type"] == "image/png"
    assert all(a["provider"] == "local" for a in job["attempts"])


def test_a_job_with_a_seed_redraws_the_same_image_and_shows_its_seed(client) -> None:
    """The offline renderer honours seeds: two jobs with one seed draw the same picture, another seed another."""
    body = {"task": "text-to-image", "prompt": "a red ball", "params": {"width": 256, "height": 256}, "max_attempts": 1}

    def first_image(seed: int | None) -> tuple[dict, str]:
        created = client.post("/v1/jobs", json=body | ({"seed": seed} if seed is not None else {}))
        assert created.status_code == 202, created.text
        assert created.json()["seed"] == seed
        job = client.get(f"/v1/jobs/{created.json()['id']}?wait=30").json()
        assert job["state"] == "done", job
        return job, job["attempts"][0]["image"]["id"]

    job, image = first_image(1234)
    assert job["seed"] == 1234
    assert first_image(1234)[1] == image
    assert first_image(1235)[1] != image
    assert first_image(None)[0]["seed"] is None


def test_a_seed_out_of_range_is_refused_naming_it(client) -> None:
    for seed in (-1, 2**31):
        refused = client.post("/v1/jobs", json={"task": "text-to-image", "prompt": "a red ball", "seed": seed})
        assert refused.status_code in (400, 422), refused.text
        assert "seed" in refused.text


def test_regenerations_and_further_slots_step_from_the_jobs_seed() -> None:
    from sentinel.jobs.attempts import attempt_seed
    from sentinel.models import Job, utcnow

    job = Job(id="job_x", task="t", prompt="p", n=2, max_attempts=3, seed=2**31 - 2, deadline_at=utcnow())
    seeds = [attempt_seed(job, slot, number) for slot in range(2) for number in (1, 2, 3)]
    # The first attempt takes the seed itself; no two attempts share one; the range wraps at 2**31.
    assert seeds == [2**31 - 2, 2**31 - 1, 0, 1, 2, 3]


def test_listing_jobs_reads_their_review_decisions_once_per_page(client) -> None:
    from sqlalchemy import event

    from sentinel.wiring import get_services

    body = {"task": "text-to-image", "prompt": "a red ball", "params": {"width": 256, "height": 256}, "max_attempts": 1}
    for _ in range(3):
        created = client.post("/v1/jobs", json=body)
        assert client.get(f"/v1/jobs/{created.json()['id']}?wait=30").json()["state"] == "done"
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    engine = get_services().engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        listed = client.get("/v1/jobs", params={"limit": 3})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert listed.status_code == 200 and len(listed.json()["data"]) == 3
    assert sum("review_decisions" in s for s in statements) <= 1, statements
