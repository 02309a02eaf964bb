"""The README's first command, as a newcomer runs it: a copy of the project, a fresh virtual environment, and
`sentinel serve` answering on the embedded defaults."""

from __future__ import annotations

import subprocess
import tarfile
import time

import httpx
import pytest

from tests.conftest import REPO, RunningProcess, clean_env, free_port
from tests.test_readme import shell_blocks


def copy_of_the_project(target) -> None:
    """The tracked files as they are in the working tree (what a clone of this commit holds)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    archive = target / "project.tar"
    with tarfile.open(archive, "w") as tar:
        for name in filter(None, files):
            path = REPO / name.decode()
            if path.exists():
                tar.add(path, arcname=name.decode())
    with tarfile.open(archive) as tar:
        tar.extractall(target / "sentinel", filter="data")


@pytest.mark.timeout(900)
def test_the_quick_start_command_sets_up_and_serves_in_a_fresh_environment(tmp_path) -> None:
    quick_start = shell_blocks()[0].strip()
    assert quick_start == "./scripts/setup && .venv/bin/sentinel serve"
    copy_of_the_project(tmp_path)
    project = tmp_path / "sentinel"
    port = free_port()
    server = RunningProcess(
        ["bash", "-c", quick_start], clean_env(SENTINEL_PORT=str(port)), tmp_path / "quickstart.log", cwd=project
    )
    try:
        deadline = time.monotonic() + 600  # a fresh venv installs every dependency first
        while True:
            assert server.process.poll() is None, server.output()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.5)
        assert (project / ".venv" / "bin" / "sentinel").exists()
        rubrics = httpx.get(f"http://127.0.0.1:{port}/v1/rubrics").json()
        assert {r["id"] for r in rubrics["data"]} >= {"text-to-image", "product-white-background"}
        assert "OPEN SERVER" in server.output()
    finally:
        server.kill()
