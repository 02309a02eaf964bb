"""Ctrl-C during `sentinel compare` keeps what was done: the reports are written for the jobs that finished, and it
says how far it got (exit 130). It wrote no report at all, so the jobs already paid for were only on the server."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import yaml

from tests.conftest import SENTINEL, clean_env, start_server


def test_ctrl_c_writes_the_reports_of_the_finished_jobs(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    suite = tmp_path / "suite.yaml"
    prompts = [f"a red ball number {n}" for n in range(12)]
    suite.write_text(
        yaml.safe_dump({"task": "text-to-image", "models": ["sentinel-local"], "prompts": prompts, "concurrency": 1})
    )
    report_file, page = tmp_path / "report.json", tmp_path / "report.html"
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        process = subprocess.Popen(
            [SENTINEL, "compare", str(suite), "--server", base, "--json", str(report_file), "--html", str(page)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # As a terminal's Ctrl-C reaches it, whatever the test runner does with SIGINT itself.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        # One job at a time: the second exists once the first's outcome is back with the command.
        deadline = time.monotonic() + 240
        while len(httpx.get(f"{base}/v1/jobs", timeout=10).json()["data"]) < 2:
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=240)
    finally:
        server.stop()
    assert process.returncode == 130, stderr[-2000:]
    report = json.loads(report_file.read_text())
    finished = [run for run in report["runs"] if run["job_id"]]
    assert 1 <= len(finished) < len(prompts), report["runs"]
    assert f"interrupted after {len(report['runs'])} of {len(prompts)} jobs" in stderr
    assert page.read_text().strip()
