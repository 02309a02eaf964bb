"""``sentinel eval`` given a URL says it judges local files and how to judge the URL (outside probe H8 F1): the URL
was folded to ``https:/host/a.png`` and reported "No such file or directory"."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import SENTINEL, clean_env


def test_a_url_argument_or_manifest_row_is_refused_naming_the_way_to_judge_it(tmp_path) -> None:
    manifest = tmp_path / "shots.jsonl"
    manifest.write_text(json.dumps({"image": "http://127.0.0.1:9/b.png", "task": "text-to-image"}) + "\n")
    for arguments in (["https://example.com/a.png"], ["--manifest", str(manifest)]):
        run = subprocess.run(
            [SENTINEL, "eval", *arguments, "--task", "text-to-image", "--json"],
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd=tmp_path,
            timeout=120,
        )
        assert run.returncode == 1, run.stdout + run.stderr
        [row] = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        assert row["image"] in ("https://example.com/a.png", "http://127.0.0.1:9/b.png")
        assert "judges local files, not URLs" in row["error"] and "image_url" in row["error"], row
