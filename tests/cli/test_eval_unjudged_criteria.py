"""A task whose criteria include a kind no judge of the panel owns is refused, naming the criteria and the fix, in
``sentinel eval`` as on the server (outside probe H8 F2): in-process, its vision criterion was silently never asked
and the verdict said "green: all 2 criteria" of a rubric of 3."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import SENTINEL, clean_env

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ["--param", "text=OPEN 24/7", "--json"]


def test_a_vision_criterion_with_no_vision_judge_is_refused_not_dropped(tmp_path) -> None:
    rubric = yaml.safe_load((ROOT / "rubrics" / "text-render.yaml").read_text())
    rubric["criteria"].append(
        {"id": "looks-good", "must": "Looks good.", "judge": "vision", "ask": "Good? Pass if so."}
    )
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    (rubrics / "text-render.yaml").write_text(yaml.safe_dump(rubric))
    run = subprocess.run(
        [SENTINEL, "eval", str(ROOT / "fixtures" / "text-render" / "open-24-7.jpg"), "--task", "text-render", *PARAMS],
        capture_output=True,
        text=True,
        env=clean_env() | {"SENTINEL_RUBRICS_DIR": str(rubrics), "SENTINEL_DATA_DIR": str(tmp_path / "data")},
        cwd=tmp_path,
        timeout=120,
    )
    said = run.stdout + run.stderr
    assert run.returncode != 0, said
    assert '"verdict": "green"' not in said, said
    assert "looks-good" in said and "SENTINEL_JUDGES_DIR" in said, said
