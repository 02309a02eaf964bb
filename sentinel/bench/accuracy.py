"""Accuracy of the judge panel on the labelled set (``fixtures/cases.yaml``).

Every case is judged in-process, as ``sentinel eval`` does, and compared with its label: what a customer who
pays for each regeneration would say about the image, decided before the panel ran.

- ``clean`` and ``hard-negative`` images (ones a naive judge gets wrong: night photos, flat minimalist areas,
  serif and stylised lettering, …) must be green;
- a ``defect`` is ``mild`` (a person may ship it: green or amber are right, red is a regeneration nobody
  needed), ``moderate`` (clearly wrong: amber or red) or ``severe`` (never shipped: only red, which regenerates).

A case may name its own accepted verdicts with ``accept: [amber, red]``. The report gives the correct share per
task, per kind and per severity, and the false-fail rate on clean images and hard negatives.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from sentinel.evaluation.local import evaluate_files
from sentinel.services import Services
from sentinel.wiring import get_services

#: The labelled set `sentinel bench accuracy` judges unless told otherwise.
DEFAULT_CASES = Path(__file__).resolve().parents[2] / "fixtures" / "cases.yaml"
SEVERITIES = ("mild", "moderate", "severe")
KINDS = ("clean", "hard-negative", "defect")
VERDICTS = ("green", "amber", "red")
#: The verdicts that are right for a label, by severity ("none" for clean images and hard negatives).
ACCEPTED = {"none": ("green",), "mild": ("green", "amber"), "moderate": ("amber", "red"), "severe": ("red",)}


def load_cases(cases_path: Path) -> list[dict[str, Any]]:
    cases = yaml.safe_load(Path(cases_path).read_text(encoding="utf-8"))
    if not isinstance(cases, list):
        raise ValueError(f"{cases_path}: expected a list of cases")
    return cases


def kind_of(case: dict[str, Any]) -> str:
    """A case's kind; older entries without one are clean when expected green, else defects."""
    return str(case.get("kind") or ("clean" if case.get("expect") == "green" else "defect"))


def severity_of(case: dict[str, Any]) -> str:
    if kind_of(case) != "defect":
        return "none"
    return str(case.get("severity") or "moderate")


def accepted(case: dict[str, Any]) -> tuple[str, ...]:
    return tuple(case.get("accept") or ACCEPTED[severity_of(case)])


def judge_case(services: Services, case: dict[str, Any], root: Path) -> dict[str, Any]:
    """The verdict document for one case (paths in the case are relative to ``root``)."""
    extra = {name: (root / case[name]).read_bytes() for name in ("source", "mask") if case.get(name)}
    image = root / case["image"]
    [(_, result)] = list(
        evaluate_files(services, case["task"], case.get("params") or {}, [(image, image.read_bytes())], extra)
    )
    return result


def _tally(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "cases": len(rows),
        "correct": sum(r["correct"] for r in rows),
        "share": sum(r["correct"] for r in rows) / len(rows) if rows else None,
        "verdicts": {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS},
    }


def _judged(services: Services, case: dict[str, Any], root: Path) -> dict[str, Any]:
    started = time.perf_counter()
    result = judge_case(services, case, root)
    verdict = result["verdict"]
    return {
        "id": case["id"],
        "task": case["task"],
        "kind": kind_of(case),
        "severity": severity_of(case),
        "failing_criterion": case.get("failing_criterion"),
        "accepted": list(accepted(case)),
        "verdict": verdict,
        "correct": verdict in accepted(case),
        "summary": result.get("summary", ""),
        "failed": sorted({i["criterion"] for i in result.get("issues", [])}),
        "why": case.get("why"),
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }


def run(
    cases_path: Path = DEFAULT_CASES,
    services: Services | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Judge every case, ``workers`` at a time (default: one per core; the judges' heavy work releases the GIL);
    correct shares by task, kind and severity, the false fails, and the misses. ``progress(done, total)`` is
    called as cases finish."""
    cases_path = Path(cases_path)
    services = services or get_services()
    cases = load_cases(cases_path)
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max(1, workers or os.cpu_count() or 1)) as pool:
        for result in pool.map(lambda case: _judged(services, case, cases_path.parent), cases):
            results.append(result)
            if progress is not None:
                progress(len(results), len(cases))
    tasks = sorted({r["task"] for r in results})
    clean = [r for r in results if r["kind"] != "defect"]
    severe = [r for r in results if r["severity"] == "severe"]
    report = {
        "cases_path": str(cases_path),
        "cases": len(results),
        "seconds": round(time.perf_counter() - started, 2),
        "overall": _tally(results),
        "by_task": {task: _tally([r for r in results if r["task"] == task]) for task in tasks},
        "by_kind": {kind: _tally([r for r in results if r["kind"] == kind]) for kind in KINDS},
        "by_severity": {s: _tally([r for r in results if r["severity"] == s]) for s in SEVERITIES},
        # Clean images and hard negatives that did not come out green: the panel's false fails.
        "false_fail": {
            "cases": len(clean),
            "amber": sum(r["verdict"] == "amber" for r in clean),
            "red": sum(r["verdict"] == "red" for r in clean),
            "rate": sum(r["verdict"] != "green" for r in clean) / len(clean) if clean else None,
        },
        "severe_missed": [r["id"] for r in severe if r["verdict"] != "red"],
        "clean_red": [r["id"] for r in clean if r["verdict"] == "red"],
        "misses": [r for r in results if not r["correct"]],
        "results": results,
    }
    report["ok"] = not report["severe_missed"] and not report["clean_red"]
    return report
