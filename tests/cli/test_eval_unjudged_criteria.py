"""A task whose criteria include a kind no judge of the panel owns is refused, naming the criteria and the fix, in
``sentinel eval`` as on the server (outside probe H8 F2): in-process, its vision criterion was silently never asked
and the verdict said "green: all 2 criteria" of a rubric of 3."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import SENTINEL, clean_env

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ["--param", "text=OPEN 24/7", "--json"]
LOOKS_GOOD = {"id": "looks-good", "must": "Looks good.", "judge": "vision", "ask": "Good? Pass if so."}


def with_a_vision_criterion(tmp_path: Path) -> Path:
    """A rubrics folder whose text-render task has a vision criterion besides its offline ones."""
    rubric = yaml.safe_load((ROOT / "rubrics" / "text-render.yaml").read_text())
    rubric["criteria"].append(LOOKS_GOOD)
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    (rubrics / "text-render.yaml").write_text(yaml.safe_dump(rubric))
    return rubrics


def test_a_vision_criterion_with_no_vision_judge_is_refused_not_dropped(tmp_path) -> None:
    rubrics = with_a_vision_criterion(tmp_path)
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


def test_a_job_of_such_a_task_is_refused_before_anything_is_generated(tmp_path) -> None:
    from sentinel.errors import InvalidInput
    from sentinel.jobs.schemas import JobCreate
    from sentinel.jobs.service import JobService
    from sentinel.settings import Settings
    from sentinel.wiring import build_services

    rubrics = with_a_vision_criterion(tmp_path)
    services = build_services(Settings(data_dir=tmp_path / "data", rubrics_dir=rubrics))  # type: ignore[call-arg]
    # No generation service: the refusal must come before anything would be generated.
    jobs = JobService(services, lambda: None)  # type: ignore[arg-type, return-value]
    body = JobCreate(task="text-render", prompt="a sign", params={"text": "OPEN"})
    with pytest.raises(InvalidInput, match="looks-good"):
        jobs.precheck(body, [])
