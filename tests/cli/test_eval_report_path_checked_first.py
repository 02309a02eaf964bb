"""A report path no file can be written at is a usage error before any image is judged (outside probe H8 F7): run as
root, the permission check passed for /proc, every image was judged, and the run ended in exit 2 with its reports
lost."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import SENTINEL, clean_env

IMAGE = Path(__file__).resolve().parents[2] / "fixtures" / "product-white-background" / "good.jpg"


def test_an_unwritable_report_path_stops_the_command_before_judging(tmp_path) -> None:
    for option in ("--output", "--junit"):
        run = subprocess.run(
            [SENTINEL, "eval", str(IMAGE), "--task", "product-white-background", option, "/proc/sentinel-report"],
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd=tmp_path,
            timeout=120,
        )
        assert run.returncode == 2, run.stdout + run.stderr
        assert f"{option} /proc/sentinel-report: not writable" in run.stderr, run.stderr
        assert "GREEN" not in run.stdout.upper() and "RED" not in run.stdout.upper(), run.stdout


def test_a_writable_report_path_is_not_left_behind_by_the_check(tmp_path) -> None:
    report = tmp_path / "reports" / "out.jsonl"
    run = subprocess.run(
        [SENTINEL, "eval", str(tmp_path / "missing.png"), "-t", "product-white-background", "--output", str(report)],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 1 and report.exists(), run.stdout + run.stderr  # written: the run finished
