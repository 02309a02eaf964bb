"""How many copies of an image one gateway request holds at once: at most 3 (the issue's budget), measured
with tracemalloc over Sentinel's whole process while one 4 MiB image is generated, stored and answered."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, clean_env


def test_one_request_holds_at_most_three_copies_of_its_image() -> None:
    probe = subprocess.run(
        [sys.executable, "-m", "tests.gateway.memory_probe", str(4 * 1024 * 1024)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    assert report["image_bytes"] > 4_000_000
    # The answer as received (base64, 4/3 of the image) is joined from its pieces once: that, not the answer
    # sent back, is the peak. A str of the base64 text, or an answer kept alive by a reference cycle, would
    # each add 4/3 of the image and break the budget.
    for response_format, copies in report["peak_copies"].items():
        assert 1.0 < copies <= 3.0, (response_format, copies)
