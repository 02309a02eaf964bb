"""The mistakes people make with keys are named: a key sent without 'Bearer ', a key in another API's header, a
key name that would forge a log line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.conftest import SENTINEL, start_server
from tests.keys.test_keys import create_key, embedded_env, fake

__all__ = ["fake"]  # a fixture, used by name


def test_a_key_sent_without_bearer_or_in_another_header_is_told_how_to_send_it(tmp_path: Path, fake) -> None:
    env = embedded_env(tmp_path, fake[0])
    token = create_key(env, "--name", "ci-bot", "--scopes", "generate")
    server, base = start_server(env, tmp_path / "api.log")
    try:
        body = {"model": "house", "prompt": "a cup"}
        bare = httpx.post(f"{base}/v1/images/generations", json=body, headers={"Authorization": token})
        assert bare.status_code == 401
        message = bare.json()["error"]["message"]
        assert "no Bearer token" in message and "'Authorization: Bearer <key>'" in message, message
        assert token not in message
        other = httpx.post(f"{base}/v1/images/generations", json=body, headers={"x-api-key": token})
        assert other.status_code == 401
        assert "does not read a key from the x-api-key header" in other.json()["error"]["message"]
        none = httpx.post(f"{base}/v1/images/generations", json=body)
        assert "You didn't provide an API key" in none.json()["error"]["message"]
    finally:
        server.stop()


def test_a_key_name_with_a_line_break_is_refused(tmp_path: Path, fake) -> None:
    env = embedded_env(tmp_path, fake[0])
    forged = 'rev\r\nINFO      sentinel.access: "GET /admin" 200 forged'
    done = subprocess.run(
        [SENTINEL, "keys", "create", "--name", forged, "--scopes", "review"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "control characters" in done.stderr
    listed = subprocess.run([SENTINEL, "keys", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert "forged" not in listed.stdout
