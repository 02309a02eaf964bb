"""`sentinel compare` with a model none of whose candidates can be called here (its provider's key is not set): no
job of it is sent, since every attempt could only record the same skip, and the report says why, naming the
variable to set. The other models run as usual."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.conftest import SENTINEL, clean_env


def test_a_model_whose_only_provider_has_no_key_is_not_run_and_the_report_says_why(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    env.pop("OPENAI_API_KEY", None)
    suite = tmp_path / "suite.yaml"
    models = ["openai:gpt-image-2.6-flare", "sentinel-local"]
    suite.write_text(yaml.safe_dump({"task": "text-to-image", "models": models, "prompts": ["a red ball"]}))
    report_file = tmp_path / "report.json"
    ran = subprocess.run(
        [SENTINEL, "compare", str(suite), "--json", str(report_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Exit 1: a job of the suite could not run.
    assert ran.returncode == 1, (ran.returncode, ran.stderr[-2000:])
    assert "OPENAI_API_KEY is not set" in ran.stderr, ran.stderr[-2000:]
    report = json.loads(report_file.read_text())
    runs = {run["model"]: run for run in report["runs"]}
    unconfigured = runs["openai:gpt-image-2.6-flare"]
    assert unconfigured["job_id"] is None and unconfigured["attempts"] == 0
    assert "OPENAI_API_KEY is not set" in unconfigured["error"], unconfigured
    rows = {row["model"]: row for row in report["models"]}
    assert rows["openai:gpt-image-2.6-flare"]["attempts"] == 0
    assert rows["openai:gpt-image-2.6-flare"]["rank"] == 2
    # The model that can be called ran its job.
    assert runs["sentinel-local"]["job_id"] and runs["sentinel-local"]["verdict"] is not None


def test_check_names_the_models_whose_jobs_would_not_run(tmp_path: Path) -> None:
    # "valid, 24 jobs" and then a run in which 18 could not: the check says so before anything is paid for.
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    env.pop("OPENAI_API_KEY", None)
    suite = tmp_path / "suite.yaml"
    models = ["openai:gpt-image-2.6-flare", "sentinel-local"]
    suite.write_text(yaml.safe_dump({"task": "text-to-image", "models": models, "prompts": ["a red ball"]}))
    ran = subprocess.run(
        [SENTINEL, "compare", str(suite), "--check"], env=env, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "valid, 2 jobs" in ran.stdout
    assert "openai:gpt-image-2.6-flare: its jobs will not run here" in ran.stderr, ran.stderr
    assert "OPENAI_API_KEY is not set" in ran.stderr and "sentinel-local:" not in ran.stderr
