"""Outside probe F12: the database goes away while a judged generation (`sentinel.task`) waits for its job. The job
exists and goes on, so the answer is not OpenAI's "try again" (the SDK retries a 503, and a retry starts a second job
that buys its images again): it says not to retry and names the job, in a header and in the body, as the answer of a
server that stops does."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import clean_env, own_postgres_database, start_server
from tests.support.judged_request import interrupted_judged_request, job_named_by_unretried_answer, slow_local_routes
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def test_a_database_blip_while_a_judged_request_waits_names_its_job_and_is_not_retried(tmp_path: Path) -> None:
    with own_postgres_database() as database:
        parts = urlsplit(database)
        with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            env = clean_env(
                SENTINEL_DATA_DIR=str(tmp_path / "data"),
                SENTINEL_ROUTES=str(slow_local_routes(tmp_path, 4)),
                SENTINEL_DATABASE_URL=proxy.url("postgresql", parts.username or "", parts.path),
            )
            server, base = start_server(env, tmp_path / "serve.log")
            try:
                try:
                    error = interrupted_judged_request(base, proxy.cut, timeout=60)
                finally:
                    proxy.restore()
                jobs = httpx.get(f"{base}/v1/jobs", timeout=10).json()["data"]
            finally:
                server.stop()
    job_id = job_named_by_unretried_answer(error, "database_unavailable")
    assert "database" in error.response.json()["error"]["message"]
    assert [job["id"] for job in jobs] == [job_id]
