"""Outside probe F12: the database goes away while a judged generation (`sentinel.task`) waits for its job. The job
exists and goes on, so the answer is not OpenAI's "try again" (the SDK retries a 503, and a retry starts a second job
that buys its images again): it says not to retry and names the job, in a header and in the body, as the answer of a
server that stops does."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest
import yaml

from tests.conftest import REPO, clean_env, own_postgres_database, start_server
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def test_a_database_blip_while_a_judged_request_waits_names_its_job_and_is_not_retried(tmp_path: Path) -> None:
    routes = yaml.safe_load((REPO / "sentinel" / "providers" / "routes.yaml").read_text())
    routes["models"]["slow-local"] = {
        "sizes": ["1024x1024"],
        "candidates": [{"target": "local:procedural", "params": {"inject": "slow", "slow_seconds": 4}}],
    }
    (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
    with own_postgres_database() as database:
        parts = urlsplit(database)
        with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            env = clean_env(
                SENTINEL_DATA_DIR=str(tmp_path / "data"),
                SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
                SENTINEL_DATABASE_URL=proxy.url("postgresql", parts.username or "", parts.path),
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
                    # The job exists once the request is being served: then the database goes away under it.
                    while not httpx.get(f"{base}/v1/jobs", timeout=10).json()["data"]:
                        assert not pending.done(), pending.result()
                    proxy.cut()
                    try:
                        error = pending.exception(timeout=60)
                    finally:
                        proxy.restore()
                jobs = httpx.get(f"{base}/v1/jobs", timeout=10).json()["data"]
            finally:
                server.stop()
    assert isinstance(error, openai.APIStatusError), error
    answer = error.response
    assert answer.status_code == 503, answer.text
    # Answered once: the SDK did not retry into a second job.
    assert answer.request.headers["x-stainless-retry-count"] == "0"
    assert answer.headers["x-should-retry"] == "false"
    job_id = answer.headers["x-sentinel-job-id"]
    problem = answer.json()["error"]
    assert problem["code"] == "database_unavailable" and problem["job_id"] == job_id
    assert "database" in problem["message"] and f"GET /v1/jobs/{job_id}" in problem["message"]
    assert [job["id"] for job in jobs] == [job_id]
