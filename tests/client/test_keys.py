"""The client on a server that has API keys: the key authenticates every call (decisions are recorded under its
name), a missing one is a 401 in words, and the key never goes to another address."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from sentinel.client import Sentinel, SentinelAPIError
from tests.client.fault_proxy import fault_proxy
from tests.conftest import FIXTURES, SENTINEL, clean_env, start_server

SHOTS = FIXTURES / "product-white-background"
TASK = "product-white-background"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A served Sentinel with one key, `ci-bot`, that may evaluate and review; (base URL, key)."""
    tmp = tmp_path_factory.mktemp("client-keys")
    env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"))
    created = subprocess.run(
        [SENTINEL, "keys", "create", "--name", "ci-bot", "--scopes", "generate,evaluate,review"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    server, base = start_server(env, tmp / "serve.log")
    try:
        yield base, created.stdout.strip()
    finally:
        server.stop()


def test_the_key_authenticates_and_names_the_reviewer(keyed: tuple[str, str]) -> None:
    base, key = keyed
    with Sentinel(base, api_key=key) as sentinel:
        shot = sentinel.evaluate(SHOTS / "watermark.jpg", TASK)
        decision = sentinel.decide(shot.id, "approve", note="our own watermark")
        image = sentinel.download(shot.image)
    assert (shot.verdict, decision.final_verdict, decision.reviewer) == ("amber", "green", "ci-bot")
    assert image == (SHOTS / "watermark.jpg").read_bytes()


def test_without_a_key_the_401_says_how_to_send_one(keyed: tuple[str, str]) -> None:
    base, _ = keyed
    with Sentinel(base) as sentinel, pytest.raises(SentinelAPIError) as raised:
        sentinel.list_jobs()
    error = raised.value
    assert (error.status_code, error.type, error.code) == (401, "invalid_request_error", "invalid_api_key")
    assert "Authorization: Bearer" in error.message


def test_the_key_is_not_sent_to_another_address(keyed: tuple[str, str]) -> None:
    base, key = keyed
    with Sentinel(base, api_key=key) as sentinel:
        shot = sentinel.evaluate(SHOTS / "good.jpg", TASK, wait=False)
        with fault_proxy(base) as elsewhere:
            # The same image through another address (as a CDN or an object store would serve it).
            image = sentinel.download(elsewhere.url + shot.image.url)
            [fetched] = elsewhere.requests("GET", "/v1/images/")
    assert image == (SHOTS / "good.jpg").read_bytes()
    assert not fetched.authorized
