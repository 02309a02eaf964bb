"""Accuracy of the judge panel on the labelled fixture set (``fixtures/cases.yaml``), per task.

Every case is judged in-process, as ``sentinel eval`` does. A good case (``expect: green``) counts as
passed when the verdict is green; a defect counts as caught when the verdict is amber or red. Defects
carry a severity (mild, moderate, severe): mild ones may legitimately pass, severe ones must all be caught.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from sentinel.evaluation.local import evaluate_files
from sentinel.services import Services, get_services

DEFAULT_CASES = Path(__file__).resolve().parent.parent / "fixtures" / "cases.yaml"
SEVERITIES = ("mild", "moderate", "severe")


def load_cases(cases_path: Path) -> list[dict[str, Any]]:
    cases = yaml.safe_load(Path(cases_path).read_text(encoding="utf-8"))
    if not isinstance(cases, list):
        raise ValueError(f"{cases_path}: expected a list of cases")
    return cases


def judge_case(services: Services, case: dict[str, Any], root: Path) -> dict[str, Any]:
    """The verdict document for one case (paths in the case are relative to ``root``)."""
    extra = {name: (root / case[name]).read_bytes() for name in ("source", "mask") if case.get(name)}
    image = root / case["image"]
    [(_, result)] = list(
        evaluate_files(services, case["task"], case.get("params") or {}, [(image, image.read_bytes())], extra)
    )
    return result


def _empty_row(task: str) -> dict[str, Any]:
    return {
        "task": task,
        "cases": 0,
        "good_total": 0,
        "good_passed": 0,
        "defect_total": 0,
        "defects_caught": 0,
        "by_severity": {s: {"total": 0, "caught": 0} for s in SEVERITIES},
        "misses": [],
    }


def _add(row: dict[str, Any], case: dict[str, Any], verdict: str, summary: str) -> None:
    row["cases"] += 1
    good = case["expect"] == "green"
    right = (verdict == "green") == good
    if good:
        row["good_total"] += 1
        row["good_passed"] += int(right)
    else:
        severity = case.get("severity") or "moderate"
        row["defect_total"] += 1
        row["defects_caught"] += int(right)
        bucket = row["by_severity"].setdefault(severity, {"total": 0, "caught": 0})
        bucket["total"] += 1
        bucket["caught"] += int(right)
    if not right:
        row["misses"].append(
            {
                "id": case["id"],
                "task": case["task"],
                "severity": case.get("severity") or ("none" if good else "moderate"),
                "expected": "green" if good else f"not green ({case.get('failing_criterion')})",
                "got": verdict,
                "summary": summary,
            }
        )


def run(cases_path: Path = DEFAULT_CASES, services: Services | None = None) -> dict[str, Any]:
    """Judge every case; per-task and overall confusion counts, the misses, and whether a severe one slipped."""
    cases_path = Path(cases_path)
    services = services or get_services()
    cases = load_cases(cases_path)
    started = time.perf_counter()
    rows: dict[str, dict[str, Any]] = {}
    overall = _empty_row("overall")
    results = []
    for case in cases:
        case_started = time.perf_counter()
        result = judge_case(services, case, cases_path.parent)
        verdict, summary = result["verdict"], result.get("summary", "")
        _add(rows.setdefault(case["task"], _empty_row(case["task"])), case, verdict, summary)
        _add(overall, case, verdict, summary)
        results.append(
            {
                "id": case["id"],
                "task": case["task"],
                "expect": case["expect"],
                "severity": case.get("severity"),
                "verdict": verdict,
                "ms": round((time.perf_counter() - case_started) * 1000, 1),
            }
        )
    severe_missed = [m["id"] for m in overall["misses"] if m["severity"] == "severe"]
    return {
        "cases_path": str(cases_path),
        "cases": len(cases),
        "seconds": round(time.perf_counter() - started, 2),
        "tasks": list(rows.values()),
        "overall": overall,
        "severe_missed": severe_missed,
        "ok": not severe_missed,
        "results": results,
    }
