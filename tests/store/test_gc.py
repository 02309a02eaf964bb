"""`sentinel storage gc`: what nothing needs goes, what anything live names stays, even mid-write."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from sentinel.errors import NotFound
from sentinel.evaluation.service import EvaluationService
from sentinel.models import Evaluation, Job, JobAttempt, ReviewDecision, StoredImage, utcnow
from sentinel.services import Services
from sentinel.settings import Settings
from sentinel.store.images import inspect_image
from sentinel.store.maintenance import StorageMaintenance
from sentinel.wiring import build_services
from tests.conftest import own_postgres_database, png_bytes

NOW = timedelta(0)


@pytest.fixture(params=["embedded", "postgresql+s3", "postgresql-only"])
def services(request, tmp_path) -> Iterator[Services]:
    if request.param == "embedded":
        built = build_services(Settings(data_dir=tmp_path))
        yield built
        built.engine.dispose()
        return
    with own_postgres_database() as database_url:
        if request.param == "postgresql-only":
            settings = Settings(data_dir=tmp_path, database_url=database_url, blob_url="database")
        else:
            s3 = request.getfixturevalue("s3_server")
            settings = Settings(data_dir=tmp_path, database_url=database_url, **s3.settings_values(s3.create_bucket()))
        built = build_services(settings)
        yield built
        built.engine.dispose()


@pytest.fixture
def postgres_services(request, tmp_path) -> Iterator[Services]:
    with own_postgres_database() as database_url:
        built = build_services(Settings(data_dir=tmp_path / "data", database_url=database_url))
        yield built
        built.engine.dispose()


def image(side: int, color: tuple[int, int, int] = (200, 30, 30)) -> tuple[object, bytes]:
    data = png_bytes(side, side, color)
    return inspect_image(data, max_bytes=1 << 24, max_pixels=1 << 24), data


def evaluate(services: Services, data: bytes) -> str:
    service = EvaluationService(services)
    return service.submit(service.validate("text-to-image", {}, {"image": data})).id


def store_unreferenced(services: Services, side: int, hours_ago: float = 0) -> str:
    info, data = image(side, (10, 200, 10))
    with Session(services.engine) as session:
        services.images.store(session, info, data)
        session.commit()
    if hours_ago:
        backdate(services, info.sha256, hours_ago)
    return info.sha256


def backdate(services: Services, image_id: str, hours: float) -> None:
    with Session(services.engine) as session:
        session.execute(
            update(StoredImage).where(StoredImage.id == image_id).values(stored_at=utcnow() - timedelta(hours=hours))
        )
        session.commit()


def row(services: Services, image_id: str) -> StoredImage | None:
    with Session(services.engine) as session:
        return session.get(StoredImage, image_id)


def test_gc_deletes_unreferenced_images_and_orphan_blobs_and_keeps_what_an_evaluation_names(services) -> None:
    kept_info, kept_data = image(60)
    evaluate(services, kept_data)
    unreferenced = store_unreferenced(services, 70)
    orphan_info, orphan_data = image(80, (0, 0, 250))
    services.images.blobs.put(orphan_info.sha256, orphan_data, "image/png")  # a writer that died before its commit
    gc = StorageMaintenance(services.engine, services.images.blobs)

    # Stored a moment ago: its referencing rows may still be on their way, so the default grace keeps it.
    assert gc.gc(grace=timedelta(minutes=60)).deleted == 0
    assert services.images.blobs.exists(unreferenced)

    dry = gc.gc(grace=NOW, dry_run=True)
    assert sorted(dry.would_delete) == sorted([unreferenced, orphan_info.sha256])
    assert services.images.blobs.exists(unreferenced) and services.images.blobs.exists(orphan_info.sha256)

    report = gc.gc(grace=NOW)
    assert (report.deleted, report.orphans, report.purged) == (1, 1, 0)
    assert report.freed_bytes == len(orphan_data) + len(png_bytes(70, 70, (10, 200, 10)))
    assert not services.images.blobs.exists(unreferenced) and row(services, unreferenced) is None
    assert not services.images.blobs.exists(orphan_info.sha256) and row(services, orphan_info.sha256) is None
    assert services.images.read(kept_info.sha256) == kept_data

    # Nothing left to do, and storing deleted bytes again brings them back whole.
    assert gc.gc(grace=NOW).deleted == 0
    again = store_unreferenced(services, 70)
    assert services.images.read(again) == png_bytes(70, 70, (10, 200, 10))


def finished_job(services: Services, image_data: bytes, days_ago: float) -> str:
    evaluation_id = evaluate(services, image_data)
    finished = utcnow() - timedelta(days=days_ago)
    job_id = f"job_{days_ago:g}_{len(image_data)}"
    with Session(services.engine) as session:
        session.add(
            Job(id=job_id, task="text-to-image", prompt="a cup", state="done", verdict="green", deadline_at=finished)
        )
        session.flush()
        session.execute(update(Job).where(Job.id == job_id).values(finished_at=finished, created_at=finished))
        info = inspect_image(image_data, max_bytes=1 << 24, max_pixels=1 << 24)
        session.add(
            JobAttempt(
                job_id=job_id, state="judged", image_id=info.sha256, evaluation_id=evaluation_id, verdict="green"
            )
        )
        session.commit()
    return info.sha256


def test_retention_deletes_the_bytes_of_long_finished_jobs_and_keeps_everything_else(services) -> None:
    old = finished_job(services, png_bytes(90, 90, (1, 2, 3)), days_ago=10)
    recent = finished_job(services, png_bytes(91, 91, (1, 2, 3)), days_ago=1)
    submitted_info, submitted = image(92)
    evaluate(services, submitted)
    for image_id in (old, recent, submitted_info.sha256):
        backdate(services, image_id, hours=24 * 30)
    gc = StorageMaintenance(services.engine, services.images.blobs)

    assert gc.gc(grace=timedelta(minutes=60)).purged == 0  # retention off: everything named is kept

    report = gc.gc(grace=timedelta(minutes=60), retention=timedelta(days=7))
    assert (report.purged, report.deleted) == (1, 0)
    assert not services.images.blobs.exists(old)
    # The row stays for the job and evaluation that name it, and says what happened.
    assert row(services, old).purged_at is not None
    with Session(services.engine) as session, pytest.raises(NotFound, match="retention"):
        services.images.get(session, old)
    assert services.images.blobs.exists(recent)
    assert services.images.read(submitted_info.sha256) == submitted


def test_an_old_image_a_writer_is_storing_again_is_skipped_not_deleted(postgres_services) -> None:
    services = postgres_services
    gc = StorageMaintenance(services.engine, services.images.blobs)
    data = png_bytes(101, 101, (10, 200, 10))
    image_id = store_unreferenced(services, 101, hours_ago=2)  # old and named by nothing: a candidate
    info = inspect_image(data, max_bytes=1 << 24, max_pixels=1 << 24)
    writer = Session(services.engine)
    try:
        # A job storing the same bytes again, its transaction open: the row is locked, its references unwritten.
        services.images.store(writer, info, data)
        report = gc.gc(grace=timedelta(minutes=60))
        assert report.deleted == 0 and services.images.blobs.exists(image_id)
        writer.commit()
    finally:
        writer.close()
    # Stored again just now: the grace keeps it until the job's rows name it.
    assert gc.gc(grace=timedelta(minutes=60)).deleted == 0
    assert services.images.read(image_id) == data


def wait_until_blocked_on_a_lock(database_url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    with psycopg.connect(database_url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting and waiting[0] > 0:
                return
            time.sleep(0.02)
    raise AssertionError("gc never waited for the writer's lock")


def test_a_new_blob_whose_row_is_not_committed_yet_is_not_taken_for_an_orphan(postgres_services) -> None:
    services = postgres_services
    info, data = image(110, (40, 40, 40))
    writer = Session(services.engine)
    outcome: dict[str, object] = {}
    try:
        services.images.store(writer, info, data)  # row inserted (uncommitted), blob already in the store
        assert services.images.blobs.exists(info.sha256)

        def collect() -> None:
            outcome["report"] = StorageMaintenance(services.engine, services.images.blobs).gc(grace=NOW)

        collector = threading.Thread(target=collect)
        collector.start()
        # The collector found a blob with no committed row and tries to claim it: it must wait for the writer.
        wait_until_blocked_on_a_lock(services.settings.resolved_database_url)
        writer.commit()
    finally:
        writer.close()
    collector.join(timeout=30)
    assert outcome["report"].orphans == 0
    assert services.images.read(info.sha256) == data
    assert row(services, info.sha256) is not None


def amber(services: Services, image_id: str, decided_days_ago: float | None) -> None:
    """The evaluation of the job attempt that made ``image_id`` came out amber; decided that long ago, or not yet."""
    with Session(services.engine) as session:
        evaluation_id = session.exec(select(JobAttempt.evaluation_id).where(JobAttempt.image_id == image_id)).one()
        session.execute(update(Evaluation).where(Evaluation.id == evaluation_id).values(status="done", verdict="amber"))
        if decided_days_ago is not None:
            at = utcnow() - timedelta(days=decided_days_ago)
            session.add(ReviewDecision(evaluation_id=evaluation_id, decision="approve", reviewer="ann", created_at=at))
        session.commit()


def test_retention_keeps_what_a_reviewer_still_has_to_see(services) -> None:
    # A job is done while its amber image waits for a person: a queue worked weekly must not find pictures gone.
    waiting = finished_job(services, png_bytes(93, 93, (1, 2, 3)), days_ago=10)
    decided_long_ago = finished_job(services, png_bytes(94, 94, (1, 2, 3)), days_ago=10)
    decided_lately = finished_job(services, png_bytes(95, 95, (1, 2, 3)), days_ago=10)
    amber(services, waiting, None)
    amber(services, decided_long_ago, 9)
    amber(services, decided_lately, 1)
    for image_id in (waiting, decided_long_ago, decided_lately):
        backdate(services, image_id, hours=24 * 30)

    report = StorageMaintenance(services.engine, services.images.blobs).gc(
        grace=timedelta(minutes=60), retention=timedelta(days=7)
    )
    assert report.purged == 1
    assert not services.images.blobs.exists(decided_long_ago)
    assert services.images.blobs.exists(waiting) and services.images.blobs.exists(decided_lately)
