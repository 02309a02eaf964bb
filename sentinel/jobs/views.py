"""A job as the API shows it: its state, every attempt, and the chosen image per slot."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from sentinel.db import autocommit
from sentinel.jobs.selection import choose
from sentinel.models import FINAL_JOB_STATES, Job, JobAttempt, ReviewDecision, Verdict, as_utc, review_view
from sentinel.services import Services


def _time(value: Any) -> str | None:
    return as_utc(value).isoformat() if value else None


class JobViews:
    def __init__(self, services: Services) -> None:
        self.services = services

    def decisions(self, attempts: list[JobAttempt]) -> dict[str, ReviewDecision]:
        """The review decisions on these attempts' evaluations, by evaluation id, in one query."""
        ids = [a.evaluation_id for a in attempts if a.evaluation_id]
        if not ids:
            return {}
        # A read without a transaction: a read-only session ended in ROLLBACK, at which psycopg forgets the pooled
        # connection's prepared statements.
        with Session(autocommit(self.services.engine)) as session:
            rows = session.exec(select(ReviewDecision).where(col(ReviewDecision.evaluation_id).in_(ids)))
            return {d.evaluation_id: d for d in rows}

    def _image(self, image_id: str | None) -> dict[str, str] | None:
        return {"id": image_id, "url": self.services.images.url(image_id)} if image_id else None

    def view(
        self, job: Job, attempts: list[JobAttempt], decisions: dict[str, ReviewDecision] | None = None
    ) -> dict[str, Any]:
        """``decisions`` (review decisions by evaluation id) when read already for many jobs at once (an export)."""
        decisions = self.decisions(attempts) if decisions is None else decisions
        body: dict[str, Any] = {
            "id": job.id,
            "object": "job",
            "task": job.task,
            "prompt": job.prompt,
            "params": job.params,
            "model": job.model,
            "n": job.n,
            "max_attempts": job.max_attempts,
            "budget_seconds": job.budget_seconds,
            "seed": job.seed,
            # An edit job's inputs; null for a job that generates new images.
            "source": self._image(job.source_image_id),
            "mask": self._image(job.mask_image_id),
            "state": job.state,
            "verdict": job.verdict,
            "reason": job.reason,
            "created_at": _time(job.created_at),
            "deadline_at": _time(job.deadline_at),
            "finished_at": _time(job.finished_at),
            "attempts": [self._attempt(a, decisions.get(a.evaluation_id or "")) for a in attempts],
            "result": None,
        }
        if job.state in FINAL_JOB_STATES:
            chosen = []
            for slot in range(job.n):
                best = choose(a for a in attempts if a.slot == slot)
                chosen.append(
                    {
                        "slot": slot,
                        "attempt": best.number if best else None,
                        "image": self._image(best.image_id) if best else None,
                        "verdict": best.verdict if best else None,
                        "summary": best.summary if best else None,
                        "passing": bool(best and best.verdict == Verdict.GREEN),
                    }
                )
            body["result"] = {"images": chosen}
        return body

    def _attempt(self, attempt: JobAttempt, decision: ReviewDecision | None) -> dict[str, Any]:
        evaluation_id = attempt.evaluation_id
        return {
            "slot": attempt.slot,
            "number": attempt.number,
            "state": attempt.state,
            "provider": attempt.provider,
            "model": attempt.provider_model,
            "image": self._image(attempt.image_id),
            "evaluation_id": evaluation_id,
            # The summary is the reasoning in one line; every judge's vote is one link away.
            "evaluation_url": f"/v1/evaluations/{evaluation_id}" if evaluation_id else None,
            "verdict": attempt.verdict,
            "failed_judges": attempt.failed_judges,
            "summary": attempt.summary,
            # Exactly what the provider was asked: the job's prompt, plus the fixes on a regeneration.
            "prompt": attempt.prompt,
            "guidance": attempt.guidance,
            # A person's decision on an amber attempt; its verdict above is then the human one.
            "review": review_view(decision) if decision is not None else None,
            "error": attempt.error,
            "failure": attempt.failure,
            "unchanging": bool(attempt.unchanging),
            "generation_ms": attempt.generation_ms,
            "started_at": _time(attempt.started_at),
            "finished_at": _time(attempt.finished_at),
        }
