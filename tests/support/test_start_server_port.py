"""The suite's `sentinel serve` helper survives a port taken between choosing it and binding it (tests run in
parallel, each picking ports)."""

from __future__ import annotations

import socket

import httpx
import pytest

import tests.conftest as conftest
from tests.conftest import clean_env, start_server


def test_a_server_whose_port_was_taken_meanwhile_starts_on_another(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        ports = iter([taken_port])
        real_free_port = conftest.free_port
        monkeypatch.setattr(conftest, "free_port", lambda: next(ports, None) or real_free_port())
        server, base = start_server(clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")), tmp_path / "serve.log")
        try:
            assert not base.endswith(f":{taken_port}")
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        finally:
            server.stop()
