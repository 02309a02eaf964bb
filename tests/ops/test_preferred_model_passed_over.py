"""A rubric's preferred_model that its jobs will not get (a misspelt name, or a model with no provider key here)
sends them to the default model: `sentinel doctor` says so, and the server logs it once, where before nothing did."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sentinel.ops.doctor import run_checks
from sentinel.settings import Settings
from tests.conftest import clean_env, start_server

RUBRIC = """\
id: {task}
title: Prefers a model
preferred_model: {model}
criteria:
  - id: sharp-one
    must: The picture is sharp.
    judge: pixels
    check: sharp
"""

ROUTES = """\
providers:
  local: {kind: local}
  paid: {kind: openai, base_url: 'https://example.invalid/v1', api_key_env: PREFERRED_TEST_KEY}
models:
  house: {candidates: [{target: 'local:procedural'}]}
  premium: {candidates: [{target: 'paid:gpt-image-1'}]}
default_model: house
"""


def _setup(tmp_path: Path, model: str) -> Settings:
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir(exist_ok=True)
    (rubrics / "signs.yaml").write_text(RUBRIC.format(task="signs", model=model))
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    return Settings(data_dir=tmp_path / "data", rubrics_dir=rubrics, routes=routes)


@pytest.mark.parametrize(
    ("model", "why"),
    [("hose", "the routing file has no model 'hose'"), ("premium", "PREFERRED_TEST_KEY not set")],
)
def test_doctor_names_a_preferred_model_the_jobs_will_not_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, why: str
) -> None:
    monkeypatch.delenv("PREFERRED_TEST_KEY", raising=False)
    results = {r.name: r for r in run_checks(_setup(tmp_path, model))}
    check = results["task signs"]
    assert check.status == "warn" and why in check.detail and "default model house" in check.detail
    assert check.hint


def test_doctor_is_quiet_about_a_preferred_model_that_can_be_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFERRED_TEST_KEY", "sk-test")
    assert "task signs" not in {r.name for r in run_checks(_setup(tmp_path, "premium"))}


def test_a_job_of_a_misspelt_preferred_model_is_logged_once(tmp_path: Path) -> None:
    settings = _setup(tmp_path, "hose")
    env = clean_env(
        SENTINEL_DATA_DIR=str(settings.data_dir),
        SENTINEL_RUBRICS_DIR=str(settings.rubrics_dir),
        SENTINEL_ROUTES=str(settings.routes),
    )
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        for _ in range(2):
            created = httpx.post(f"{base}/v1/jobs", json={"task": "signs", "prompt": "a red lighthouse"}, timeout=30)
            assert created.status_code == 202, created.text
            assert created.json()["model"] == "house"
    finally:
        server.stop()
    logged = [line for line in server.output().splitlines() if "prefers model 'hose'" in line]
    assert len(logged) == 1, server.output()
    assert "the routing file has no model 'hose'" in logged[0] and "default model 'house'" in logged[0]
    assert "WARNING" in logged[0]
