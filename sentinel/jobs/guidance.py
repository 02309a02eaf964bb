"""What the next attempt must do differently, from the evaluations of the slot's attempts so far."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from sentinel.evaluation.guidance import MAX_GUIDANCE_CHARS, failed_criteria, fixes_for, join_guidance
from sentinel.evaluation.rubric import Rubric
from sentinel.models import Evaluation, JobAttempt, ReviewDecision


def earlier_evaluations(session: Session, attempt: JobAttempt) -> list[Evaluation]:
    """The evaluations of the slot's attempts before ``attempt``, latest first."""
    query = (
        select(Evaluation)
        .join(JobAttempt, col(JobAttempt.evaluation_id) == col(Evaluation.id))
        .where(
            JobAttempt.job_id == attempt.job_id,
            JobAttempt.slot == attempt.slot,
            col(JobAttempt.number) < attempt.number,
        )
        .order_by(col(JobAttempt.number).desc())
    )
    return list(session.exec(query))


def reviewer_notes(session: Session, earlier: Sequence[Evaluation]) -> list[str]:
    """The notes reviewers gave when they rejected ``earlier`` attempts of the slot (in ``earlier``'s order): a
    person's instruction about the slot stays true for every later attempt, not only the one it asked for."""
    ids = [e.id for e in earlier]
    if not ids:
        return []
    rows = session.exec(
        select(ReviewDecision.evaluation_id, ReviewDecision.note).where(
            col(ReviewDecision.evaluation_id).in_(ids), ReviewDecision.decision == "reject"
        )
    )
    notes = {evaluation_id: note for evaluation_id, note in rows if note and note.strip()}
    return [notes[i] for i in ids if i in notes]


def guidance_from(evaluation: Evaluation, earlier: Sequence[Evaluation] = (), notes: Sequence[str] = ()) -> str:
    """Each failing criterion's fix, rendered with the job's params and the judges' measurements (never the
    check's wording, which an image model cannot act on); then the notes of reviewers who rejected earlier
    attempts of the slot (:func:`reviewer_notes`); then the fixes of criteria that failed in ``earlier`` attempts
    of the slot (latest first) and pass now."""
    rubric = Rubric.model_validate(evaluation.rubric)
    parts = _fixes(evaluation, rubric)
    parts += [note for note in notes if note not in parts]
    return _with_earlier(parts, evaluation, rubric, earlier)


def _fixes(evaluation: Evaluation, rubric: Rubric, skip: frozenset[str] = frozenset()) -> list[str]:
    result = evaluation.result or {}
    kept = [
        judge | {"criteria": [c for c in judge.get("criteria", []) if c.get("id") not in skip]}
        for judge in result.get("judges", [])
    ]
    return fixes_for(rubric, {"judges": kept}, evaluation.params)


def _with_earlier(parts: list[str], evaluation: Evaluation, rubric: Rubric, earlier: Sequence[Evaluation]) -> str:
    # A fix that worked is kept: dropped from the next prompt, the model's default comes back and the same failure
    # is paid for again. The latest failures come first, and always; an earlier one is added whole while it fits
    # the cap, each criterion once, in the words of its latest failure (its measurement then).
    seen = {c["id"] for c in failed_criteria(evaluation.result or {})}
    for before in earlier:
        failed = {c["id"] for c in failed_criteria(before.result or {})}
        if failed - seen:
            # A job's attempts are judged by one rubric snapshot: validated once, not once per attempt.
            same = before.rubric == evaluation.rubric
            for fix in _fixes(before, rubric if same else Rubric.model_validate(before.rubric), frozenset(seen)):
                if fix not in parts and len(join_guidance([*parts, fix])) < MAX_GUIDANCE_CHARS:
                    parts.append(fix)
        seen |= failed
    return join_guidance(parts)
