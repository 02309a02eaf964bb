"""Ctrl-C during `sentinel eval` stops it: the images not started are dropped (only those in flight finish), the
reports are written for what was judged, and it says how far it got (exit 130). It judged every remaining image,
then wrote no report at all: the work done was lost, and a CI job's timeout waited for all of it. Its JUnit report
then read as a clean pass (no case for the images never judged)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from tests.conftest import REPO, SENTINEL, clean_env


def test_ctrl_c_keeps_what_was_judged_and_drops_the_rest(tmp_path: Path) -> None:
    images = sorted(p for p in (REPO / "fixtures").rglob("*") if p.suffix in (".png", ".jpg"))[:60]
    output, junit = tmp_path / "report.jsonl", tmp_path / "junit.xml"
    command = [SENTINEL, "eval", *map(str, images), "--task", "text-to-image", "--concurrency", "1", "--json"]
    command += ["--output", str(output), "--junit", str(junit)]
    process = subprocess.Popen(
        command,
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As a terminal's Ctrl-C reaches it, whatever the test runner does with SIGINT itself.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # one verdict is in: it is judging
    assert first, process.communicate()[1]
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=300)
    printed = [first, *rest.splitlines()]
    assert process.returncode == 130, stderr
    reported = [json.loads(line) for line in output.read_text().splitlines()]
    assert 1 <= len(reported) < len(images), "every image was judged after Ctrl-C"
    assert len(reported) == len([line for line in printed if line.strip()])
    assert f"interrupted after {len(reported)} of {len(images)} images" in stderr
    # The JUnit report says it is partial (a CI step that publishes it always would otherwise show a clean pass):
    # one case per judged image, and one error case for the images never judged.
    report = junit.read_text()
    assert report.count("<testcase") == len(reported) + 1
    assert f"interrupted: {len(images) - len(reported)} of {len(images)} images not judged" in report
    assert 'errors="0"' not in report
