"""Probe G5 and outside probe F12, the judged request's side: `sentinel serve` stopped while a judged generation
(`sentinel.task`) waits for its job. The wait is the request itself, so it is not ended when the stop starts; a moment
before the grace period ends it answers 503 `server_stopping` in OpenAI's shape, not uvicorn's bare 500, and nothing
is logged at ERROR. The job goes on (the embedded worker finishes what it can in its own grace period, and the next
start resumes the rest), so the answer tells the OpenAI SDK not to retry (`x-should-retry: false`: a retry would
start a second job and buy its images again) and names the job, in a header and in the body, to be read instead."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.conftest import clean_env, start_server
from tests.support.judged_request import interrupted_judged_request, job_named_by_unretried_answer, slow_local_routes


def test_a_judged_request_waiting_at_sigterm_names_its_job_and_is_not_retried(tmp_path: Path) -> None:
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_ROUTES=str(slow_local_routes(tmp_path, 6)),
        SENTINEL_SHUTDOWN_GRACE_SECONDS="3",
        # A lease the next start sees run out soon, should the attempt still be under way when the worker stops.
        SENTINEL_GENERATION_LEASE_SECONDS="3",
    )
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        error = interrupted_judged_request(base, lambda: server.process.send_signal(signal.SIGTERM), timeout=30)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    job_id = job_named_by_unretried_answer(error, "server_stopping")
    assert "retry-after" not in error.response.headers
    log = (tmp_path / "serve.log").read_text(errors="replace")
    assert "ERROR" not in log and "Traceback" not in log, log[-4000:]

    # The job went on: finished before the worker stopped, or resumed by the next start; either way it delivers.
    server, base = start_server(env, tmp_path / "serve-again.log")
    try:
        job = httpx.get(f"{base}/v1/jobs/{job_id}", params={"wait": 60}, timeout=90).json()
        jobs = httpx.get(f"{base}/v1/jobs", timeout=10).json()["data"]
    finally:
        server.stop()
    assert job["state"] == "done" and job["result"]["images"][0]["image"] is not None, job
    assert [j["id"] for j in jobs] == [job_id]
