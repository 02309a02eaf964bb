"""Probe G5 and outside probe F12, the judged request's side: `sentinel serve` stopped while a judged generation
(`sentinel.task`) waits for its job. The wait is the request itself, so it is not ended when the stop starts; a moment
before the grace period ends it answers 503 `server_stopping` in OpenAI's shape, not uvicorn's bare 500, and nothing
is logged at ERROR. The job goes on (the embedded worker finishes what it can in its own grace period, and the next
start resumes the rest), so the answer tells the OpenAI SDK not to retry (`x-should-retry: false`: a retry would
start a second job and buy its images again) and names the job, in a header and in the body, to be read instead."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import yaml

from tests.conftest import REPO, clean_env, start_server


def test_a_judged_request_waiting_at_sigterm_names_its_job_and_is_not_retried(tmp_path: Path) -> None:
    routes = yaml.safe_load((REPO / "sentinel" / "providers" / "routes.yaml").read_text())
    routes["models"]["slow-local"] = {
        "sizes": ["1024x1024"],
        "candidates": [{"target": "local:procedural", "params": {"inject": "slow", "slow_seconds": 6}}],
    }
    (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
        SENTINEL_SHUTDOWN_GRACE_SECONDS="3",
        # A lease the next start sees run out soon, should the attempt still be under way when the worker stops.
        SENTINEL_GENERATION_LEASE_SECONDS="3",
    )
    server, base = start_server(env, tmp_path / "serve.log")
    # The SDK as users run it: it retries a 503 unless told not to.
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=2)
    try:

        def generate() -> object:
            return client.images.generate(
                prompt="a red ball", model="slow-local", extra_body={"sentinel": {"task": "text-to-image"}}
            )

        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(generate)
            # The job exists once the request is being served: then SIGTERM finds it waiting.
            while not httpx.get(f"{base}/v1/jobs", timeout=10).json()["data"]:
                assert not pending.done(), pending.result()
            server.process.send_signal(signal.SIGTERM)
            error = pending.exception(timeout=30)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    assert isinstance(error, openai.APIStatusError), error
    answer = error.response
    assert answer.status_code == 503, answer.text
    # Answered once: the SDK did not retry into a second job.
    assert answer.request.headers["x-stainless-retry-count"] == "0"
    assert answer.headers["x-should-retry"] == "false" and "retry-after" not in answer.headers
    job_id = answer.headers["x-sentinel-job-id"]
    assert job_id.startswith("job_")
    problem = answer.json()["error"]
    assert problem["code"] == "server_stopping" and problem["job_id"] == job_id
    assert f"GET /v1/jobs/{job_id}" in problem["message"]
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
