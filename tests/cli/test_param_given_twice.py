"""`sentinel eval --param text=a --param text=b` is refused naming the parameter (exit 2): it judged the image against
'b' only, without a word, so the run answered a question the caller may not have asked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import FIXTURES, SENTINEL, clean_env


def test_a_param_given_twice_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    image = FIXTURES / "text-render" / "misspelled.jpg"
    command = [SENTINEL, "eval", str(image), "--task", "text-render", "--param", "text=a", "--param", "text=b"]
    done = subprocess.run(
        command, env=clean_env(SENTINEL_DATA_DIR=str(tmp_path)), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--param text given twice" in done.stderr


def test_a_manifest_row_naming_a_param_twice_is_not_judged(tmp_path: Path) -> None:
    image = FIXTURES / "text-render" / "misspelled.jpg"
    manifest = tmp_path / "suite.jsonl"
    manifest.write_text(
        f'{{"image": "{image}", "task": "text-render", "params": {{"text": "a", "text": "b"}}}}\n'
        f'{{"image": "{image}", "task": "text-render", "params": "{{\\"text\\": \\"a\\", \\"text\\": \\"b\\"}}"}}\n'
    )
    done = subprocess.run(
        [SENTINEL, "eval", "--manifest", str(manifest), "--json"],
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [row["verdict"] for row in rows] == [None, None], done.stdout + done.stderr
    assert all("key 'text' is given twice" in row["error"] for row in rows), rows
