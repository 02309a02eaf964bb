"""JUnit XML, which CI systems (GitHub Actions reporters, GitLab, Jenkins) show as test results: one test case per
image, its class the task and its name the image's path. Green passes; red fails, listing the failing criteria;
amber fails only under ``--fail-on amber``; an input that could not be judged is an error."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from sentinel.reports import FailOn, Outcome, counts, fails

#: Characters XML 1.0 cannot carry at all, not even escaped (text read off an image by OCR may hold them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str | None) -> str:
    return _NOT_XML.sub("\ufffd", text or "")


def _issue_lines(outcome: Outcome) -> str:
    lines = []
    for issue in outcome.issues:
        critical = ", critical" if issue.get("critical") else ""
        lines.append(
            f"{issue.get('criterion')} ({issue.get('severity')}{critical}, {issue.get('judge')}): {issue.get('detail')}"
        )
    return _clean("\n".join(lines))


def _fails_here(outcome: Outcome, fail_on: FailOn) -> bool:
    # Red is a failed test case whatever the exit code asks for; amber only when the run is gated on it.
    return outcome.verdict == "red" or (outcome.verdict == "amber" and fails("amber", fail_on))


def render(outcomes: list[Outcome], fail_on: FailOn = "red", suite: str = "sentinel eval") -> str:
    tally = counts(outcomes)
    failures = sum(1 for outcome in outcomes if outcome.judged and _fails_here(outcome, fail_on))
    seconds = sum(outcome.duration_ms or 0.0 for outcome in outcomes) / 1000
    attributes = {
        "name": suite,
        "tests": str(len(outcomes)),
        "failures": str(failures),
        "errors": str(tally["error"]),
        "skipped": "0",
        "time": f"{seconds:.3f}",
    }
    root = ET.Element("testsuites", attributes)
    suite_element = ET.SubElement(root, "testsuite", attributes)
    for outcome in outcomes:
        case = ET.SubElement(
            suite_element,
            "testcase",
            {
                "classname": _clean(outcome.task or "unknown-task"),
                "name": _clean(outcome.name),
                "time": f"{(outcome.duration_ms or 0.0) / 1000:.3f}",
            },
        )
        if not outcome.judged:
            message = _clean(outcome.error or "not judged")
            error = ET.SubElement(case, "error", {"message": message, "type": "input"})
            error.text = message
        elif _fails_here(outcome, fail_on):
            failure = ET.SubElement(
                case,
                "failure",
                {"message": _clean(f"{outcome.verdict}: {outcome.summary}"), "type": str(outcome.verdict)},
            )
            failure.text = _issue_lines(outcome)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _clean(f"{outcome.verdict}: {outcome.summary}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
