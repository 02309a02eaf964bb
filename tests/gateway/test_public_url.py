"""Behind a TLS proxy the gateway's image URLs must be the address clients use: SENTINEL_PUBLIC_URL, not the
request's scheme and Host (http:// behind the proxy, and whatever Host a client forges)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from sentinel.ops.doctor import run_checks
from sentinel.settings import Settings
from tests.conftest import SENTINEL, clean_env, start_server
from tests.keys.test_keys import create_key

BODY = {"model": "sentinel-local", "prompt": "a red lighthouse", "size": "256x256", "response_format": "url"}


def image_url(base: str, key: str) -> str:
    headers = {"Host": "evil.example", "Authorization": f"Bearer {key}"}
    answer = httpx.post(f"{base}/v1/images/generations", json=BODY, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"][0]["url"])


def test_image_urls_are_built_on_the_public_url_whatever_host_the_request_names(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_PUBLIC_URL="https://images.example.com/")
    key = create_key(env, "--name", "public-url")
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        url = image_url(base, key)
        assert url.startswith("https://images.example.com/v1/images/"), url
        # The URL works where the proxy sends it: here, straight at the server.
        assert httpx.get(base + url.removeprefix("https://images.example.com"), timeout=10).status_code == 200
    finally:
        server.stop()


def test_without_it_the_request_names_the_host_and_doctor_says_so(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    key = create_key(env, "--name", "public-url")
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        assert image_url(base, key).startswith("http://evil.example/v1/images/")
    finally:
        server.stop()
    bind = {r.name: r for r in run_checks(Settings(data_dir=tmp_path / "d", host="0.0.0.0"))}["bind"]
    assert bind.status == "warn" and "SENTINEL_PUBLIC_URL" in bind.hint
    quiet = {r.name: r for r in run_checks(Settings(data_dir=tmp_path / "d", host="0.0.0.0", public_url="https://a.b"))}
    assert quiet["bind"].status == "ok" and "https://a.b" in quiet["bind"].detail


@pytest.mark.parametrize("value", ["sentinel.example.com", "ftp://x.example", "https://", "https://x.example/?a=1"])
def test_a_bad_public_url_is_refused_naming_the_variable(tmp_path: Path, value: str) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_PUBLIC_URL=value)
    done = subprocess.run([SENTINEL, "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "SENTINEL_PUBLIC_URL" in done.stderr and "https://sentinel.example.com" in done.stderr
