"""What the next attempt must do differently, from the evaluation of the last one."""

from __future__ import annotations

from sentinel.evaluation.guidance import fixes_for, join_guidance
from sentinel.evaluation.rubric import Rubric
from sentinel.models import Evaluation


def guidance_from(evaluation: Evaluation) -> str:
    """Each failing criterion's fix, rendered with the job's params and the judges' measurements (never the
    check's wording, which an image model cannot act on)."""
    rubric = Rubric.model_validate(evaluation.rubric)
    return join_guidance(fixes_for(rubric, evaluation.result or {}, evaluation.params))


def reviewer_guidance(evaluation: Evaluation, note: str | None) -> str:
    """After a reviewer's rejection: the failing criteria's fixes and the reviewer's note (never who reviewed)."""
    return join_guidance([guidance_from(evaluation), note or ""])
