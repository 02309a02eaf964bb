"""What the review queue page shows: the item (claimed), the list, the flashes; and one decision applied with
every refusal shown on the item again, the note still in its box. The routes are in review_pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from sentinel.errors import InvalidInput, SentinelError
from sentinel.evaluation.service import EvaluationService
from sentinel.jobs.service import JobService
from sentinel.models import as_utc, utcnow
from sentinel.pages.auth import Reviewer
from sentinel.pages.endpoints import render
from sentinel.review.filters import QueueFilter
from sentinel.review.service import UNDO_WINDOW_SECONDS, AlreadyDecided, ReviewService

QUEUE_PAGE_SIZE = 200
#: A bulk decision names at most this many items (the service's own limit), plus the few other fields.
MAX_BULK_ITEMS = 200
MAX_NOTE = 4000
#: The query parameters (and hidden form fields) a reviewer's filters travel in.
FILTER_FIELDS = ("task", "judge", "criterion", "model", "older_than", "newer_than")
#: What a decision form carries through a login when the session had expired.
PENDING_FIELDS = ("evaluation_id", "decision", "note", "regenerate", *FILTER_FIELDS)


@dataclass
class Desk:
    """What the review page reads from: the reviewer and the services, for one request."""

    reviewer: Reviewer
    headers: dict[str, str]
    review: ReviewService
    evaluations: EvaluationService
    jobs: JobService

    async def call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(method, *args, **kwargs)


@dataclass
class Shown:
    """What a single page view adds to the queue: flashes, the note to keep, results of a bulk decision."""

    status: int = 200
    error: str | None = None
    info: str | None = None
    note: str = ""
    regenerate: bool = False
    decided: str | None = None
    undone: str | None = None
    #: The decision was refused because the item is decided already: show it, but offer no buttons.
    closed: bool = False
    bulk: list[dict[str, Any]] | None = None


def clock(iso: str | datetime | None) -> str:
    """HH:MM in UTC, for "claimed until" and "decided at"."""
    if iso is None:
        return ""
    moment = datetime.fromisoformat(iso) if isinstance(iso, str) else iso
    return as_utc(moment).strftime("%H:%M")


def filters_of(values: dict[str, str]) -> QueueFilter:
    """The reviewer's filters from a form or query; InvalidInput naming the bad one."""
    return QueueFilter.from_query(*(values.get(name) for name in FILTER_FIELDS))


def review_url(filters: QueueFilter, **extra: str | None) -> str:
    query = filters.as_query() | {key: value for key, value in extra.items() if value}
    return "/review" + (f"?{urlencode(query)}" if query else "")


def load_item(evaluations: EvaluationService, jobs: JobService, evaluation_id: str, reviewer: Reviewer) -> dict:
    """One evaluation as the review page shows it (the caller's tenant only), with its job's prompt and maker."""
    evaluation, votes = evaluations.get(evaluation_id, reviewer.caller)
    item = evaluations.view(evaluation, votes)
    item["job"] = None
    job_id = jobs.job_of_evaluation(evaluation_id)
    if job_id is not None:
        job, attempts = jobs.get(job_id, reviewer.caller)
        attempt = next((a for a in attempts if a.evaluation_id == evaluation_id), None)
        if attempt is not None:
            item["job"] = {
                "id": job.id,
                "prompt": job.prompt,
                "params": job.params,
                "slot": attempt.slot,
                "attempt": attempt.number,
                "max_attempts": job.max_attempts,
                "provider": attempt.provider,
                "model": attempt.provider_model,
            }
    # Worst first is the judges' order already; a reviewer reads what failed before the full votes.
    item["failing"] = [
        {"judge": judge["judge"], "criterion": c["id"], "detail": c.get("detail"), "critical": c.get("critical")}
        for judge in item.get("judges") or []
        if judge.get("passed") is not True
        for c in judge.get("criteria") or []
        if not c.get("passed")
    ]
    return item


async def show(
    desk: Desk, filters: QueueFilter, item_id: str | None, shown: Shown, after: str | None = None
) -> Response:
    """The queue page: the item asked for (claimed when it still waits), else the next one nobody else holds."""
    reviewer = desk.reviewer
    claim: dict[str, Any] | None = None
    current: str | None = None
    notices: list[str] = []
    if item_id and shown.closed:
        current = item_id
    elif item_id:
        try:
            claim = await desk.call(desk.review.claim, item_id, reviewer.name, reviewer.caller)
            current = item_id
        except SentinelError as exc:
            decided = await desk.call(desk.review.decision, item_id, reviewer.caller)
            if decided is not None:
                notices.append(
                    f"'{item_id}' was already decided by {decided.reviewer} at {clock(decided.created_at)} UTC "
                    f"({decided.decision}); here is the next item."
                )
            else:
                notices.append(f"{exc.message}; here is the next item.")
    if current is None:
        current = await desk.call(desk.review.claim_next, filters, reviewer.name, reviewer.caller, after)
        if current is not None:
            claim = {"reviewer": reviewer.name, "mine": True, "expires_at": None}
    item = None
    if current is not None:
        try:
            item = await desk.call(load_item, desk.evaluations, desk.jobs, current, reviewer)
        except SentinelError as exc:
            notices.append(exc.message)
    queue = await desk.call(desk.review.queue, filters, QUEUE_PAGE_SIZE, reviewer.caller, reviewer.name)
    index = next((i for i, entry in enumerate(queue) if item and entry["id"] == item["id"]), None)
    if claim is not None and not claim.get("expires_at") and index is not None and queue[index].get("claim"):
        claim = queue[index]["claim"] | {"mine": True}
    facets = await desk.call(desk.review.facets, reviewer.caller)
    progress = await desk.call(desk.review.progress, reviewer.caller)
    just_decided = None
    if shown.decided:
        row = await desk.call(desk.review.decision, shown.decided, reviewer.caller)
        if row is not None:
            age = (utcnow() - as_utc(row.created_at)).total_seconds()
            just_decided = {
                "evaluation_id": row.evaluation_id,
                "decision": row.decision,
                "reviewer": row.reviewer,
                "at": clock(row.created_at),
                "undo": row.reviewer == reviewer.name and age < UNDO_WINDOW_SECONDS,
            }
    return render(
        desk.headers,
        "review.html",
        shown.status,
        reviewer=reviewer,
        nav="review",
        filters=filters,
        filter_query=filters.as_query(),
        facets=facets,
        queue=queue,
        index=index,
        item=item,
        claim=claim,
        claim_until=clock(claim["expires_at"]) if claim and claim.get("expires_at") else "",
        previous_id=queue[index - 1]["id"] if index else None,
        next_url=review_url(filters, after=item["id"]) if item and not shown.closed else None,
        free_url=review_url(filters),
        link=lambda **extra: review_url(filters, **extra),
        clock=clock,
        shown=shown,
        notices=notices,
        just_decided=just_decided,
        progress=progress,
        mine=next((row for row in progress if row["reviewer"] == reviewer.name), None),
    )


def desk_of(
    reviewer: Reviewer, headers: dict[str, str], review: ReviewService, evaluations: EvaluationService, jobs: JobService
) -> Desk:
    return Desk(reviewer, headers, review, evaluations, jobs)


async def decide_and_show(desk: Desk, evaluation_id: str, form: dict[str, str]) -> Response:
    """Apply a decision form (from the page, or carried through a login): on success the next item opens; a refusal
    shows the item again with the note still in its box and the reason."""
    try:
        filters = filters_of(form)
    except InvalidInput:
        filters = QueueFilter()  # the decision matters more than a filter that went bad on the way
    note = form.get("note", "")
    regenerate = form.get("regenerate") == "on"
    reviewer = desk.reviewer
    try:
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"the note is longer than {MAX_NOTE} characters", field="note")
        await desk.call(
            desk.review.decide,
            evaluation_id,
            form.get("decision", ""),
            reviewer.name,
            note.strip() or None,
            regenerate,
            caller=reviewer.caller,
            # The page shows who holds the item it opened: deciding it there is a person's deliberate choice.
            force=True,
        )
    except AlreadyDecided as exc:
        shown = Shown(status=409, error=exc.message, note=note, closed=True)
        return await show(desk, filters, evaluation_id, shown)
    except SentinelError as exc:
        shown = Shown(status=exc.status_code, error=exc.message, note=note, regenerate=regenerate)
        return await show(desk, filters, evaluation_id, shown)
    return RedirectResponse(review_url(filters, decided=evaluation_id), status_code=303)
