"""``sentinel bench memory``: the API process's resident memory while large images are evaluated.

Starts ``sentinel serve`` (the embedded default: its worker threads judge in the same process), warms it with a
small evaluation, then posts ``uploads`` different large PNGs (a few hundred KB each, tens of megapixels decoded)
to ``POST /v1/evaluations`` at once and waits for every verdict. It reports the resident memory when idle, the
peak while the images are judged, and what stays held once they are done.
"""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw

from sentinel.bench import Progress, quiet
from sentinel.bench.harness import deployment

#: How often the API process's resident memory is sampled while the uploads are judged.
SAMPLE_SECONDS = 0.02
#: After the last verdict, how long the process may take to hand memory back before "after" is read.
SETTLE_SECONDS = 3.0
#: Rounds of ordinary-sized evaluations, ``uploads`` at once, before the idle baseline is read.
WARM_ROUNDS = 1


def large_png(width: int, height: int, seed: int) -> bytes:
    """A PNG with shapes on a flat backdrop: small on disk, ``width``×``height`` pixels once decoded."""
    picture = Image.new("RGB", (width, height), (236, 236, 236))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((width // 5, height // 5, width * 4 // 5, height * 4 // 5), fill=(40 + seed * 37 % 200, 90, 160))
    draw.rectangle((width // 3, height // 8, width // 2, height // 4), fill=(200, 60 + seed * 13 % 150, 40))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` now, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _evaluate(client: httpx.Client, image: bytes, name: str) -> dict[str, Any]:
    created = client.post(
        "/v1/evaluations",
        data={"task": "text-to-image"},
        files={"image": (name, image, "image/png")},
    )
    if created.status_code != 202:
        raise RuntimeError(f"POST /v1/evaluations answered {created.status_code}: {created.text[:300]}")
    evaluation_id = created.json()["id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        body = client.get(f"/v1/evaluations/{evaluation_id}", params={"wait": 30}).json()
        if body.get("status") == "done":
            return body
    raise RuntimeError(f"evaluation {evaluation_id} had no verdict within 600 s")


def run(
    uploads: int, width: int, height: int, extra_env: dict[str, str] | None = None, progress: Progress = quiet
) -> dict[str, Any]:
    images = [large_png(width, height, seed) for seed in range(uploads)]
    with deployment(None, None, extra_env) as running, httpx.Client(base_url=running.base, timeout=120) as client:
        # Warm: OCR models, pools, the first rows, and every worker thread's heap at the size ordinary (1024²)
        # evaluations keep it; the idle baseline is read after that.
        small = [large_png(1024, 1024, 100 + seed) for seed in range(WARM_ROUNDS * uploads)]
        with ThreadPoolExecutor(uploads) as pool:
            for first in range(0, len(small), uploads):
                batch = small[first : first + uploads]
                list(pool.map(lambda image: _evaluate(client, image, "warm.png"), batch))
        progress(f"warmed with {len(small)} evaluations of 1024² images")
        time.sleep(SETTLE_SECONDS)
        idle = rss_mib(running.api_pid)
        peak = idle
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_mib(running.api_pid))
                time.sleep(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        try:
            with ThreadPoolExecutor(uploads) as pool:
                verdicts = list(
                    pool.map(lambda pair: _evaluate(client, pair[1], f"large-{pair[0]}.png"), enumerate(images))
                )
        finally:
            done.set()
            sampler.join()
        seconds = time.perf_counter() - started
        progress(f"{uploads} large uploads judged in {seconds:.0f} s")
        time.sleep(SETTLE_SECONDS)
        after = rss_mib(running.api_pid)
    return {
        "uploads": uploads,
        "megapixels": round(width * height / 1e6, 1),
        "upload_kib": round(sum(len(image) for image in images) / uploads / 1024),
        "idle_mib": round(idle),
        "peak_mib": round(peak),
        "after_mib": round(after),
        "seconds": round(seconds, 1),
        "verdicts": [verdict.get("verdict") for verdict in verdicts],
    }
