"""The verdict rule: green 0 failing judges; red 2+, or one failure severe enough for the task's red_when (a critical
criterion's failure is severe); amber otherwise; never green without quorum. Severity comes from the rubric, the
check or the check's bands on its graded measure."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.evaluation.panel import Panel
from sentinel.evaluation.runner import VoteResult, abstention, run_panel
from sentinel.evaluation.service import EvaluationService
from sentinel.evaluation.verdict import aggregate
from sentinel.rubrics.loader import RubricRegistry
from sentinel.settings import Settings, get_settings
from sentinel.wiring import build_services
from tests.conftest import png_bytes

RUBRICS = RubricRegistry.from_dirs(get_settings().builtin_rubrics_dir)
PRODUCT = RUBRICS.get("product-white-background")
PANEL = ["pixels", "layout", "text"]


def vote(judge: str, *failing: str, critical: bool = False, severity: str = "moderate") -> VoteResult:
    criteria = [
        {
            "id": c,
            "passed": False,
            "measured": 1,
            "threshold": 2,
            "detail": f"{c} is wrong",
            "critical": critical,
            "severity": "severe" if c in ("not-blank", "decodes") else severity,
        }
        for c in failing
    ] or [{"id": "ok", "passed": True, "measured": 1, "threshold": 1, "detail": "fine", "critical": False}]
    return VoteResult(judge, not failing, "\n".join(c["detail"] for c in criteria), criteria)


@pytest.mark.parametrize(
    ("votes", "expected", "failed"),
    [
        ([vote("pixels"), vote("layout"), vote("text")], "green", 0),
        ([vote("pixels"), vote("layout", "white-background"), vote("text")], "amber", 1),
        ([vote("pixels"), vote("layout", "white-background", "fills-frame"), vote("text")], "amber", 1),
        ([vote("pixels"), vote("layout", "white-background"), vote("text", "no-stray-text")], "red", 2),
        ([vote("pixels", "not-blank"), vote("layout"), vote("text")], "red", 1),
        ([vote("pixels"), vote("layout", "white-background", severity="severe"), vote("text")], "red", 1),
        ([vote("pixels"), vote("layout", "white-background", severity="mild"), vote("text")], "amber", 1),
        ([vote("pixels", "min-size", severity="mild"), vote("layout"), vote("text", "no-stray-text")], "red", 2),
    ],
)
def test_verdict_counts_failing_judges(votes, expected, failed) -> None:
    verdict = aggregate(PRODUCT, PANEL, votes, quorum=3)
    assert (verdict.verdict, verdict.failed_judges) == (expected, failed)


def test_a_critical_failure_is_red_on_its_own_and_named_first() -> None:
    verdict = aggregate(PRODUCT, PANEL, [vote("pixels", "not-blank"), vote("layout"), vote("text")], 3)
    assert verdict.verdict == "red"
    assert verdict.critical_failures == ["not-blank"]
    assert verdict.summary.startswith("1 quality issue (severe): not-blank is wrong")
    assert verdict.issues[0] | {"detail": ""} == {
        "criterion": "not-blank",
        "judge": "pixels",
        "severity": "severe",
        "critical": True,
        "detail": "",
    }


def test_summary_lists_every_failing_criterion_worst_first_with_their_severities() -> None:
    votes = [
        vote("pixels"),
        vote("layout", "white-background", severity="mild"),
        vote("text", "no-stray-text", severity="severe"),
    ]
    verdict = aggregate(PRODUCT, PANEL, votes, 3)
    assert verdict.summary == "2 quality issues (1 severe, 1 mild): no-stray-text is wrong; white-background is wrong"
    assert [i["severity"] for i in verdict.issues] == ["severe", "mild"]


@pytest.mark.parametrize(
    ("policy", "severity", "expected"),
    [
        ("any_severe", "mild", "amber"),
        ("any_severe", "moderate", "amber"),
        ("any_severe", "severe", "red"),
        ("any_moderate", "mild", "amber"),
        ("any_moderate", "moderate", "red"),
        ("any_failed", "mild", "red"),
    ],
)
def test_the_tasks_red_when_decides_which_single_failure_is_red(policy: str, severity: str, expected: str) -> None:
    rubric = PRODUCT.model_copy(update={"red_when": policy})
    votes = [vote("pixels"), vote("layout", "white-background", severity=severity), vote("text")]
    assert aggregate(rubric, PANEL, votes, 3).verdict == expected


def test_abstention_without_quorum_is_amber_never_green() -> None:
    votes = [vote("pixels"), vote("layout"), abstention("text", "OCR data not found")]
    verdict = aggregate(PRODUCT, PANEL, votes, quorum=3)
    assert verdict.verdict == "amber"
    assert verdict.summary.startswith("quorum not met: 2 of 3 judges voted, 3 needed")
    assert "OCR data not found" in verdict.summary
    text = next(j for j in verdict.judges if j["judge"] == "text")
    assert text["passed"] is None


def test_with_a_lower_quorum_an_abstention_is_reported_but_green() -> None:
    votes = [vote("pixels"), vote("layout"), abstention("text", "boom")]
    verdict = aggregate(PRODUCT, PANEL, votes, quorum=2)
    assert verdict.verdict == "green"
    assert "(1 judge abstained)" in verdict.summary


def test_missing_vote_at_the_deadline_abstains_with_the_reason() -> None:
    verdict = aggregate(PRODUCT, PANEL, [vote("pixels"), vote("layout")], quorum=3)
    assert verdict.verdict == "amber"
    missing = next(j for j in verdict.judges if j["judge"] == "text")
    assert missing["reasoning"] == "abstained: did not vote before the deadline"


def test_a_judge_over_its_time_limit_abstains(tmp_path) -> None:
    judges = tmp_path / "judges"
    judges.mkdir()
    for name, kind, timeout in (("pixels", "pixels", 20), ("text", "text", 0.001)):
        (judges / f"{name}.yaml").write_text(f"name: {name}\nkind: {kind}\ntimeout_seconds: {timeout}\n")
    panel = Panel.from_dir(judges)
    from sentinel.evaluation.judges.base import ImageSource, JudgeContext

    data = png_bytes(1024, 1024)
    image = ImageSource("a" * 64, "image/png", lambda: data, 40_000_000)
    verdict, votes = run_panel(panel, RUBRICS.get("text-to-image"), lambda j: JudgeContext(image=image, params={}), 1.0)
    text = next(v for v in votes if v.judge == "text")
    assert text.passed is None
    assert "took longer than its 0.001 s limit" in text.reasoning
    assert verdict.verdict == "amber"


def test_deadline_finalises_with_missing_judges_abstaining(tmp_path: Path) -> None:
    service = EvaluationService(build_services(Settings(data_dir=tmp_path)))
    evaluation = service.submit(service.validate("text-to-image", {}, {"image": png_bytes()}))
    service.process_judge_message(evaluation.id, "pixels")
    assert service.get(evaluation.id)[0].status == "judging"
    assert service.finalise(evaluation.id, deadline_passed=True) is True
    assert service.finalise(evaluation.id, deadline_passed=True) is False
    done, votes = service.get(evaluation.id)
    assert [v.judge for v in votes] == ["pixels"]
    assert done.verdict == "amber"
    assert "quorum not met" in done.summary
    assert "text abstained: did not vote before the deadline" in done.summary
