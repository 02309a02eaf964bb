"""Severity bands and fix templates are rubric data: validated on load, graded on the check's measure, and turned
into guidance an image model can follow (never the check's wording)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sentinel.errors import ConfigError
from sentinel.evaluation.guidance import fixes_for, join_guidance, regeneration_prompt
from sentinel.evaluation.judges import KINDS
from sentinel.evaluation.judges.base import Outcome, failure_severity
from sentinel.rubrics.loader import RubricRegistry, load_rubric
from sentinel.settings import get_settings

BUILTIN = RubricRegistry.from_dirs(get_settings().builtin_rubrics_dir)

RUBRIC = """\
id: my-task
title: My task
params:
  text: {{type: string}}
red_when: {red_when}
criteria:
  - id: white
    must: Border is white.
    judge: layout
    check: white_background
    severity: {severity}
    fix: {fix}
"""


def write(tmp_path: Path, red_when: str = "any_severe", severity: str = "null", fix: str = "null") -> Path:
    path = tmp_path / "my-task.yaml"
    path.write_text(textwrap.dedent(RUBRIC).format(red_when=red_when, severity=severity, fix=fix))
    return path


def white_outcome(share: float, **extra: object) -> Outcome:
    return Outcome(False, share, 0.97, f"background border is {share:.0%} white", **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(("share", "expected"), [(0.96, "mild"), (0.93, "moderate"), (0.5, "severe")])
def test_a_failure_is_graded_on_the_checks_bands(tmp_path: Path, share: float, expected: str) -> None:
    rubric = load_rubric(write(tmp_path))
    check = KINDS["layout"].checks["white_background"]
    assert failure_severity(rubric.criteria[0], white_outcome(share), check) == expected


def test_a_rubric_moves_the_bands_and_keeps_the_checks_direction(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, severity="{moderate: 0.96, severe: 0.95}"))
    check = KINDS["layout"].checks["white_background"]
    assert failure_severity(rubric.criteria[0], white_outcome(0.965), check) == "mild"
    assert failure_severity(rubric.criteria[0], white_outcome(0.955), check) == "moderate"
    assert failure_severity(rubric.criteria[0], white_outcome(0.93), check) == "severe"


def test_a_fixed_severity_wins_over_the_check_and_the_bands(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, severity="mild"))
    check = KINDS["layout"].checks["white_background"]
    assert failure_severity(rubric.criteria[0], white_outcome(0.1), check) == "mild"
    assert failure_severity(rubric.criteria[0], white_outcome(0.1, severity="severe"), check) == "mild"


def test_a_critical_criterion_fails_severely_unless_its_check_knows_better() -> None:
    expected = next(c for c in BUILTIN.get("text-render").criteria if c.id == "expected-text")
    check = KINDS["text"].checks["expected_text"]
    misspelled = Outcome(False, "OPENN 24/7", "OPEN 24/7", "OCR read 'OPENN 24/7'")
    case_only = Outcome(False, "open 24/7", "OPEN 24/7", "differs only in letter case", severity="mild")
    assert failure_severity(expected, misspelled, check) == "severe"
    assert failure_severity(expected, case_only, check) == "mild"


@pytest.mark.parametrize(
    ("severity", "message"),
    [
        ("{moderate: 0.8, severe: 0.9}", "a lower share of the border that is white is worse, so 'severe' (0.9)"),
        ("{mild: 0.9}", "severity bands take only 'moderate' and 'severe'; got mild"),
        ("{severe: lots}", "severity band 'severe' must be a number on the check's measure; got 'lots'"),
        ("dreadful", "severity must be one of mild, moderate or severe, or bands such as"),
    ],
)
def test_bad_bands_are_refused_with_file_line_and_field(tmp_path: Path, severity: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_rubric(write(tmp_path, severity=severity))
    assert "my-task.yaml:11" in caught.value.message
    assert "criteria[0].severity" in caught.value.message
    assert message in caught.value.message


def test_a_check_without_a_graded_measure_takes_no_bands(tmp_path: Path) -> None:
    path = tmp_path / "my-task.yaml"
    path.write_text(
        "id: my-task\ntitle: T\ncriteria:\n  - id: d\n    must: Decodes.\n    judge: pixels\n    check: decodes\n"
        "    severity: {severe: 1}\n"
    )
    with pytest.raises(ConfigError, match="check 'decodes' has no graded measure"):
        load_rubric(path)


def test_an_unknown_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="red_when"):
        load_rubric(write(tmp_path, red_when="sometimes"))


def test_a_fix_template_that_does_not_parse_is_refused_on_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_rubric(write(tmp_path, fix="'Use {{ params.text '"))
    assert "criteria[0].fix" in caught.value.message and "does not parse" in caught.value.message


def test_every_builtin_criterion_has_its_own_fix() -> None:
    for rubric in BUILTIN.all():
        for criterion in rubric.criteria:
            assert criterion.fix, f"{rubric.id}: {criterion.id} has no fix"
            assert criterion.fix.strip() != criterion.must.strip()


def _failed(criterion: str, **fields: object) -> dict:
    entry = {"id": criterion, "passed": False, "measured": None, "threshold": None, "detail": "x", "severity": "severe"}
    return {"judges": [{"judge": "j", "passed": False, "criteria": [entry | fields]}]}


def test_guidance_carries_the_expected_text_not_the_checks_wording() -> None:
    rubric = BUILTIN.get("text-render")
    fixes = fixes_for(rubric, _failed("expected-text", measured="", facts={}), {"text": "OPEN 24/7"})
    assert len(fixes) == 1
    assert 'must read exactly "OPEN 24/7"' in fixes[0]
    assert "OCR" not in fixes[0]


def test_guidance_is_an_instruction_for_a_grey_background() -> None:
    rubric = BUILTIN.get("product-white-background")
    [fix] = fixes_for(rubric, _failed("white-background", measured=0.0, threshold=0.97), {})
    assert "pure white (#FFFFFF) background" in fix
    assert "97%" not in fix and "border is" not in fix


def test_guidance_uses_the_threshold_and_never_quotes_unwanted_text_back() -> None:
    product = BUILTIN.get("product-white-background")
    [fill] = fixes_for(product, _failed("fills-frame", measured=0.5, threshold=0.85), {})
    assert "at least 85% of the frame" in fill
    [stray] = fixes_for(product, _failed("no-stray-text", facts={"text": "SAMPLE"}), {})
    assert "SAMPLE" not in stray


def test_guidance_lists_the_worst_failure_first_once() -> None:
    rubric = BUILTIN.get("text-render")
    result = _failed("no-other-text", severity="mild")
    result["judges"][0]["criteria"].append(_failed("expected-text")["judges"][0]["criteria"][0])
    fixes = fixes_for(rubric, result, {"text": "SALE"})
    assert fixes[0].startswith('The sign must read exactly "SALE"')
    assert len(fixes) == 2


def test_a_regeneration_prompt_is_the_callers_prompt_then_the_fixes() -> None:
    assert regeneration_prompt("a shop sign", None) == "a shop sign"
    guidance = join_guidance(['The sign must read exactly "OPEN"', "No other text"])
    assert (
        regeneration_prompt("a shop sign", guidance) == 'a shop sign. The sign must read exactly "OPEN". No other text.'
    )


def test_a_template_that_fails_at_render_time_gives_the_checks_own_fix(tmp_path: Path) -> None:
    # A regeneration without its fix is the same prompt paid for again: the check's own words stand in.
    rubric = load_rubric(write(tmp_path, fix="'{{ params.text.nope() }}'"))
    [fix] = fixes_for(rubric, _failed("white"), {"text": "x"})
    assert fix == KINDS["layout"].checks["white_background"].fix


@pytest.mark.parametrize(
    ("fix", "words"),
    [
        ("'Make it {{ params.nonexistent.attr }} sharp'", "params.nonexistent, a param this task does not declare"),
        ("'Write {{ params[\"txt\"] }}'", "params.txt, a param this task does not declare (declared: text)"),
        ("'Reach {{ treshold | pct }}'", "uses 'treshold'; it can use params, measured, threshold"),
    ],
)
def test_a_fix_naming_what_no_render_can_give_is_refused_on_load(tmp_path: Path, fix: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_rubric(write(tmp_path, fix=fix))
    assert "criteria[0].fix" in caught.value.message and words in caught.value.message
    assert "my-task.yaml:12:" in caught.value.message


def test_a_fix_using_declared_params_loops_and_filters_loads(tmp_path: Path) -> None:
    fix = "'{% for w in params.text.split() %}{{ w }} {% endfor %}at {{ threshold | pct }} {{ range(2) | list }}'"
    rubric = load_rubric(write(tmp_path, fix=fix))
    [rendered] = fixes_for(rubric, _failed("white", threshold=0.97), {"text": "a b"})
    assert rendered == "a b at 97% [0, 1]."
