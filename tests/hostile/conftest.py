"""Real `sentinel serve` processes for hostile clients to talk to over real sockets."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_URL, clean_env, delete_redis_keys, start_server

#: A small image cap makes the body cap (three images plus 1 MB of form) small enough to overrun quickly.
MAX_IMAGE_BYTES = 256 * 1024
BODY_CAP = 3 * MAX_IMAGE_BYTES + 1024 * 1024
#: The upload deadline the servers are started with (SENTINEL_BODY_READ_TIMEOUT_SECONDS).
BODY_READ_TIMEOUT = 2.0

COMMON = {
    "SENTINEL_MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES),
    "SENTINEL_BODY_READ_TIMEOUT_SECONDS": str(BODY_READ_TIMEOUT),
    # Hostile tests send a lot from one address; rate limiting is not what they test.
    "SENTINEL_ANONYMOUS_RPM": "1000000",
}


@pytest.fixture(scope="package")
def strict_api(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The embedded default (SQLite, blobs on disk) with no private network allowed: every local URL is refused.
    Yields the base URL and the data dir."""
    data = tmp_path_factory.mktemp("strict")
    server, base = start_server(clean_env(SENTINEL_DATA_DIR=str(data), **COMMON), data / "serve.log")
    yield base, data
    server.stop()
    assert_no_server_errors(server.output())


@pytest.fixture(scope="package")
def pg_api(postgres_url, tmp_path_factory) -> Iterator[str]:
    """The production shape (PostgreSQL, Redis broker; no worker needed to refuse input), where 127.0.0.1
    counts as public so that a redirector of our own can stand in for a public host."""
    data = tmp_path_factory.mktemp("pg")
    namespace = f"sentinel-test-{uuid.uuid4().hex[:10]}"
    env = clean_env(
        SENTINEL_DATA_DIR=str(data),
        SENTINEL_DATABASE_URL=postgres_url,
        SENTINEL_REDIS_URL=REDIS_URL,
        SENTINEL_REDIS_NAMESPACE=namespace,
        SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
        **COMMON,
    )
    server, base = start_server(env, data / "serve.log")
    yield base
    server.stop()
    delete_redis_keys(namespace)
    assert_no_server_errors(server.output())


def assert_no_server_errors(log: str) -> None:
    """Whatever the hostile clients sent, the server logged no unhandled error and answered no 5xx."""
    assert "Traceback" not in log, log
    assert not re.search(r'" 5\d\d ', log), log


def assert_error(response: httpx.Response, status: int, error_type: str, *words: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == error_type, error
    for word in words:
        assert word in error["message"], error["message"]
    return error
