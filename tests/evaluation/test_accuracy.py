"""The labelled accuracy set and `sentinel bench accuracy`: every severe defect is caught."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO, SENTINEL, load_cases

CASES = load_cases()
TASKS = {"text-to-image", "product-white-background", "text-render", "object-removal", "background-replace"}
SEVERITIES = ("mild", "moderate", "severe")


def test_the_set_is_large_labelled_and_graded() -> None:
    assert len(CASES) >= 60
    assert {c["task"] for c in CASES} == TASKS
    assert len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert (FIXTURES / case["image"]).is_file(), case["id"]
        if case["expect"] == "green":
            assert case["severity"] == "none", case["id"]
        else:
            assert case["expect"] == "not-green", case["id"]
            assert case["severity"] in SEVERITIES, case["id"]
            assert case["defect"] and case["failing_criterion"], case["id"]
    graded = Counter((c["task"], c["severity"]) for c in CASES)
    for task in TASKS:
        assert graded[(task, "none")] >= 2, task
        assert graded[(task, "severe")] >= 2, task
        assert graded[(task, "mild")] >= 1, task


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("accuracy") / "accuracy.json"
    proc = subprocess.run(
        [SENTINEL, "bench", "accuracy", "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "severe caught" in proc.stdout
    return json.loads(Path(out).read_text())


def test_json_has_the_expected_shape(report: dict) -> None:
    assert report["cases"] == len(CASES)
    assert {row["task"] for row in report["tasks"]} == TASKS
    for row in [*report["tasks"], report["overall"]]:
        assert {
            "task",
            "cases",
            "good_total",
            "good_passed",
            "defect_total",
            "defects_caught",
            "by_severity",
            "misses",
        } <= set(row)
        assert set(SEVERITIES) <= set(row["by_severity"])
        assert row["good_passed"] <= row["good_total"] and row["defects_caught"] <= row["defect_total"]
        assert sum(b["total"] for b in row["by_severity"].values()) == row["defect_total"]
        for miss in row["misses"]:
            assert {"id", "severity", "expected", "got", "summary"} <= set(miss)
    overall = report["overall"]
    assert overall["cases"] == len(CASES)
    assert overall["good_total"] + overall["defect_total"] == len(CASES)
    assert len(report["results"]) == len(CASES)


def test_every_severe_defect_is_caught_and_every_good_passes(report: dict) -> None:
    assert report["severe_missed"] == [] and report["ok"] is True
    severe = report["overall"]["by_severity"]["severe"]
    assert severe["total"] >= 10 and severe["caught"] == severe["total"]
    assert report["overall"]["good_passed"] == report["overall"]["good_total"]
    verdicts = {r["id"]: r["verdict"] for r in report["results"]}
    for case in CASES:
        if case["severity"] == "severe":
            assert verdicts[case["id"]] in ("amber", "red"), case["id"]
