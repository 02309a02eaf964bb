"""``sentinel bench jobs``: time from POST /v1/jobs to the verdict, and where it goes.

Runs ``sentinel serve`` (and, for Redis + PostgreSQL, a ``sentinel worker``) as separate processes on
the ``local`` provider with the offline judges, posts jobs one at a time and reads each job's own
timestamps back to split the time into generation, judging and the rest (queues, database, polling).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from sentinel.bench import Progress, quiet
from sentinel.bench.harness import FINAL_JOB_STATES, deployment, ms_between


def measure(base: str, runs: int, side: int) -> list[dict[str, float]]:
    samples: list[dict[str, float]] = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for index in range(runs + 2):  # two warm-up jobs load the OCR models and open pools
            started = time.perf_counter()
            job = client.post(
                "/v1/jobs",
                json={
                    "task": "text-to-image",
                    "prompt": f"a red ball {index}",
                    "params": {"width": side, "height": side},
                    "max_attempts": 1,
                },
            ).json()
            while job["state"] not in FINAL_JOB_STATES:
                job = client.get(f"/v1/jobs/{job['id']}", params={"wait": 30}).json()
            total = (time.perf_counter() - started) * 1000
            if index < 2:
                continue
            [attempt] = job["attempts"]
            evaluation = client.get(f"/v1/evaluations/{attempt['evaluation_id']}").json()
            judge_compute = max((j["duration_ms"] or 0) for j in evaluation["judges"])
            judging = ms_between(evaluation["created_at"], evaluation["finished_at"])
            samples.append(
                {
                    "total_ms": total,
                    "generation_ms": attempt["generation_ms"] or 0.0,
                    "judge_compute_ms": judge_compute,
                    "judging_wall_ms": judging,
                    "other_ms": total - (attempt["generation_ms"] or 0.0) - judge_compute,
                }
            )
    return samples


def summarise(mode: str, samples: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"mode": mode, "runs": len(samples)}
    for key in samples[0]:
        row[f"median_{key}"] = statistics.median(s[key] for s in samples)
    totals = sorted(s["total_ms"] for s in samples)
    row["p95_total_ms"] = totals[min(len(totals) - 1, int(len(totals) * 0.95))]
    return row


def run(
    runs: int, side: int, redis_url: str | None, database_url: str | None, progress: Progress = quiet
) -> list[dict[str, Any]]:
    rows = []
    with deployment(None, None) as running:
        progress("embedded deployment up; measuring")
        rows.append(summarise("embedded (SQLite, in-process broker)", measure(running.base, runs, side)))
    progress(f"embedded: {runs} runs measured")
    if redis_url and database_url:
        with deployment(redis_url, database_url) as running:
            progress("Redis + PostgreSQL deployment up; measuring")
            rows.append(summarise("Redis + PostgreSQL, 2 worker processes", measure(running.base, runs, side)))
    return rows
