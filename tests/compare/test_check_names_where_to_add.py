"""`sentinel compare --check` names where a missing required param can be added, and how: it named line 1 and a
``params`` field the file did not have ("c1.yaml:1: params: task 'text-render' needs param 'text'"). A prompt listed
twice is refused as a model or seed listed twice is."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, SENTINEL, clean_env


def _check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    suite = tmp_path / "c1.yaml"
    suite.write_text(text)
    return subprocess.run(
        [SENTINEL, "compare", "--check", str(suite)],
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    ("suite", "where", "advice"),
    [
        (
            "name: t\ntask: text-render\nmodels: [sentinel-local]\nprompts:\n  - a sign\n",
            "c1.yaml:5: prompts[0]:",
            "add params: {text: …} to the suite (every prompt), or write this prompt as {prompt: …, params: {text: …}}",
        ),
        (
            "name: t\ntask: text-render\nmodels: [sentinel-local]\nprompts:\n  - a sign\n"
            "  - {prompt: a door, params: {prompt: a door}}\n",
            "c1.yaml:5: prompts[0]:",
            "add params: {text: …} to the suite",
        ),
        (
            "name: t\ntask: text-render\nmodels: [sentinel-local]\nprompts:\n"
            "  - {prompt: a door, params: {prompt: a door}}\n",
            "c1.yaml:5: prompts[0].params:",
            "add text: … to this prompt's params",
        ),
    ],
)
def test_a_missing_param_is_named_where_it_can_be_added(tmp_path: Path, suite: str, where: str, advice: str) -> None:
    checked = _check(tmp_path, suite)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    said = " ".join(checked.stderr.split())
    assert f"{where} task 'text-render' needs param 'text'" in said, said
    assert advice in said, said


def test_a_prompt_listed_twice_is_refused(tmp_path: Path) -> None:
    checked = _check(
        tmp_path, "name: t\ntask: text-to-image\nmodels: [sentinel-local]\nprompts: [a cat, a dog, a cat]\n"
    )
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "prompts: prompts[2] is prompts[0] again" in " ".join(checked.stderr.split())
