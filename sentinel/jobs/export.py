"""Every job that matches, as JSONL (each job as ``GET /v1/jobs/{id}`` shows it, attempts included) or CSV (one
line per job: its chosen images, verdict and summaries), read in batches so memory stays flat however many match.
The filters are the evaluation export's (:mod:`sentinel.evaluation.listing`) plus the job's state; ``verdict`` is
the job's final verdict, which a reviewer's decision on an amber image already updates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from sentinel.db import keyset
from sentinel.errors import InvalidInput
from sentinel.evaluation.listing import (
    EXPORT_BATCH,
    ExportFormat,
    csv_lines,
    defused,
    jsonl_lines,
    parse_verdict,
    parse_window,
    within_window,
)
from sentinel.jobs.views import JobViews
from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import visible
from sentinel.models import Job, JobAttempt, JobState, ReviewDecision, Verdict

#: The CSV columns of a job export, in order. The chosen image's columns hold one value per slot, joined by " ".
CSV_HEADER = (
    "id",
    "created_at",
    "finished_at",
    "task",
    "state",
    "verdict",
    "reason",
    "prompt",
    "model",
    "n",
    "attempts",
    "image_ids",
    "image_urls",
    "evaluation_ids",
    "summaries",
    "key_id",
)


@dataclass(frozen=True)
class JobFilter:
    task: str | None = None
    state: JobState | None = None
    verdict: Verdict | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: A key id or name; as for evaluations, a key that is not an admin's narrows only its own tenant's jobs.
    key: str | None = None

    @classmethod
    def parse(
        cls,
        task: str | None = None,
        state: str | None = None,
        verdict: str | None = None,
        since: str | None = None,
        until: str | None = None,
        key: str | None = None,
    ) -> JobFilter:
        try:
            parsed_state = JobState(state) if state else None
        except ValueError:
            states = ", ".join(s.value for s in JobState)
            raise InvalidInput(f"'state' must be one of {states}, not '{state}'", field="state") from None
        start, end = parse_window(since, until)
        return cls(task or None, parsed_state, parse_verdict(verdict), start, end, key or None)

    def listing(self) -> keyset.Listing:
        """What a cursor of these jobs pages: it is refused with other filters or on another list."""
        return keyset.Listing("jobs", {f.name: getattr(self, f.name) for f in fields(self)})


def job_query(filters: JobFilter, caller: Caller | None) -> Any:
    """The caller's tenant's jobs (``caller`` None: everyone's) that match, newest first in keyset order: the list's
    pages and the export read the same rows."""
    query = visible(select(Job), Job.key_id, caller)
    if filters.task:
        query = query.where(col(Job.task) == filters.task)
    if filters.state:
        query = query.where(col(Job.state) == filters.state)
    if filters.verdict:
        query = query.where(col(Job.verdict) == filters.verdict)
    query = within_window(query, Job.created_at, Job.key_id, filters.since, filters.until, filters.key)
    return query.order_by(col(Job.created_at).desc(), col(Job.id).desc())


class JobExport:
    def __init__(self, views: JobViews) -> None:
        self.views = views
        self.services = views.services

    def _query(self, filters: JobFilter, caller: Caller | None) -> Any:
        return job_query(filters, caller)

    def export(self, filters: JobFilter, fmt: ExportFormat, caller: Caller | None = None) -> Iterator[bytes]:
        """Every match, newest first, a batch at a time; each batch is three short queries (the jobs, their
        attempts, and the review decisions on those attempts)."""
        # The header goes out with the first batch: an export that cannot read a row sends nothing at all.
        header = csv_lines(CSV_HEADER, []) if fmt is ExportFormat.CSV else b""
        query = self._query(filters, caller)
        after: tuple[datetime, str | int] | None = None
        while True:
            with Session(self.services.engine) as session:
                paged = query if after is None else query.where(keyset.older_than(Job.created_at, Job.id, after))
                jobs = list(session.exec(paged.limit(EXPORT_BATCH)).all())
                attempts, decisions = self._attempts(session, [job.id for job in jobs])
            views = [self.views.view(job, attempts.get(job.id, []), decisions) for job in jobs]
            if fmt is ExportFormat.CSV:
                yield header + csv_lines((), [self._csv_row(job, view) for job, view in zip(jobs, views, strict=True)])
            else:
                yield jsonl_lines(views)
            header = b""
            if len(jobs) < EXPORT_BATCH:
                return
            after = (jobs[-1].created_at, jobs[-1].id)

    @staticmethod
    def _attempts(
        session: Session, job_ids: list[str]
    ) -> tuple[dict[str, list[JobAttempt]], dict[str, ReviewDecision]]:
        by_job: dict[str, list[JobAttempt]] = {}
        if not job_ids:
            return by_job, {}
        query = (
            select(JobAttempt)
            .where(col(JobAttempt.job_id).in_(job_ids))
            .order_by(col(JobAttempt.job_id), col(JobAttempt.slot), col(JobAttempt.number))
        )
        for attempt in session.exec(query):
            by_job.setdefault(attempt.job_id, []).append(attempt)
        evaluation_ids = [a.evaluation_id for rows in by_job.values() for a in rows if a.evaluation_id]
        decisions: dict[str, ReviewDecision] = {}
        if evaluation_ids:
            found = session.exec(select(ReviewDecision).where(col(ReviewDecision.evaluation_id).in_(evaluation_ids)))
            decisions = {d.evaluation_id: d for d in found}
        return by_job, decisions

    @staticmethod
    def _csv_row(job: Job, view: dict[str, Any]) -> list[Any]:
        chosen = (view.get("result") or {}).get("images") or []
        attempts = {(a["slot"], a["number"]): a for a in view.get("attempts") or []}
        evaluations = [(attempts.get((c["slot"], c["attempt"])) or {}).get("evaluation_id") for c in chosen]
        return [
            view["id"],
            view["created_at"],
            view["finished_at"],
            view["task"],
            view["state"],
            view["verdict"],
            defused(view.get("reason")),
            defused(view["prompt"]),
            view.get("model"),
            view["n"],
            len(view.get("attempts") or []),
            # One value per slot, in slot order (an empty one for a slot without an image).
            " ".join((c.get("image") or {}).get("id") or "" for c in chosen),
            " ".join((c.get("image") or {}).get("url") or "" for c in chosen),
            " ".join(e or "" for e in evaluations),
            defused(" | ".join(c.get("summary") or "" for c in chosen)),
            job.key_id,
        ]
