"""Benchmarks say how far they are on stderr while they run; their table on stdout stays as it was."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import SENTINEL, clean_env


def test_bench_judges_prints_a_line_per_finished_step_on_stderr_and_cpu_time_beside_wall_time(tmp_path) -> None:
    result = subprocess.run(
        [SENTINEL, "bench", "judges", "--side", "64", "--runs", "1", "--json", str(tmp_path / "judges.json")],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("bench judges") and lines[0].endswith("started")
    for task in ("text-to-image", "product-white-background", "text-render", "object-removal", "background-replace"):
        assert any(f"64² {task}: " in line and "ms median" in line for line in lines), (task, result.stderr)
    assert lines[-1].startswith("bench judges") and lines[-1].endswith("done")
    # The steps go to stderr only: stdout is the table, as before.
    assert "sentinel eval per PNG, median ms" in result.stdout and "ms median" not in result.stdout
    # CPU time (which a loaded machine does not inflate) beside each wall time, each named.
    for words in ("wall ms", "CPU ms", "PNG decode wall ms", "PNG decode CPU ms", "decode CPU ms", "wall: elapsed"):
        assert words in result.stdout, result.stdout
    for row in json.loads((tmp_path / "judges.json").read_text()):
        for wall, cpu in (("median_ms", "cpu_ms"), ("png_decode_ms", "png_decode_cpu_ms")):
            assert row[wall] > 0 and row[cpu] > 0, row
        assert row["inputs_decode_cpu_ms"] >= row["png_decode_cpu_ms"] * 0.5, row
        assert set(row["clocks"]) == {"*_ms, decode_multiple", "*_cpu_ms, decode_multiple_cpu"}


def test_bench_cli_times_help_and_one_eval_in_fresh_processes(tmp_path) -> None:
    result = subprocess.run(
        [SENTINEL, "bench", "cli", "--runs", "1", "--side", "64", "--json", str(tmp_path / "cli.json")],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "cli.json").read_text())
    assert [row["command"] for row in rows] == ["sentinel --help", "sentinel eval IMAGE (64², text-to-image)"]
    assert all(row["runs"] == 1 and 0 < row["min_ms"] <= row["median_ms"] <= row["max_ms"] for row in rows)
    assert "sentinel --help: " in result.stderr and "fresh processes" in result.stdout
    # CPU time beside wall time, each named.
    for words in ("wall median ms", "CPU median ms", "wall: elapsed time", "CPU: user + system time"):
        assert words in result.stdout, result.stdout
    for row in rows:
        assert 0 < row["min_cpu_ms"] <= row["median_cpu_ms"] <= row["max_cpu_ms"], row
        assert "wall clock" in row["clocks"]["*_ms"] and "CPU" in row["clocks"]["*_cpu_ms"]
