"""`sentinel generate --out` that cannot be a folder: refused before any image is generated (a provider may charge
for it), exit 2 naming the option, no traceback."""

from __future__ import annotations

import subprocess

from tests.conftest import SENTINEL, clean_env


def test_an_out_folder_that_cannot_be_made_is_refused_before_generating(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    for out in (blocker, blocker / "images"):
        ran = subprocess.run(
            [SENTINEL, "generate", "a red ball", "--size", "256x256", "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 2, (ran.returncode, ran.stderr[-2000:])
        assert "--out" in ran.stderr and "Traceback" not in ran.stderr, ran.stderr[-2000:]
        assert "attempts" not in ran.stdout, ran.stdout  # nothing was generated
