"""How long the `sentinel` command takes from a shell: `--help`, and `eval` of one 1024² image in-process (most of
which is start-up: the judges' imports, the OCR models, the rubrics), as wall time of fresh processes."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sentinel.bench import Progress, quiet
from sentinel.providers.local import render


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=False, timeout=300)
    return (time.perf_counter() - started) * 1000


def run(runs: int, side: int = 1024, progress: Progress = quiet) -> list[dict[str, Any]]:
    """Median, best and worst wall time of each command over ``runs`` fresh processes (after one warm-up run,
    so the OS file cache holds the libraries as it does on a machine in use)."""
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
            _wall(command)
            times = [_wall(command) for _ in range(runs)]
            rows.append(
                {
                    "command": name,
                    "runs": runs,
                    "median_ms": round(statistics.median(times), 1),
                    "min_ms": round(min(times), 1),
                    "max_ms": round(max(times), 1),
                }
            )
            progress(f"{name}: {rows[-1]['median_ms']:.0f} ms median")
    return rows
