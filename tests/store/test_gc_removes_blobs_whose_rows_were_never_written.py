"""An image whose blob was put but whose row never committed (the database went away at the commit) is a file that
nothing names. `sentinel storage gc` removes it once older than its grace period, leaves a younger one (its row may
still come), and never touches what is kept aside for later: a job's image kept on the worker's disk, or an answer
kept for an Idempotency-Key retry, whose retry then stores the image again and serves it. Answers kept for a retry
that never came are dropped after a day."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from sqlmodel import Session

from sentinel.generation.wiring import open_generation
from sentinel.idempotency.kept import KEPT_FOR_SECONDS, KeptAnswer, kept_answers
from sentinel.idempotency.service import IdempotencyService
from sentinel.jobs.schemas import JobCreate
from sentinel.jobs.service import JobService
from sentinel.jobs.unstored import unstored_images
from sentinel.models import StoredImage
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.store.images import ImageInfo, inspect_image
from sentinel.wiring import build_services
from sentinel.worker.loop import run_async
from tests.conftest import SENTINEL, clean_env, png_bytes


def rows_never_committed(services: Services, data: bytes, hours_ago: float) -> ImageInfo:
    """``data`` stored as a generation stores its images, in a transaction whose commit did not happen: the blob is
    on disk, no row names it; its file as old as ``hours_ago``."""
    info = inspect_image(data, max_bytes=10_000_000, max_pixels=10_000_000)
    with services.engine.connect() as connection:
        transaction = connection.begin()
        services.images.store_many(connection, [(info, data, None)])
        transaction.rollback()
    then = time.time() - hours_ago * 3600
    os.utime(services.images.blobs.path(info.sha256), (then, then))  # type: ignore[attr-defined]
    return info


def storage_gc(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env(SENTINEL_DATA_DIR=str(data_dir))
    return subprocess.run([SENTINEL, "storage", "gc"], env=env, capture_output=True, text=True, timeout=120)


def test_storage_gc_removes_old_blobs_whose_rows_never_came_and_keeps_what_is_kept_aside(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    services = build_services(Settings(data_dir=data_dir))
    blobs = services.images.blobs
    old = rows_never_committed(services, png_bytes(90, 90, (200, 10, 10)), hours_ago=2)
    young = rows_never_committed(services, png_bytes(91, 91, (10, 200, 10)), hours_ago=0)
    kept_for_job = rows_never_committed(services, kept_bytes := png_bytes(92, 92, (10, 10, 200)), hours_ago=2)
    with Session(services.engine) as session:
        assert session.get(StoredImage, old.sha256) is None and blobs.exists(old.sha256)
    # What a job's attempt keeps on the worker's disk, and an answer kept for an Idempotency-Key's retry.
    generation = run_async(open_generation(services))
    job = JobService(services, lambda: generation).create(JobCreate(task="text-to-image", prompt="a kite"))
    unstored_images(services).keep(job.id, kept_for_job.sha256, kept_bytes)
    answers = kept_answers(data_dir)
    answer = KeptAnswer(
        "anonymous", "POST /v1/images/generations", "order-77", "digest", 200,
        {"data": [{"url": f"/v1/images/{old.sha256}"}]}, {},
        images=[(old, blobs.get(old.sha256), None)],
    )  # fmt: skip
    answers.keep(answer)

    collected = storage_gc(data_dir)
    assert collected.returncode == 0, collected.stderr
    assert "2 orphan blobs" in collected.stderr
    # The old files no row names are gone; the young one (its row may still be committed) stays.
    assert not blobs.exists(old.sha256) and not blobs.exists(kept_for_job.sha256)
    assert blobs.exists(young.sha256)
    # What is kept aside is not the store's to collect.
    assert unstored_images(services).get(job.id, kept_for_job.sha256) == kept_bytes
    assert answers.holds(answer.scope, answer.endpoint, answer.key)

    # The key's retry stores the image again (row and blob) and answers it.
    found = answers.find(answer.scope, answer.endpoint, answer.key)
    assert found is not None
    replay = IdempotencyService(services).record_kept(found)
    assert replay.status_code == 200 and replay.response == answer.response
    assert services.images.read(old.sha256) == answer.images[0][1]
    assert not answers.holds(answer.scope, answer.endpoint, answer.key)


def test_storage_gc_drops_answers_kept_for_retries_that_never_came(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_services(Settings(data_dir=data_dir))
    answers = kept_answers(data_dir)
    for key in ("stale", "fresh"):
        answers.keep(KeptAnswer("anonymous", "POST /v1/images/generations", key, "digest", 200, {"data": []}, {}))
    stale = answers._folder_of("anonymous", "POST /v1/images/generations", "stale")
    then = time.time() - KEPT_FOR_SECONDS - 60
    os.utime(stale, (then, then))

    collected = storage_gc(data_dir)
    assert collected.returncode == 0, collected.stderr
    assert "dropped 1 answer(s) kept" in collected.stderr
    assert not answers.holds("anonymous", "POST /v1/images/generations", "stale")
    assert answers.holds("anonymous", "POST /v1/images/generations", "fresh")
