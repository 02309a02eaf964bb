"""`sentinel serve` on a port that is taken says so in one line and exits 2, before its banner and before any
embedded worker starts."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SENTINEL, clean_env


@pytest.mark.parametrize("how", ["option", "setting"])
def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path, how: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
        args = [SENTINEL, "serve"]
        if how == "option":
            args += ["--port", str(port)]
        else:
            env["SENTINEL_PORT"] = str(port)
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: port {port} is already in use (another `sentinel serve`?); pass --port or set SENTINEL_PORT"
    ]
