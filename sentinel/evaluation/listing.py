"""Evaluations as lists: ``GET /v1/evaluations`` a page at a time, and every match exported as JSONL or CSV.

Both read the same query: the caller's tenant's evaluations (an admin key's: everyone's), newest first, narrowed
by task, verdict, creation time and key. ``verdict`` is the *final* verdict, the one a user acts on: a reviewer's
decision on an amber result when there is one (approve: green, reject: red), otherwise the panel's. A page is one
query (with the review decisions joined in) plus one counting the votes; an export reads the same way in batches,
so a hundred thousand rows never sit in memory at once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import Session, col, select

from sentinel.db import keyset
from sentinel.errors import InvalidInput, UnknownTask
from sentinel.evaluation.service import EvaluationService, jobs_of
from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import visible
from sentinel.models import ApiKey, Evaluation, ReviewDecision, Verdict, Vote

#: Rows read per query while exporting: big enough to be quick, small enough to keep memory flat.
EXPORT_BATCH = 500
#: A page holds at most this many rows (``limit``), 50 unless asked.
MAX_LIMIT, DEFAULT_LIMIT = 500, 50


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"

    @property
    def media_type(self) -> str:
        return "text/csv; charset=utf-8" if self is ExportFormat.CSV else "application/x-ndjson"

    @classmethod
    def parse(cls, value: str | None) -> ExportFormat:
        try:
            return cls(value or cls.JSONL)
        except ValueError:
            raise InvalidInput(f"'format' must be jsonl or csv, not '{value}'", field="format") from None


def parse_time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 time from a query parameter (a date alone is its midnight; no zone: UTC)."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "+", 1) if "T" in value else value.strip())
    except ValueError:
        raise InvalidInput(
            f"'{field}' must be an ISO 8601 time such as 2026-12-05T14:00:00Z or 2026-12-05, not '{value}'",
            field=field,
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_verdict(value: str | None) -> Verdict | None:
    if value is None or value == "":
        return None
    try:
        return Verdict(value)
    except ValueError:
        raise InvalidInput(f"'verdict' must be green, amber or red, not '{value}'", field="verdict") from None


def parse_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """The ``since`` and ``until`` query parameters as times (either may be open), ``until`` later than ``since``."""
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("'until' must be later than 'since'", field="until")
    return start, end


def keys_named(key: str) -> Any:
    """The ids of the keys ``key`` names: a key id, or a key's name (revoked keys of that name included)."""
    return select(col(ApiKey.id)).where(or_(col(ApiKey.id) == key, col(ApiKey.name) == key))


def within_window(
    query: Any, created_at: Any, key_column: Any, since: datetime | None, until: datetime | None, key: str | None
) -> Any:
    """``query`` narrowed to rows created in ``[since, until)`` with the key ``key`` names (each None: no limit)."""
    if since:
        query = query.where(col(created_at) >= since)
    if until:
        query = query.where(col(created_at) < until)
    if key:
        query = query.where(col(key_column).in_(keys_named(key)))
    return query


@dataclass(frozen=True)
class EvaluationFilter:
    """What a listing or an export is narrowed to; :meth:`parse` checks a request's values."""

    task: str | None = None
    verdict: Verdict | None = None
    #: Created at or after this time.
    since: datetime | None = None
    #: Created before this time.
    until: datetime | None = None
    #: Only the evaluations made with this key (its id or name). An admin key may name any key; another key only
    #: narrows its own tenant's list, so naming another tenant's key gives an empty one.
    key: str | None = None

    @classmethod
    def parse(
        cls,
        task: str | None = None,
        verdict: str | None = None,
        since: str | None = None,
        until: str | None = None,
        key: str | None = None,
    ) -> EvaluationFilter:
        start, end = parse_window(since, until)
        return cls(task or None, parse_verdict(verdict), start, end, key or None)

    def listing(self) -> keyset.Listing:
        """What a cursor of these evaluations pages: it is refused with other filters or on another list."""
        return keyset.Listing("evaluations", {f.name: getattr(self, f.name) for f in fields(self)})


def final_verdict_is(verdict: Verdict) -> ColumnElement[bool]:
    """The final verdict (a reviewer's decision, else the panel's) equals ``verdict``; needs the decision joined."""
    decision = col(ReviewDecision.decision)
    if verdict is Verdict.GREEN:
        return or_(col(Evaluation.verdict) == Verdict.GREEN, decision == "approve")
    if verdict is Verdict.RED:
        return or_(col(Evaluation.verdict) == Verdict.RED, decision == "reject")
    return and_(col(Evaluation.verdict) == Verdict.AMBER, col(ReviewDecision.id).is_(None))


@dataclass(frozen=True)
class Page:
    data: list[dict[str, Any]]
    #: Where the next page starts; None on the last page.
    next_cursor: str | None


def defused(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first) is kept as text by a
    leading apostrophe: exported summaries and prompts come from judges and callers, not from us."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(header)
    writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
    return buffer.getvalue().encode()


def jsonl_lines(objects: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(obj) + b"\n" for obj in objects)


#: The CSV columns of an evaluation export, in order.
CSV_HEADER = (
    "id",
    "created_at",
    "finished_at",
    "task",
    "status",
    "verdict",
    "final_verdict",
    "review_decision",
    "reviewer",
    "summary",
    "failed_judges",
    "failing_criteria",
    "image_id",
    "image_url",
    "job_id",
    "key_id",
)


def failing_criteria(view: dict[str, Any]) -> str:
    """The failed criteria, worst first, as ``criterion (severity)`` joined by ``; ``."""
    issues = view.get("issues") or []
    return "; ".join(f"{issue['criterion']} ({issue['severity']})" for issue in issues)


class EvaluationListing:
    def __init__(self, evaluations: EvaluationService) -> None:
        self.evaluations = evaluations
        self.services = evaluations.services

    def _query(self, filters: EvaluationFilter, caller: Caller | None) -> Any:
        query = select(Evaluation, ReviewDecision).outerjoin(
            ReviewDecision, col(ReviewDecision.evaluation_id) == col(Evaluation.id)
        )
        query = visible(query, Evaluation.key_id, caller)
        if filters.task:
            query = query.where(col(Evaluation.task) == filters.task)
        if filters.verdict:
            query = query.where(final_verdict_is(filters.verdict))
        query = within_window(
            query, Evaluation.created_at, Evaluation.key_id, filters.since, filters.until, filters.key
        )
        return query.order_by(col(Evaluation.created_at).desc(), col(Evaluation.id).desc())

    def _read(
        self, session: Session, query: Any, after: tuple[datetime, str | int] | None, limit: int
    ) -> list[tuple[Evaluation, ReviewDecision | None]]:
        """An export's batch: up to ``limit`` rows after the position ``after``."""
        if after is not None:
            query = query.where(keyset.older_than(col(Evaluation.created_at), col(Evaluation.id), after))
        return list(session.exec(query.limit(limit)).all())

    def _views(self, session: Session, rows: list[tuple[Evaluation, ReviewDecision | None]]) -> list[dict[str, Any]]:
        """Each row as ``GET /v1/evaluations/{id}`` shows it, with the page's votes counted in one query."""
        ids = [evaluation.id for evaluation, _ in rows]
        counts: dict[str, int] = {}
        if ids:
            counted = select(col(Vote.evaluation_id), func.count()).where(col(Vote.evaluation_id).in_(ids))
            counts = dict(session.exec(counted.group_by(col(Vote.evaluation_id))).all())
        jobs = jobs_of(session.connection(), ids)
        return [
            self.evaluations.render(evaluation, counts.get(evaluation.id, 0), decision, jobs.get(evaluation.id))
            for evaluation, decision in rows
        ]

    def page(
        self,
        filters: EvaluationFilter,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        caller: Caller | None = None,
    ) -> Page:
        """One page, newest first, starting after ``cursor`` (the previous page's ``next_cursor``)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"'limit' must be 1 to {MAX_LIMIT}", field="limit")
        self.check_task(filters, caller)
        with Session(self.services.engine) as session:
            columns = (col(Evaluation.created_at), col(Evaluation.id))
            query = self._query(filters, caller)
            listing = filters.listing()
            rows, next_cursor = keyset.read_page(
                session, query, columns, listing, cursor, str, limit, lambda row: row[0]
            )
            data = self._views(session, rows)
        return Page(data, next_cursor)

    def check_task(self, filters: EvaluationFilter, caller: Caller | None = None) -> None:
        """Raises UnknownTask (400 naming ``task`` and the known tasks) for a ``task`` filter no rubric defines and
        none of the caller's stored evaluations has: a typo's empty list read as "nothing yet". A task whose rubric
        was removed still lists its old evaluations. The read is made only for a task no rubric defines."""
        if not filters.task:
            return
        try:
            self.services.rubrics.get(filters.task)
        except UnknownTask as unknown:
            stored = visible(
                select(Evaluation.id).where(col(Evaluation.task) == filters.task), Evaluation.key_id, caller
            )
            with Session(self.services.engine) as session:
                if session.exec(stored.limit(1)).first() is None:
                    raise UnknownTask(f"{unknown.message}; no stored evaluation has it either", field="task") from None

    def export(self, filters: EvaluationFilter, fmt: ExportFormat, caller: Caller | None = None) -> Iterator[bytes]:
        """Every match, newest first, encoded a batch at a time: JSONL is each evaluation as the API shows it, CSV
        is :data:`CSV_HEADER` then one line per evaluation. Each batch is its own short query."""
        # The header goes out with the first batch: an export that cannot read a row sends nothing at all.
        header = csv_lines(CSV_HEADER, []) if fmt is ExportFormat.CSV else b""
        query = self._query(filters, caller)
        after: tuple[datetime, str | int] | None = None
        while True:
            with Session(self.services.engine) as session:
                rows = self._read(session, query, after, EXPORT_BATCH)
                views = self._views(session, rows)
            if fmt is ExportFormat.CSV:
                lines = [
                    self._csv_row(view, evaluation.key_id) for (evaluation, _), view in zip(rows, views, strict=True)
                ]
                yield header + csv_lines((), lines)
            else:
                yield jsonl_lines(views)
            header = b""
            if len(rows) < EXPORT_BATCH:
                return
            last = rows[-1][0]
            after = (last.created_at, last.id)

    @staticmethod
    def _csv_row(view: dict[str, Any], key_id: str | None) -> list[Any]:
        review = view.get("review") or {}
        image = view.get("image") or {}
        return [
            view["id"],
            view["created_at"],
            view["finished_at"],
            view["task"],
            view["status"],
            view["verdict"],
            view["final_verdict"],
            review.get("decision"),
            defused(review.get("reviewer")),
            defused(view.get("summary")),
            view.get("failed_judges"),
            defused(failing_criteria(view)),
            image.get("id"),
            image.get("url"),
            view["job_id"],
            key_id,
        ]
