"""`sentinel storage info | gc | migrate` as an operator runs them (docs/storage.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from sentinel.evaluation.service import EvaluationService
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import SENTINEL, clean_env, png_bytes


def sentinel(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SENTINEL, *args], env=env, capture_output=True, text=True, timeout=120)


def evaluated(data_dir: Path, images: list[bytes]) -> list[str]:
    services = build_services(Settings(data_dir=data_dir))
    service = EvaluationService(services)
    ids = [service.submit(service.validate("text-to-image", {}, {"image": data})).image_id for data in images]
    services.engine.dispose()
    return ids


def test_info_gc_and_migrate_to_an_object_store_then_read_through_the_fallback(tmp_path, s3_server) -> None:
    data_dir = tmp_path / "data"
    images = [png_bytes(40 + i, 40 + i) for i in range(3)]
    kept = evaluated(data_dir, images)
    orphan = png_bytes(99, 99, (1, 1, 1))
    build_services(Settings(data_dir=data_dir)).images.blobs.put("f" * 64, orphan, "image/png")
    env = clean_env(SENTINEL_DATA_DIR=str(data_dir))

    info = sentinel("storage", "info", env=env)
    assert info.returncode == 0, info.stderr
    assert "filesystem" in info.stdout and "4 (" in info.stdout and "/v1/images/{id}" in info.stdout

    dry = sentinel("storage", "gc", "--dry-run", "--grace-minutes", "0", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.split() == ["f" * 64]
    assert "1 blobs" in dry.stderr and "would be deleted" in dry.stderr
    collected = sentinel("storage", "gc", "--grace-minutes", "0", env=env)
    assert collected.returncode == 0, collected.stderr
    assert "1 orphan blobs" in collected.stderr

    bucket = s3_server.create_bucket()
    s3_env = {k: v for k, v in s3_server.env(bucket, "moved").items() if k != "SENTINEL_BLOB_URL"}
    moved = sentinel("storage", "migrate", "--to", f"s3://{bucket}/moved", env=env | s3_env)
    assert moved.returncode == 0, moved.stderr
    assert "copied 3 blobs" in moved.stderr and "0 failed" in moved.stderr
    assert "SENTINEL_BLOB_FALLBACK_URL" in moved.stderr
    again = sentinel("storage", "migrate", "--to", f"s3://{bucket}/moved", env=env | s3_env)
    assert "copied 0 blobs" in again.stderr and "3 were already there" in again.stderr

    on_s3 = env | s3_server.env(bucket, "moved") | {"SENTINEL_IMAGE_URLS": "presigned"}
    info = sentinel("storage", "info", env=on_s3)
    assert "s3" in info.stdout and "3 (" in info.stdout and "presigned" in info.stdout

    # Step 2 of a move: new writes go to S3, a read that misses there comes from the old folder.
    late = png_bytes(77, 77, (5, 6, 7))
    [late_id] = evaluated(data_dir, [late])
    settings = Settings(
        data_dir=data_dir,
        blob_fallback_url=f"file://{data_dir / 'blobs'}",
        image_urls="presigned",
        **s3_server.settings_values(bucket, "moved"),
    )
    services = build_services(settings)
    assert services.images.read(late_id) == late
    assert services.images.url(late_id).startswith(f"/v1/images/{late_id}?")  # not in the object store yet
    assert httpx.get(services.images.url(kept[0])).content == images[0]
    caught_up = sentinel(
        "storage", "migrate", "--from", f"file://{data_dir / 'blobs'}", "--to", f"s3://{bucket}/moved", env=on_s3
    )
    assert "copied 1 blobs" in caught_up.stderr, caught_up.stderr
    assert services.images.url(late_id).startswith(s3_server.endpoint_url)


def test_a_store_that_cannot_be_used_is_named_in_the_error(tmp_path, s3_server) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    missing = sentinel("storage", "migrate", "--to", "s3://no-such-bucket-here/x", env=env | s3_server.env("x"))
    assert missing.returncode == 1
    assert "no-such-bucket-here" in missing.stderr and "Traceback" not in missing.stderr
    unknown = sentinel("storage", "info", env=env | {"SENTINEL_BLOB_URL": "ftp://example.com/blobs"})
    assert unknown.returncode == 1
    assert "s3://bucket/prefix" in unknown.stderr and "Traceback" not in unknown.stderr


def test_a_store_the_command_line_names_wrongly_is_a_wrong_command_naming_the_option(tmp_path) -> None:
    # It named SENTINEL_BLOB_URL, which the user had not set, and exited 1 as if the copy had failed.
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    database = sentinel("storage", "migrate", "--to", "database", env=env)
    assert database.returncode == 2, database.stderr
    assert "--to database keeps blobs in PostgreSQL, but SENTINEL_DATABASE_URL is not PostgreSQL" in database.stderr
    assert "SENTINEL_BLOB_URL" not in database.stderr
    unknown = sentinel("storage", "migrate", "--to", str(tmp_path), "--from", "ftp://old", env=env)
    assert unknown.returncode == 2 and "'ftp://old' is not one Sentinel knows" in unknown.stderr, unknown.stderr
