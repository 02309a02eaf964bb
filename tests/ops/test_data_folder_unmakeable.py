"""A data folder that cannot be made (a typo, a read-only mount, a path under a file) is named as the data folder by
`serve`, `worker` and `doctor`: `serve` used to blame the reviewer-keys file inside it, and doctor said the first
start would make it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sentinel.ops.doctor import run_checks
from sentinel.settings import Settings
from tests.conftest import clean_env, free_port


def unmakeable(tmp_path: Path) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a folder should be")
    return blocker / "data"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinel.cli", *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_names_the_data_folder_it_cannot_make(tmp_path: Path) -> None:
    data = unmakeable(tmp_path)
    done = run("serve", "--port", str(free_port()), SENTINEL_DATA_DIR=str(data))
    assert done.returncode == 2, done.stderr
    assert f"cannot make the data folder {data} (SENTINEL_DATA_DIR)" in done.stderr, done.stderr
    assert "reviewer" not in done.stderr and "Traceback" not in done.stderr


def test_worker_names_the_data_folder_it_cannot_make(tmp_path: Path) -> None:
    data = unmakeable(tmp_path)
    done = run("worker", SENTINEL_DATA_DIR=str(data), SENTINEL_REDIS_URL="redis://127.0.0.1:6379/0")
    assert done.returncode == 2, done.stderr
    assert f"cannot make the data folder {data} (SENTINEL_DATA_DIR)" in done.stderr, done.stderr


def test_doctor_does_not_promise_a_database_file_it_cannot_make(tmp_path: Path) -> None:
    data = unmakeable(tmp_path)
    results = {r.name: r for r in run_checks(Settings(data_dir=data), timeout=5)}
    database = results["database"]
    assert not database.ok, database
    assert "cannot be created" in database.detail and "first start creates it" not in database.detail
    assert "SENTINEL_DATA_DIR" in database.hint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"], "doctor leaves nothing behind"
