"""`sentinel eval --server` checks the task and its params with the server once, before uploading any image, as
in-process judging does: a wrong --task or --param given for every image is the command's mistake (exit 2), not
every image's (exit 1 after uploading and storing each one to be refused)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES, SENTINEL, clean_env, start_server

IMAGES = [str(FIXTURES / "product-white-background" / name) for name in ("good.jpg", "watermark.jpg")]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--task", "nope"], "unknown task 'nope'"),
        (["--task", "text-render", "--param", "foo=1"], "unknown param 'foo' for task 'text-render'"),
        (["--task", "text-render"], "task 'text-render' needs param 'text'"),
    ],
)
def test_a_wrong_task_or_param_stops_before_any_upload(tmp_path: Path, arguments: list[str], words: str) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    server, base = start_server(env, tmp_path / "api.log")
    try:
        ran = subprocess.run(
            [SENTINEL, "eval", *IMAGES, *arguments, "--server", base],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        stored = httpx.get(f"{base}/v1/evaluations", timeout=30).json()["data"]
    finally:
        server.stop()
    assert ran.returncode == 2, (ran.returncode, ran.stderr[-2000:])
    assert words in ran.stderr, ran.stderr[-2000:]
    assert stored == []  # nothing was uploaded
