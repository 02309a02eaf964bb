"""What a regeneration must do differently: each failed criterion's ``fix`` template, rendered with the task's
params and what the judges measured, becomes one instruction an image model can follow.

Guidance is never the check's wording ("at least 97% of the border is pure white"): that is a test, and an
image model cannot act on it. It is the fix ("Use a pure white (#FFFFFF) background"), written by the rubric
author, or by the check for criteria that do not write their own.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SecurityError

from sentinel.evaluation.judges import KINDS
from sentinel.evaluation.rubric import FIX_TEMPLATES, SEVERITIES, VISION, Criterion, Rubric

logger = logging.getLogger(__name__)

#: The names a fix template may use.
FIX_CONTEXT = ("params", "measured", "threshold", "detail", "severity", "facts", "settings", "quote")
#: Quote marks a text is put between, the first pair the text itself does not hold: its own quotes stay inside.
QUOTE_PAIRS = (('"', '"'), ("«", "»"), ("“", "”"), ("「", "」"))


def quote(text: object) -> str:
    """A caller's text as a prompt quotes it, for a fix template (``{{ quote(params.text) }}``): between quote
    marks it does not contain, so where it ends is never in doubt (``Say "Hi"`` becomes ``«Say "Hi"»``), and a
    text of several lines names each line in order, which a prompt flattened to one line would lose."""
    lines = [re.sub(r"\s+", " ", line).strip() for line in str(text).splitlines()]
    lines = [line for line in lines if line] or [""]
    whole = "".join(lines)
    opening, closing = next(((o, c) for o, c in QUOTE_PAIRS if o not in whole and c not in whole), QUOTE_PAIRS[-1])
    quoted = [f"{opening}{line}{closing}" for line in lines]
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} and {quoted[-1]}, each on its own line in that order"


#: Guidance added to a prompt is capped: a provider's prompt limit must not be spent on repeated fixes.
MAX_GUIDANCE_CHARS = 1200


def _settings(criterion: Criterion) -> dict[str, Any]:
    kind = KINDS.get(criterion.judge)
    check = kind.checks.get(criterion.check or "") if kind else None
    if check is None:
        return dict(criterion.settings)
    return check.settings_model.model_validate(criterion.settings).model_dump()


def _check_fix(criterion: Criterion) -> str:
    kind = KINDS.get(criterion.judge)
    check = kind.checks.get(criterion.check or "") if kind else None
    return check.fix if check is not None else ""


def _sentence(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if text and text[-1] not in ".!?":
        text += "."
    return text


def render_fix(criterion: Criterion, failed: dict[str, Any], params: dict[str, Any]) -> str:
    """One failed criterion's instruction: the rubric's fix, else (or when it fails to render) the check's own, or
    for a vision criterion the judge's own words; '' when there is none to give."""
    for template in dict.fromkeys(t for t in (criterion.fix, _check_fix(criterion)) if t):
        rendered = _rendered(criterion, template, failed, params)
        if rendered:
            return rendered
    if criterion.judge == VISION:
        # The judge's own words say what to change.
        reasoning = str(failed.get("detail") or "").strip()
        return _sentence(f"Avoid this problem: {reasoning}") if reasoning else ""
    return ""


def _rendered(criterion: Criterion, template: str, failed: dict[str, Any], params: dict[str, Any]) -> str:
    context = {
        "params": params,
        "measured": failed.get("measured"),
        "threshold": failed.get("threshold"),
        "detail": failed.get("detail"),
        "severity": failed.get("severity"),
        "facts": failed.get("facts") or {},
        "settings": _settings(criterion),
        "quote": quote,
    }
    try:
        return _sentence(FIX_TEMPLATES.from_string(template).render(**context))
    except (TemplateError, SecurityError, TypeError, ValueError) as exc:
        # A rubric's template that fails on these params must not send a regeneration out without guidance (the
        # same prompt, paid again): the check's own fix, or the judge's words, stand in for it.
        logger.warning("fix template of criterion '%s' failed (%s); its check's own fix is used", criterion.id, exc)
        return ""


def failed_criteria(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every failed criterion of a verdict document once, worst first (the first judge's measurement)."""
    seen: dict[str, dict[str, Any]] = {}
    for judge in result.get("judges", []):
        if judge.get("passed") is not False:
            continue
        for criterion in judge.get("criteria", []):
            if not criterion.get("passed"):
                seen.setdefault(criterion["id"], criterion)
    return sorted(seen.values(), key=lambda c: -SEVERITIES.index(c.get("severity") or "moderate"))


def fixes_for(rubric: Rubric, result: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """The instructions for the next attempt, worst failure first, each once."""
    by_id = {c.id: c for c in rubric.criteria}
    instructions: list[str] = []
    for failed in failed_criteria(result):
        criterion = by_id.get(failed["id"])
        if criterion is None:
            continue
        fix = render_fix(criterion, failed, params)
        if fix and fix not in instructions:
            instructions.append(fix)
    return instructions


def join_guidance(parts: list[str]) -> str:
    text = " ".join(_sentence(p) for p in parts if p and p.strip())
    return text if len(text) <= MAX_GUIDANCE_CHARS else text[: MAX_GUIDANCE_CHARS - 1].rstrip() + "…"


def regeneration_prompt(prompt: str, guidance: str | None) -> str:
    """The prompt sent for a regeneration: the caller's prompt, then what to do differently."""
    if not guidance:
        return prompt
    base = prompt.rstrip()
    if base and base[-1] not in ".!?":
        base += "."
    return f"{base} {guidance}".strip()
