"""An image paid for is never lost to a blob store that is away or full (probe K6, K9).

While the store cannot take an image, a job's attempt keeps the image it paid for and retries only the store (the
provider is called once), the gateway hands a ``b64_json`` image out anyway and refuses a ``url`` one without
inviting the SDK to buy another, and every paid call is in the call log. A folder store on a full disk is
``503 storage_unavailable`` with Retry-After, and /readyz says so.
"""

from __future__ import annotations

import base64
import errno
import io
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sentinel_fakes.server import serve
from tests.conftest import REPO, RunningProcess, S3Server, clean_env, free_port, png_bytes, serving_with_fake

SIZE = 1024


class CountingProvider:
    """An OpenAI-shaped provider whose every answer is a new image (as a paid one is), counting its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._counter = itertools.count()

    def app(self) -> Starlette:
        async def generations(request: Request) -> JSONResponse:
            self.calls += 1
            picture = png_bytes(SIZE, SIZE, (200, next(self._counter) % 256, 30))
            data = [{"b64_json": base64.b64encode(picture).decode()}]
            return JSONResponse({"created": int(time.time()), "data": data})

        return Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"])])


def start_s3(port: int, log: Path) -> S3Server:
    """tests/s3server.py on ``port`` (the same port again after a stop: the store "comes back")."""
    process = RunningProcess(
        [sys.executable, str(REPO / "tests" / "s3server.py"), "--port", str(port)], clean_env(), log
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.process.poll() is None, process.output()
        try:
            httpx.get(f"{endpoint}/", timeout=1)
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        return S3Server(process, endpoint, "sentinel-test", "sentinel-test-secret")
    process.stop()
    raise RuntimeError(f"tests/s3server.py did not answer:\n{process.output()}")


BUCKET = "h9-images"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, CountingProvider, S3Server, Path]]:
    """`sentinel serve` on an S3 store of its own (which the test stops) and a counting provider."""
    port = free_port()
    s3 = start_s3(port, tmp_path / "s3-1.log")
    s3.create_bucket(BUCKET)
    provider = CountingProvider()
    try:
        with serve(provider.app()) as fake, serving_with_fake(fake.url, tmp_path, **s3.env(BUCKET, "p")) as base:
            yield base, provider, s3, tmp_path / "serve.log"
    finally:
        s3.process.stop()


def wait_for(condition, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def dashboard_calls(base: str) -> int:
    totals = httpx.get(f"{base}/v1/dashboard?window=1h", timeout=10).json()["totals"]
    return int(totals["requests"])


def test_a_job_whose_image_cannot_be_stored_pays_once_and_finishes_when_the_store_is_back(stack) -> None:
    base, provider, s3, log = stack
    port = int(s3.endpoint_url.rsplit(":", 1)[1])
    s3.process.stop()  # the object store goes away
    body = {"task": "text-to-image", "prompt": "a red kite", "params": {"width": SIZE, "height": SIZE}}
    created = httpx.post(f"{base}/v1/jobs", json=body | {"max_attempts": 1}, timeout=10)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]

    def tries() -> int:
        return log.read_text(errors="replace").count("waits for the blob store")

    # The attempt's message is retried while the store is away (or, before the fix, the provider is paid again).
    wait_for(lambda: tries() >= 2 or provider.calls >= 2, 60)
    assert provider.calls == 1
    output = log.read_text(errors="replace")
    assert "unhandled exception" not in output and "Traceback" not in output, output[-3000:]
    # The paid call is in the call log although its image is not stored yet.
    assert dashboard_calls(base) == 1

    back = start_s3(port, log.parent / "s3-2.log")  # the store is back (empty: a fresh bucket of the same name)
    try:
        back.create_bucket(BUCKET)
        deadline = time.monotonic() + 90
        job: dict = {}
        while time.monotonic() < deadline:
            job = httpx.get(f"{base}/v1/jobs/{job_id}?wait=10", timeout=20).json()
            if job["state"] == "done":
                break
        assert job["state"] == "done", job
        assert provider.calls == 1
        assert [a["number"] for a in job["attempts"]] == [1]
        url = job["attempts"][0]["image"]["url"]
        served = httpx.get(url if url.startswith("http") else f"{base}{url}", timeout=10)
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
        assert dashboard_calls(base) == 1
    finally:
        back.process.stop()


def test_the_gateway_hands_out_a_paid_b64_image_and_refuses_a_url_one_without_inviting_a_retry(stack) -> None:
    from openai import APIStatusError, OpenAI

    base, provider, s3, _ = stack
    s3.process.stop()
    asked = {"model": "house", "prompt": "a red kite", "size": f"{SIZE}x{SIZE}"}
    answer = httpx.post(f"{base}/v1/images/generations", json=asked | {"response_format": "b64_json"}, timeout=30)
    assert answer.status_code == 200, answer.text
    image = Image.open(io.BytesIO(base64.b64decode(answer.json()["data"][0]["b64_json"])))
    assert image.size == (SIZE, SIZE)
    assert answer.headers["x-sentinel-stored"] == "false"
    assert answer.json()["sentinel"]["stored"] is False
    assert provider.calls == 1

    # A URL cannot be given for an image not stored: 503 with Retry-After, and the SDK (max_retries 2) does not buy
    # two more images the store cannot keep either.
    client = OpenAI(base_url=f"{base}/v1", api_key="sk-any", max_retries=2)
    with pytest.raises(APIStatusError) as refused:
        client.images.generate(**asked, response_format="url")  # type: ignore[call-overload]
    assert refused.value.status_code == 503
    assert refused.value.response.headers["retry-after"]
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert "storage_unavailable" in refused.value.response.text
    assert provider.calls == 2
    # Both paid calls are in the call log.
    assert dashboard_calls(base) == 2


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a disk that really fills up (needs the right to mount, e.g. root)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_under_the_folder_store_is_storage_unavailable_and_not_ready(tmp_path: Path, tiny_disk) -> None:
    provider = CountingProvider()
    blobs = tiny_disk / "blobs"
    with (
        serve(provider.app()) as fake,
        # Ready with 1 MiB free: the disk is 2 MiB, under the default threshold.
        serving_with_fake(fake.url, tmp_path, SENTINEL_BLOB_DIR=str(blobs), SENTINEL_BLOB_MIN_FREE_MB="1") as base,
    ):
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
        filler = tiny_disk / "filler"
        with pytest.raises(OSError) as full, filler.open("wb", buffering=0) as handle:
            while True:
                handle.write(b"\0" * 4096)
        assert full.value.errno == errno.ENOSPC
        noise = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))
        buffer = io.BytesIO()
        noise.save(buffer, "PNG")
        upload = httpx.post(
            f"{base}/v1/evaluations",
            data={"task": "text-to-image"},
            files={"image": ("noise.png", buffer.getvalue(), "image/png")},
            timeout=30,
        )
        assert upload.status_code == 503, upload.text
        error = upload.json()["error"]
        assert error["code"] == "storage_unavailable" or error["type"] == "storage_unavailable", error
        assert "is full (No space left on device)" in error["message"], error
        assert upload.headers["retry-after"]
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 503, ready.text
        assert "blob_store" in ready.text
        output = (tmp_path / "serve.log").read_text(errors="replace")
        assert "Traceback" not in output, output[-3000:]
        assert output.count("is full (No space left on device)") == 1, output[-3000:]
        # Space freed: ready again once the memory of the failed write has passed, and uploads work at once.
        filler.unlink()
        again = httpx.post(
            f"{base}/v1/evaluations",
            data={"task": "text-to-image"},
            files={"image": ("noise.png", buffer.getvalue(), "image/png")},
            timeout=30,
        )
        assert again.status_code == 202, again.text
