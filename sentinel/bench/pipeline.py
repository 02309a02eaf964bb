"""``sentinel bench pipeline``: time from ``POST /v1/evaluations`` to the verdict, queue overhead apart from judging.

Runs ``sentinel serve`` (embedded: SQLite and the in-process broker; or Redis + PostgreSQL with a
``sentinel worker``), submits one evaluation at a time and reads the evaluation back: each judge's
``duration_ms`` is its compute; the rest of the wall time is queues, database, polling and HTTP.
"""

from __future__ import annotations

import io
import statistics
import time
from typing import Any

import httpx
import numpy as np
from PIL import Image

from sentinel.bench import Progress, quiet
from sentinel.bench.harness import astronaut, deployment, ms_between

WARM_UP = 2  # the first evaluations load OCR engines and open pools; they are not counted


def _images(side: int, count: int) -> list[bytes]:
    """``count`` distinct PNGs of one photo (one pixel differs), so no run is answered from a cache."""
    pixels = np.asarray(astronaut(side)).copy()
    images = []
    for index in range(count):
        pixels[0, 0] = (index % 256, index // 256 % 256, 7)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
        images.append(buffer.getvalue())
    return images


def measure(base: str, runs: int, side: int) -> list[dict[str, float]]:
    samples: list[dict[str, float]] = []
    params = f'{{"width": {side}, "height": {side}}}'
    with httpx.Client(base_url=base, timeout=120) as client:
        for index, image in enumerate(_images(side, runs + WARM_UP)):
            started = time.perf_counter()
            response = client.post(
                "/v1/evaluations",
                data={"task": "text-to-image", "params": params},
                files={"image": ("image.png", image, "image/png")},
            )
            response.raise_for_status()
            evaluation = response.json()
            while evaluation["status"] != "done":
                evaluation = client.get(f"/v1/evaluations/{evaluation['id']}", params={"wait": 30}).json()
            total = (time.perf_counter() - started) * 1000
            if index < WARM_UP:
                continue
            durations = [j.get("duration_ms") or 0.0 for j in evaluation["judges"]]
            server = ms_between(evaluation["created_at"], evaluation["finished_at"])
            samples.append(
                {
                    "total_ms": total,
                    "server_ms": server,
                    "judges_sum_ms": sum(durations),
                    "judges_max_ms": max(durations, default=0.0),
                    # what is not the slowest judge: at least this much is queues, database and polling
                    "overhead_ms": max(0.0, total - max(durations, default=0.0)),
                    "server_overhead_ms": max(0.0, server - max(durations, default=0.0)),
                }
            )
    return samples


def _p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else 0.0


def summarise(mode: str, side: int, samples: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"mode": mode, "side": side, "runs": len(samples)}
    for key in samples[0]:
        values = [s[key] for s in samples]
        row[f"median_{key}"] = round(statistics.median(values), 1)
        row[f"p95_{key}"] = round(_p95(values), 1)
    return row


def run(
    runs: int, side: int, redis_url: str | None, database_url: str | None, progress: Progress = quiet
) -> list[dict[str, Any]]:
    rows = []
    with deployment(None, None) as running:
        progress("embedded deployment up; measuring")
        rows.append(summarise("embedded (SQLite, in-process broker)", side, measure(running.base, runs, side)))
    progress(f"embedded: {runs} runs measured")
    if redis_url and database_url:
        with deployment(redis_url, database_url) as running:
            progress("Redis + PostgreSQL deployment up; measuring")
            rows.append(summarise("Redis + PostgreSQL, 2 worker processes", side, measure(running.base, runs, side)))
    return rows
