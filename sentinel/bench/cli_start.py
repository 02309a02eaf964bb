"""How long the `sentinel` command takes from a shell: `--help`, and `eval` of one 1024² image in-process (most of
which is start-up: the judges' imports, the OCR models, the rubrics), in fresh processes.

Each run is timed twice: on the wall clock, which on a shared machine also counts the other programs' turns on the
cores, and in CPU time (user + system) of the command's process and every process it waited for, which is what the
command itself costs whatever else runs."""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sentinel.bench import Progress, quiet
from sentinel.providers.local import render


def _children_cpu_seconds() -> float:
    """CPU time of this process's children that have ended and been waited for (theirs in turn included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system of the process and its descendants), in ms, of one run of
    ``command``. The CPU is the growth of this process's finished children's: the bench runs one at a time."""
    cpu_before = _children_cpu_seconds()
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=False, timeout=300)
    wall = (time.perf_counter() - started) * 1000
    return wall, (_children_cpu_seconds() - cpu_before) * 1000


def run(runs: int, side: int = 1024, progress: Progress = quiet) -> list[dict[str, Any]]:
    """Median, best and worst wall time and CPU time of each command over ``runs`` fresh processes (after one
    warm-up run, so the OS file cache holds the libraries as it does on a machine in use)."""
    sentinel = str(Path(sys.executable).parent / "sentinel")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-cli-") as tmp:
        image = Path(tmp) / "image.png"
        image.write_bytes(render("a lighthouse on a cliff at dusk", side, side, 7))
        commands = {
            "sentinel --help": [sentinel, "--help"],
            f"sentinel eval IMAGE ({side}², text-to-image)": [
                sentinel, "eval", str(image), "--task", "text-to-image", "--json", "--fail-on", "never",
            ],
        }  # fmt: skip
        for name, command in commands.items():
            timed(command)
            walls, cpus = zip(*(timed(command) for _ in range(runs)), strict=True)
            rows.append(
                {
                    "command": name,
                    "runs": runs,
                    # Wall clock (elapsed) ...
                    "median_ms": round(statistics.median(walls), 1),
                    "min_ms": round(min(walls), 1),
                    "max_ms": round(max(walls), 1),
                    # ... and CPU time, user + system, of the command's processes.
                    "median_cpu_ms": round(statistics.median(cpus), 1),
                    "min_cpu_ms": round(min(cpus), 1),
                    "max_cpu_ms": round(max(cpus), 1),
                    "clocks": CLOCKS,
                }
            )
            progress(
                f"{name}: {rows[-1]['median_ms']:.0f} ms median wall, {rows[-1]['median_cpu_ms']:.0f} ms median CPU"
            )
    return rows


#: What each kind of figure in a row measures (written into every row, so a JSON file read alone says it).
CLOCKS = {
    "*_ms": "wall clock: elapsed time, which other work on a shared machine inflates",
    "*_cpu_ms": "CPU time: user + system of the command's process and of the processes it waited for",
}
