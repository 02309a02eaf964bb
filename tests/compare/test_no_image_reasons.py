"""`sentinel compare`'s terminal output says why a model's jobs brought no image (a provider without its key), not
only how many: the reason used to be in --json and --html alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sentinel.cli.compare import no_image_reasons
from sentinel.compare.report import document
from sentinel.compare.runner import Outcome
from sentinel.compare.suite import Case, Run, Suite
from sentinel.compare.summary import rank
from tests.conftest import REPO, SENTINEL, clean_env

MODELS = ["local:procedural", "fal:flux"]


def outcome(model: str, index: int, **fields: object) -> Outcome:
    return Outcome(Run(Case(index, f"prompt {index}", {}), model, 0), **fields)  # type: ignore[arg-type]


def test_each_model_without_images_says_why() -> None:
    no_key = "fal is not configured: FAL_KEY is not set"
    failed_job = {"id": "j", "state": "failed", "verdict": None, "reason": "no provider could serve it"}
    outcomes = [
        outcome("local:procedural", 0, job={"id": "g", "state": "done", "verdict": "green", "attempts": []}),
        outcome(
            "fal:flux",
            0,
            job=failed_job | {"attempts": [{"provider": "fal", "model": "flux", "verdict": None, "error": no_key}]},
        ),
        outcome(
            "fal:flux",
            1,
            job=failed_job | {"attempts": [{"provider": "fal", "model": "flux", "verdict": None, "error": no_key}]},
        ),
        outcome("fal:flux", 2, job=failed_job | {"attempts": []}),
        outcome("fal:flux", 3, error="the server answered 500"),  # could not run: reported on its own already
    ]
    suite = Suite.model_validate({"task": "text-to-image", "models": MODELS, "prompts": ["a", "b", "c", "d"]})
    report = document(suite, "s", "in-process", rank(MODELS, outcomes), outcomes, 1.0)
    assert no_image_reasons(report) == [
        f"fal:flux: 2 with no image: {no_key}",
        "fal:flux: 1 with no image: no provider could serve it",
    ]


def test_the_cli_prints_them_under_the_table(tmp_path: Path) -> None:
    # A provider that answers 503 (a provider without its key is not run at all: test_compare_unconfigured.py).
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "providers:\n  local: {kind: local}\n  down: {kind: local}\n"
        "models:\n  house:\n    sizes: ['256x256']\n    cost_per_image: 0.01\n"
        "    candidates: [{target: 'local:procedural'}, {target: 'down:procedural', params: {inject: unavailable}}]\n"
        "default_model: house\nmax_passes: 1\n"
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "task: text-to-image\nmodels: ['local:procedural', 'down:procedural']\n"
        "params: {width: 256, height: 256}\nprompts: ['a lighthouse']\nmax_attempts: 1\n"
    )
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ROUTES=str(routes))
    done = subprocess.run(
        [SENTINEL, "compare", str(suite)], env=env, capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert "down:procedural: 1 with no image:" in done.stderr
    assert "503 Service Unavailable" in done.stderr
