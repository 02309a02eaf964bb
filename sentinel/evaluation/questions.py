"""What a person checks by eye when a vision judge abstained: the rubric's questions it left unanswered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentinel.errors import UnknownTask
from sentinel.evaluation.panel import VISION_LLM, Panel
from sentinel.evaluation.rubric import VISION

if TYPE_CHECKING:
    # Only a type: the registry is handed in (the rubrics package sits above this one).
    from sentinel.rubrics.loader import RubricRegistry


def with_questions(
    rubrics: RubricRegistry, panel: Panel, task: str, judges: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``judges`` (votes as an evaluation shows them), each abstaining vision judge with ``questions``: the
    rubric's vision questions, which it did not answer (the rubric's current ones; other votes are unchanged)."""
    try:
        asked = [c for c in rubrics.get(task).criteria if c.judge == VISION]
    except UnknownTask:
        return judges
    questions = [{"id": c.id, "ask": c.ask, "critical": c.critical} for c in asked]
    shown = []
    for judge in judges:
        config = panel.find(judge.get("judge", ""))
        if questions and judge.get("passed") is None and config is not None and config.kind == VISION_LLM:
            judge = {**judge, "questions": questions}
        shown.append(judge)
    return shown
