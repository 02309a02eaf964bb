"""The labelled accuracy set, judged once through `sentinel bench accuracy`: clean images and hard negatives are
green, severe defects red, and each caught defect is caught by the criterion a customer would name, in words
that say what was measured."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO, SENTINEL, load_cases

CASES = load_cases()
TASKS = {"text-to-image", "product-white-background", "text-render", "object-removal", "background-replace"}
SEVERITIES = ("mild", "moderate", "severe")
KINDS = ("clean", "hard-negative", "defect")


def test_the_set_is_large_labelled_and_graded() -> None:
    assert len(CASES) >= 150
    assert sum(c.get("kind") == "hard-negative" for c in CASES) >= 50
    for case in CASES:
        assert case.get("why"), f"{case['id']} does not say why it is labelled as it is"
    assert {c["task"] for c in CASES} == TASKS
    assert len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert (FIXTURES / case["image"]).is_file(), case["id"]
        kind = case.get("kind") or ("clean" if case["expect"] == "green" else "defect")
        assert kind in KINDS, case["id"]
        if kind == "defect":
            assert case["expect"] == "not-green", case["id"]
            assert case["severity"] in SEVERITIES, case["id"]
            assert case["defect"] and case["failing_criterion"], case["id"]
        else:
            assert (case["expect"], case["severity"]) == ("green", "none"), case["id"]
    graded = Counter((c["task"], c["severity"]) for c in CASES)
    for task in TASKS:
        assert graded[(task, "none")] >= 2, task
        assert graded[(task, "severe")] >= 2, task
        assert graded[(task, "mild")] >= 1, task


#: The panel over the whole labelled set is CPU work that a loaded machine does slowly: the module's bound is the
#: benchmark's own (900 s), not the suite's 120 s per test. One xdist process runs it, not each of them: the suite
#: hands out whole files (--dist loadfile in pyproject.toml).
pytestmark = pytest.mark.timeout(960)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("accuracy") / "accuracy.json"
    proc = subprocess.run(
        [SENTINEL, "bench", "accuracy", "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert out.is_file(), proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    report["exit_code"], report["stdout"] = proc.returncode, proc.stdout
    return report


def test_the_report_counts_by_task_kind_and_severity(report: dict) -> None:
    assert report["cases"] == len(CASES) == len(report["results"])
    assert set(report["by_task"]) == TASKS
    for group in ("by_task", "by_kind", "by_severity"):
        for tally in report[group].values():
            assert sum(tally["verdicts"].values()) == tally["cases"]
            assert 0 <= tally["correct"] <= tally["cases"]
    assert sum(t["cases"] for t in report["by_kind"].values()) == len(CASES)
    assert report["overall"]["correct"] == sum(r["correct"] for r in report["results"])
    assert "clean images and hard negatives not green" in report["stdout"]


#: Severe defects the panel is known to let through, and why: each is a place to improve, not a label to change.
#: A new miss fails the test; a fixed one should be taken off this list.
KNOWN_SEVERE_MISSES = {
    "t2i-stock-watermark-sample": (
        "a 30% white SAMPLE across a cluttered garage: the text detector takes the whole busy scene for one block, "
        "even contrast-normalised"
    ),
}
#: Moderate defects the panel is known to let through green, and why (each a place to improve the judge, not a label
#: to change). A new one fails the test; a fixed one should be taken off this list.
KNOWN_MODERATE_MISSES = {
    "product-pitfall-label-and-corner-mark": (
        "a small grey SAMPLE (33 px capitals) on the white backdrop beside the product: the text detector, reading "
        "the page at 1024 px, finds the bottle's label and not the mark"
    ),
}


def test_no_severe_defect_passes_without_a_regeneration_and_no_clean_image_is_red(report: dict) -> None:
    assert set(report["severe_missed"]) <= set(KNOWN_SEVERE_MISSES), [
        m for m in report["misses"] if m["severity"] == "severe"
    ]
    assert report["clean_red"] == []
    # The command says so in its exit code, so a CI job gates on it.
    assert report["exit_code"] == (1 if report["severe_missed"] else 0), report["stdout"]


def test_the_panel_is_right_on_nearly_every_case(report: dict) -> None:
    assert report["overall"]["share"] >= 0.95, report["misses"]
    clean = report["false_fail"]
    # No clean image or hard negative costs a regeneration, and hardly any waits for a person.
    assert clean["red"] == 0 and clean["amber"] <= 0.03 * clean["cases"], clean


@pytest.mark.parametrize("case", [c for c in CASES if c["expect"] == "not-green"], ids=lambda c: c["id"])
def test_a_caught_defect_is_named_by_its_criterion_with_a_measurement(case: dict, report: dict) -> None:
    result = next(r for r in report["results"] if r["id"] == case["id"])
    if result["verdict"] == "green":
        if case["id"] in KNOWN_SEVERE_MISSES | KNOWN_MODERATE_MISSES:
            pytest.xfail((KNOWN_SEVERE_MISSES | KNOWN_MODERATE_MISSES)[case["id"]])
        assert case["severity"] == "mild", result["summary"]
        return
    assert case["failing_criterion"] in result["failed"], (result["summary"], result["failed"])
    # Reasoning a user can act on: the summary says what was measured.
    assert re.search(r"\d|'", result["summary"]), result["summary"]


def test_verdicts_are_deterministic_for_the_same_case(report: dict, tmp_path: Path) -> None:
    """Judging one case again in another process gives the same verdict (no state, no randomness)."""
    first = report["results"][0]
    case = next(c for c in CASES if c["id"] == first["id"])
    cases = tmp_path / "cases.yaml"
    cases.write_text(json.dumps([case | {"image": str(FIXTURES / case["image"])}]))
    out = tmp_path / "one.json"
    subprocess.run([SENTINEL, "bench", "accuracy", "--cases", str(cases), "--json", str(out)], cwd=REPO, timeout=300)
    assert json.loads(out.read_text())["results"][0]["verdict"] == first["verdict"]
