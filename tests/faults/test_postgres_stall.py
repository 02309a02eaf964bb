"""PostgreSQL that stops answering without closing anything (a stuck server, a lock pile-up, a partition with no
reset): the API answers 503 with Retry-After within its database timeout, not as long as the database stalls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import clean_env, start_server
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

#: Concurrent requests during the stall: more than the pool's 10 connections and 10 of overflow.
BURST = 30


def test_a_stalled_database_gets_a_prompt_503_naming_it(database, tmp_path) -> None:
    parts = urlsplit(database)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        through_proxy = proxy.url("postgresql", parts.username or "", parts.path)
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_DATABASE_URL=through_proxy,
            SENTINEL_DATABASE_TIMEOUT_SECONDS="2",
        )
        server, base = start_server(env, tmp_path / "api.log")
        try:
            # Pooled connections are open and idle when the database stops answering.
            assert httpx.get(f"{base}/v1/jobs?limit=1", timeout=10).status_code == 200
            proxy.stall()
            try:
                # A request held until the database came back would end in httpx's ReadTimeout here.
                stalled = [httpx.get(f"{base}/v1/jobs?limit=1", timeout=20) for _ in range(2)]
                # More at once than the pool holds: those left waiting for a connection get the same answer.
                with ThreadPoolExecutor(BURST) as pool:
                    stalled += pool.map(lambda _: httpx.get(f"{base}/v1/jobs?limit=1", timeout=20), range(BURST))
            finally:
                proxy.restore()
            after = httpx.get(f"{base}/v1/jobs?limit=1", timeout=10)
        finally:
            server.stop()
    for answer in stalled:
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert "database" in answer.json()["error"]["message"]
    # Back: the pool replaced the connections it gave up on.
    assert after.status_code == 200, after.text
