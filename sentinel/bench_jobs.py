"""``sentinel bench jobs``: time from POST /v1/jobs to the verdict, and where it goes.

Runs ``sentinel serve`` (and, for Redis + PostgreSQL, a ``sentinel worker``) as separate processes on
the ``local`` provider with the offline judges, posts jobs one at a time and reads each job's own
timestamps back to split the time into generation, judging and the rest (queues, database, polling).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from sentinel.bench_gateway import _process
from sentinel.db.redis_keys import delete_namespace
from sentinel.fakes.server import free_port


@dataclass
class Deployment:
    """A running deployment: its base URL, and its API and worker processes (for their CPU time)."""

    base: str
    api_pid: int
    worker_pid: int | None = None


@contextmanager
def deployment(
    redis_url: str | None, database_url: str | None, extra_env: dict[str, str] | None = None
) -> Iterator[Deployment]:
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-jobs-") as tmp, ExitStack() as stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")} | (extra_env or {})
        env["SENTINEL_DATA_DIR"] = str(Path(tmp) / "data")
        # A benchmark is one client address sending far more than a person would: per-address limits off.
        env["SENTINEL_ANONYMOUS_RPM"] = str(10**9)
        if redis_url:
            namespace = f"sentinel-bench-{uuid.uuid4().hex[:8]}"
            env |= {"SENTINEL_REDIS_URL": redis_url, "SENTINEL_REDIS_NAMESPACE": namespace}
            stack.callback(delete_namespace, redis_url, namespace)
        if database_url:
            env["SENTINEL_DATABASE_URL"] = database_url
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api = stack.enter_context(
            _process([sys.executable, "-m", "sentinel.cli", "serve", "--port", str(port)], env, f"{base}/healthz")
        )
        running = Deployment(base, api.pid)
        if redis_url:
            worker = subprocess.Popen(
                [sys.executable, "-m", "sentinel.cli", "worker", "--processes", "2", "--threads", "4"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            stack.callback(lambda: (worker.terminate(), worker.wait(timeout=30)))
            running.worker_pid = worker.pid
        yield running


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000


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
            while job["state"] not in ("done", "failed", "expired"):
                job = client.get(f"/v1/jobs/{job['id']}", params={"wait": 30}).json()
            total = (time.perf_counter() - started) * 1000
            if index < 2:
                continue
            [attempt] = job["attempts"]
            evaluation = client.get(f"/v1/evaluations/{attempt['evaluation_id']}").json()
            judge_compute = max((j["duration_ms"] or 0) for j in evaluation["judges"])
            judging = _seconds(evaluation["created_at"], evaluation["finished_at"])
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


def run(runs: int, side: int, redis_url: str | None, database_url: str | None) -> list[dict[str, Any]]:
    rows = []
    with deployment(None, None) as running:
        rows.append(summarise("embedded (SQLite, in-process broker)", measure(running.base, runs, side)))
    if redis_url and database_url:
        with deployment(redis_url, database_url) as running:
            rows.append(summarise("Redis + PostgreSQL, 2 worker processes", measure(running.base, runs, side)))
    return rows
