"""Several machines, one object store: an API process and a worker process in different working directories
share nothing but PostgreSQL, Redis and an S3-compatible store, and clients fetch images from the store."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session

from sentinel.models import StoredImage, utcnow
from sentinel.settings import Settings
from sentinel.store.images import inspect_image
from sentinel.store.maintenance import StorageMaintenance
from sentinel.wiring import build_services
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import (
    FIXTURES,
    REDIS_URL,
    SENTINEL,
    RunningProcess,
    clean_env,
    delete_redis_keys,
    own_postgres_database,
    png_bytes,
    start_server,
    write_fake_routes,
)

pytestmark = pytest.mark.integration


class Stack:
    def __init__(self, base: str, script: Script, settings: Settings, endpoint: str, dirs: list[Path]) -> None:
        self.base, self.script, self.settings, self.endpoint, self.dirs = base, script, settings, endpoint, dirs


@pytest.fixture(scope="module")
def stack(s3_server, tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("shared")
    api_dir, worker_dir = tmp / "api-machine", tmp / "worker-machine"
    api_dir.mkdir()
    worker_dir.mkdir()
    script = Script()
    bucket = s3_server.create_bucket()
    namespace = f"sentinel-test-{uuid.uuid4().hex[:10]}"
    with own_postgres_database() as database_url, serve(create_app(script)) as fake:
        write_fake_routes(tmp / "routes.yaml", fake.url)
        env = clean_env(
            SENTINEL_DATABASE_URL=database_url,
            SENTINEL_REDIS_URL=REDIS_URL,
            SENTINEL_REDIS_NAMESPACE=namespace,
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            SENTINEL_IMAGE_URLS="presigned",
            FAKE_KEY="sk-fake",
            **s3_server.env(bucket, "images"),
        )
        # No SENTINEL_DATA_DIR: each process keeps its local files under its own working directory.
        server, base = start_server(env, tmp / "api.log", cwd=api_dir)
        worker = RunningProcess(
            [SENTINEL, "worker", "--processes", "1", "--threads", "4"], env, tmp / "worker.log", cwd=worker_dir
        )
        settings = Settings(
            data_dir=tmp / "test-process",
            database_url=database_url,
            **s3_server.settings_values(bucket, "images"),
        )
        try:
            yield Stack(base, script, settings, s3_server.endpoint_url, [api_dir, worker_dir])
        finally:
            worker.stop()
            server.stop()
            delete_redis_keys(namespace)
        assert "Traceback" not in worker.output(), worker.output()


def signed_at(url: str) -> datetime:
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["1800"], url
    return datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def fetch(url: str) -> httpx.Response:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response


def no_local_blobs(dirs: list[Path]) -> None:
    for directory in dirs:
        assert not list(directory.rglob("blobs/**/*.*")), f"an image landed on {directory}'s disk"


def test_an_evaluation_is_judged_by_the_worker_and_its_image_fetched_from_the_store(stack) -> None:
    image = png_bytes(300, 300)
    submitted_at = time.time()
    created = httpx.post(
        f"{stack.base}/v1/evaluations",
        data={"task": "text-to-image", "params": "{}"},
        files={"image": ("a.png", image, "image/png")},
        timeout=30,
    )
    assert created.status_code == 202, created.text
    assert created.json()["image"]["url"].startswith(stack.endpoint)
    evaluation_id = created.json()["id"]
    while int(time.time()) == int(submitted_at):
        time.sleep(0.05)  # a new second, so a URL signed now differs from one signed at submission
    for _ in range(6):
        done = httpx.get(f"{stack.base}/v1/evaluations/{evaluation_id}?wait=10", timeout=30).json()
        if done["status"] == "done":
            break
    assert done["status"] == "done" and done["verdict"] in ("green", "amber"), done
    url = done["image"]["url"]
    # Signed on this read, not stored at submission: a page left open and refreshed never shows a dead link.
    assert signed_at(url) >= datetime.fromtimestamp(int(submitted_at) + 1, UTC)
    response = fetch(url)
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.content == image
    # Sentinel's own URL still works: it streams from the store.
    image_id = done["image"]["id"]
    own = fetch(f"{stack.base}/v1/images/{image_id}")
    assert (own.content, own.headers["content-type"]) == (image, "image/png")
    no_local_blobs(stack.dirs)


def test_a_job_finishes_with_its_image_intact_while_gc_runs_throughout(stack) -> None:
    product = (FIXTURES / "product-white-background" / "good.jpg").read_bytes()
    stack.script.images.append(product)
    services = build_services(stack.settings)
    info = inspect_image(product, max_bytes=1 << 25, max_pixels=1 << 26)
    # The same bytes are already stored, old and named by nothing: exactly what gc deletes.
    with Session(services.engine) as session:
        services.images.store(session, info, product)
        session.commit()
        session.execute(
            update(StoredImage).where(StoredImage.id == info.sha256).values(stored_at=utcnow() - timedelta(days=1))
        )
        session.commit()
    gc = StorageMaintenance(services.engine, services.images.blobs)
    stop = threading.Event()
    passes: list[int] = []

    def collect_until_stopped() -> None:
        while not stop.is_set():
            report = gc.gc(grace=timedelta(0))
            passes.append(report.deleted + report.orphans)

    collector = threading.Thread(target=collect_until_stopped)
    collector.start()
    try:
        created = httpx.post(
            f"{stack.base}/v1/jobs", json={"task": "product-white-background", "prompt": "a cup"}, timeout=30
        )
        assert created.status_code == 202, created.text
        for _ in range(6):
            job = httpx.get(f"{stack.base}/v1/jobs/{created.json()['id']}?wait=20", timeout=30).json()
            if job["state"] in ("done", "failed", "expired"):
                break
    finally:
        stop.set()
        collector.join(timeout=60)
    assert len(passes) > 1
    gc.gc(grace=timedelta(0))  # and once more, after the job
    assert (job["state"], job["verdict"]) == ("done", "green"), job
    [chosen] = job["result"]["images"]
    assert chosen["image"]["id"] == info.sha256
    response = fetch(chosen["image"]["url"])
    assert (response.content, response.headers["content-type"]) == (product, "image/jpeg")
    services.engine.dispose()


def test_gateway_urls_and_review_pages_point_at_the_store(stack) -> None:
    stack.script.images.append(png_bytes(128, 128, (9, 99, 199)))
    answer = httpx.post(
        f"{stack.base}/v1/images/generations",
        json={"model": "house", "prompt": "a cup", "response_format": "url"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    url = answer.json()["data"][0]["url"]
    assert url.startswith(stack.endpoint)
    assert fetch(url).content == png_bytes(128, 128, (9, 99, 199))

    # A replayed answer carries URLs signed for the replay, not the stored ones.
    stack.script.images.append(png_bytes(129, 129, (9, 99, 199)))
    request = {"model": "house", "prompt": "another cup", "response_format": "url"}
    first = httpx.post(
        f"{stack.base}/v1/images/generations", json=request, headers={"Idempotency-Key": "cup-2"}, timeout=30
    )
    first_signed = signed_at(first.json()["data"][0]["url"])
    while datetime.now(UTC) < first_signed + timedelta(seconds=1):
        time.sleep(0.05)
    replay = httpx.post(
        f"{stack.base}/v1/images/generations", json=request, headers={"Idempotency-Key": "cup-2"}, timeout=30
    )
    assert replay.headers["idempotent-replayed"] == "true"
    assert signed_at(replay.json()["data"][0]["url"]) > first_signed
    assert fetch(replay.json()["data"][0]["url"]).content == png_bytes(129, 129, (9, 99, 199))
    login = httpx.get(f"{stack.base}/login", timeout=10)
    policy = login.headers["content-security-policy"]
    assert f"img-src 'self' data: {stack.endpoint}" in policy
