"""After a burst of large images, `sentinel serve` (the API and its embedded workers) falls back to about where it
was: each malloc arena keeps up to KEEP_FREED_UP_TO of freed heap that malloc_trim does not hand back, and with
glibc's arenas (eight per core, one per thread that meets contention) a burst of 4096² evaluations left the
process ~550 MB above its resident size before the burst, and growing with each burst."""

from __future__ import annotations

import ctypes.util
import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from sentinel.store.heap import ARENAS, KEEP_FREED_UP_TO
from tests.conftest import RunningProcess, clean_env, start_server

SIDE = 4096
#: What may stay resident past the size before the burst: every arena's kept heap, and room for caches.
ALLOWED_GROWTH = ARENAS * KEEP_FREED_UP_TO + 96 * 1024 * 1024


def large_png() -> bytes:
    image = Image.new("RGB", (SIDE, SIDE), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    for offset in range(0, SIDE, 64):
        draw.line((0, offset, SIDE, SIDE - offset), fill=(offset % 255, 30, 200), width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def evaluate(base: str, png: bytes) -> str:
    made = httpx.post(
        f"{base}/v1/evaluations",
        data={"task": "text-to-image", "params": f'{{"width": {SIDE}, "height": {SIDE}}}'},
        files={"image": ("large.png", png, "image/png")},
        timeout=300,
    )
    assert made.status_code == 202, made.text
    while True:
        read = httpx.get(f"{base}/v1/evaluations/{made.json()['id']}?wait=30", timeout=60).json()
        if read["status"] == "done":
            return str(read["verdict"])
        assert read["status"] in ("queued", "judging"), read


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[RunningProcess, str]]:
    running, base = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")), tmp_path / "serve.log")
    try:
        yield running, base
    finally:
        running.stop()


@pytest.mark.skipif(not ctypes.util.find_library("c") or not Path("/proc/self/status").exists(), reason="glibc/Linux")
def test_resident_size_falls_back_after_a_burst_of_large_images(server: tuple[RunningProcess, str]) -> None:
    running, base = server
    png = large_png()
    # One evaluation first: what the first one loads for good (judges, the rubric) is not the burst's.
    evaluate(base, png)
    before = resident_bytes(running.process.pid)
    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(lambda _: evaluate(base, png), range(20)))
    assert len(verdicts) == 20
    deadline = time.monotonic() + 60
    while (after := resident_bytes(running.process.pid)) > before + ALLOWED_GROWTH and time.monotonic() < deadline:
        time.sleep(0.5)
    assert after <= before + ALLOWED_GROWTH, f"{before / 2**20:.0f} MiB before the burst, {after / 2**20:.0f} after"
