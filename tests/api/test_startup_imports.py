"""The API process loads what answering requests needs, not the judges' engines: a production API (workers in
their own processes) never judges, and OpenCV, OCR and ONNX would cost it memory and start-up time. Checked by
what the process loads, not by a clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import clean_env

#: The judges' engines: imported by the workers when they first judge, never by building the API.
JUDGE_ENGINES = ("cv2", "rapidocr", "onnxruntime", "skimage", "scipy")

PROBE = """
import json, sys
from sentinel.api.app import create_app
app = create_app()
print("LOADED " + json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))
"""


def test_building_the_api_loads_no_judge_engine(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(JUDGE_ENGINES)],
        capture_output=True,
        text=True,
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")),
        timeout=120,
    )
    marker = [line for line in result.stdout.splitlines() if line.startswith("LOADED ")]
    assert marker, result.stdout + result.stderr
    assert json.loads(marker[-1].removeprefix("LOADED ")) == []
