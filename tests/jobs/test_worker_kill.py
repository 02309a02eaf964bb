"""A worker killed (SIGKILL, with its children) while jobs are being judged: another worker finishes them,
with one verdict per attempt and no duplicate attempts."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from sentinel.models import Evaluation, Job, JobAttempt, Vote
from tests.conftest import REDIS_URL, SENTINEL, RunningProcess, clean_env, delete_redis_keys, start_server

pytestmark = pytest.mark.integration


def test_killed_worker_leaves_jobs_another_worker_finishes(postgres_url, tmp_path) -> None:
    namespace = f"sentinel-test-{uuid.uuid4().hex[:10]}"
    env = clean_env(
        SENTINEL_DATABASE_URL=postgres_url,
        SENTINEL_REDIS_URL=REDIS_URL,
        SENTINEL_REDIS_NAMESPACE=namespace,
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        # Short enough that the dead worker's messages are requeued within the test.
        SENTINEL_REDIS_HEARTBEAT_TIMEOUT_MS="2000",
        SENTINEL_REDIS_MAINTENANCE_CHANCE="1000000",
        SENTINEL_SWEEP_INTERVAL_SECONDS="1",
        SENTINEL_GENERATION_LEASE_SECONDS="3",
    )
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    server, base = start_server(env, tmp_path / "api.log")
    worker = RunningProcess([SENTINEL, "worker", "--processes", "1", "--threads", "2"], env, tmp_path / "w1.log")
    replacement = None
    try:
        jobs = [
            httpx.post(
                f"{base}/v1/jobs",
                json={
                    "task": "text-to-image",
                    "prompt": f"a red ball {i}",
                    "params": {"width": 1024, "height": 1024},
                    "n": 2,
                },
                timeout=30,
            ).json()["id"]
            for i in range(4)
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with Session(engine) as session:
                judging = session.exec(
                    select(JobAttempt).where(JobAttempt.state == "judging", JobAttempt.job_id.in_(jobs))
                ).first()
            if judging is not None:
                break
            time.sleep(0.02)
        assert judging is not None, worker.output()
        worker.kill()
        replacement = RunningProcess(
            [SENTINEL, "worker", "--processes", "1", "--threads", "2"], env, tmp_path / "w2.log"
        )
        finished = [httpx.get(f"{base}/v1/jobs/{job_id}?wait=60", timeout=70).json() for job_id in jobs]
    finally:
        if replacement is not None:
            replacement.stop()
        server.stop()
        delete_redis_keys(namespace)
    for job in finished:
        assert job["state"] == "done", [(a["slot"], a["number"], a["state"], a["verdict"]) for a in job["attempts"]]
    with Session(engine) as session:
        for job_id in jobs:
            attempts = list(session.exec(select(JobAttempt).where(JobAttempt.job_id == job_id)))
            for slot in (0, 1):
                numbers = sorted(a.number for a in attempts if a.slot == slot)
                assert numbers == list(range(1, len(numbers) + 1)), numbers
            for attempt in attempts:
                assert attempt.state == "judged" and attempt.verdict is not None
                evaluation = session.get(Evaluation, attempt.evaluation_id)
                votes = list(session.exec(select(Vote).where(Vote.evaluation_id == attempt.evaluation_id)))
                assert evaluation.verdict == attempt.verdict
                assert sorted(v.judge for v in votes) == sorted(evaluation.panel)
            assert len({a.evaluation_id for a in attempts}) == len(attempts)
        assert session.get(Job, jobs[0]).finished_at is not None
