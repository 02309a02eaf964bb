"""Probe G5, the judged request's side: `sentinel serve` stopped while a judged generation (`sentinel.task`) waits
for its job. The wait is the request itself, so it is not ended when the stop starts; a moment before the grace
period ends it answers OpenAI's "try again" (503 `server_stopping`, Retry-After, the job's id), not uvicorn's bare
500, and nothing is logged at ERROR."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

from tests.conftest import REPO, clean_env, start_server


def test_a_judged_request_waiting_at_sigterm_answers_503_server_stopping(tmp_path: Path) -> None:
    routes = yaml.safe_load((REPO / "sentinel" / "providers" / "routes.yaml").read_text())
    routes["models"]["slow-local"] = {
        "sizes": ["1024x1024"],
        "candidates": [{"target": "local:procedural", "params": {"inject": "slow", "slow_seconds": 30}}],
    }
    (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
        SENTINEL_SHUTDOWN_GRACE_SECONDS="3",
    )
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        body = {"prompt": "a red ball", "model": "slow-local", "sentinel": {"task": "text-to-image"}}
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.post, f"{base}/v1/images/generations", json=body, timeout=60)
            # The job exists once the request is being served: then SIGTERM finds it waiting.
            while not httpx.get(f"{base}/v1/jobs", timeout=10).json()["data"]:
                assert not pending.done(), pending.result().text
            server.process.send_signal(signal.SIGTERM)
            answer = pending.result(timeout=30)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1" and answer.headers["x-sentinel-job-id"].startswith("job_")
    assert answer.json()["error"]["code"] == "server_stopping"
    # The job goes on: the answer names where to read it, rather than only inviting a retry that pays again.
    job_id = answer.headers["x-sentinel-job-id"]
    assert f"GET /v1/jobs/{job_id}" in answer.json()["error"]["message"]
    log = (tmp_path / "serve.log").read_text(errors="replace")
    assert "ERROR" not in log and "Traceback" not in log, log[-4000:]
