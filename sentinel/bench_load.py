"""``sentinel bench load``: sustained evaluations per second, time to verdict, and proof that none was lost.

Starts one API process and two worker processes on Redis + PostgreSQL (or the embedded default), keeps
``clients`` callers each submitting an evaluation and waiting for its verdict, for ``seconds``; then drains
and checks every submitted evaluation has exactly one verdict and one vote per judge.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image, ImageDraw

from sentinel.bench_jobs import deployment


def sample_image(side: int, seed: int) -> bytes:
    """A PNG with content (the offline judges do real work on it), different per seed."""
    picture = Image.new("RGB", (side, side), (230, 230, 230))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((side // 5, side // 5, side * 4 // 5, side * 4 // 5), fill=(40 + seed % 200, 90, 160))
    draw.rectangle((side // 3, side // 8, side // 2, side // 4), fill=(200, 60, 40))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class LoadResult:
    submitted: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def _caller(client: httpx.AsyncClient, images: list[bytes], until: float, result: LoadResult) -> None:
    index = 0
    while time.monotonic() < until:
        image = images[index % len(images)]
        index += 1
        started = time.perf_counter()
        created = await client.post(
            "/v1/evaluations",
            data={"task": "text-to-image", "params": '{"width": 1024, "height": 1024}'},
            files={"image": ("load.png", image, "image/png")},
        )
        if created.status_code != 202:
            result.errors.append(f"{created.status_code}: {created.text[:200]}")
            continue
        evaluation_id = created.json()["id"]
        result.submitted.append(evaluation_id)
        while True:
            response = await client.get(f"/v1/evaluations/{evaluation_id}", params={"wait": 30})
            response.raise_for_status()
            if response.json()["status"] == "done":
                break
        result.latencies_ms.append((time.perf_counter() - started) * 1000)


async def _load(base: str, clients: int, seconds: float, side: int) -> LoadResult:
    images = [sample_image(side, seed) for seed in range(8)]
    result = LoadResult()
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        # Warm-up: the first evaluation loads the OCR models in every worker.
        await _caller(client, images[:1], time.monotonic() + 0.001, LoadResult())
        started = time.monotonic()
        await asyncio.gather(*(_caller(client, images, started + seconds, result) for _ in range(clients)))
        result.seconds = time.monotonic() - started
    return result


def _audit(base: str, evaluation_ids: list[str]) -> dict[str, int]:
    """Every submitted evaluation read back: done, one vote per expected judge, nothing missing."""
    counts = {"done": 0, "lost": 0, "vote_mismatch": 0}
    with httpx.Client(base_url=base, timeout=60) as client:
        for evaluation_id in evaluation_ids:
            response = client.get(f"/v1/evaluations/{evaluation_id}")
            response.raise_for_status()  # an audit that cannot read an evaluation must not call it lost
            answer = response.json()
            if answer.get("status") != "done":
                counts["lost"] += 1
                continue
            counts["done"] += 1
            voted = [j["judge"] for j in answer["judges"]]
            if sorted(voted) != sorted(answer["judges_expected"]) or answer["votes_in"] != len(voted):
                counts["vote_mismatch"] += 1
    return counts


def run(clients: int, seconds: float, side: int, redis_url: str | None, database_url: str | None) -> dict[str, Any]:
    mode = "Redis + PostgreSQL, 1 API process, 2 worker processes" if redis_url else "embedded (SQLite, in-process)"
    with deployment(redis_url, database_url) as base:
        result = asyncio.run(_load(base, clients, seconds, side))
        audit = _audit(base, result.submitted)
    latencies = sorted(result.latencies_ms)
    return {
        "mode": mode,
        "clients": clients,
        "seconds": round(result.seconds, 1),
        "submitted": len(result.submitted),
        "finished": len(latencies),
        "evaluations_per_second": round(len(latencies) / result.seconds, 2) if result.seconds else 0.0,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1) if latencies else None,
        "errors": len(result.errors),
        "first_error": result.errors[0] if result.errors else None,
        **audit,
    }
