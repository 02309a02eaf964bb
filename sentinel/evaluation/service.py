"""Evaluations: submit an image for a task, collect one vote per judge, finalise exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import threading
import uuid
from collections.abc import Collection, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import Insert, Row, Select, Update, bindparam, func, union_all, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, col, select

import sentinel.worker
from sentinel.db import autocommit, insert_for
from sentinel.db.outages import SAME_OUTAGE, Outage, outages_of
from sentinel.errors import InvalidInput, NotFound
from sentinel.evaluation import queue_depth
from sentinel.evaluation.accept_rows import NewEvaluation, insert_evaluation
from sentinel.evaluation.admission import JudgingAdmission
from sentinel.evaluation.inputs import EDIT_INPUTS as EDIT_INPUTS  # re-exported: jobs read it from here
from sentinel.evaluation.inputs import check_edit_inputs, check_mask_fits
from sentinel.evaluation.intake import Intake
from sentinel.evaluation.judges.base import ImageSource, JudgeContext
from sentinel.evaluation.panel import VISION_LLM, JudgeConfig
from sentinel.evaluation.questions import with_questions
from sentinel.evaluation.rubric import Rubric, validate_params
from sentinel.evaluation.runner import VoteResult, abstention, quorum_for, run_offline_judges, run_vision_judge
from sentinel.evaluation.verdict import aggregate, disagreement, escalation_record
from sentinel.evaluation.vision.judge import VisionJudge, scan_before_asking
from sentinel.idempotency.service import RecordedAnswer
from sentinel.keys.caller import Caller
from sentinel.keys.tenancy import owned_by_bound_tenant, tenant_params, visible
from sentinel.models import (
    Evaluation,
    EvaluationStatus,
    JobAttempt,
    OutboxMessage,
    ReviewDecision,
    StoredImage,
    Verdict,
    Vote,
    as_utc,
    review_view,
    utcnow,
)
from sentinel.net.fetch import check_url
from sentinel.outbox import steps
from sentinel.outbox.store import UNSENT, Message, message_values, wake_relays, write
from sentinel.services import Services
from sentinel.store.images import ImageInfo
from sentinel.store.mask_region import check_marks_region
from sentinel.telemetry.finished import evaluation_key
from sentinel.telemetry.metrics import observe_verdict, observe_vote
from sentinel.worker.loop import start_async

logger = logging.getLogger(__name__)


@lru_cache
def _vote_insert(dialect: str) -> Insert:
    """INSERT of votes, each unless its judge voted already, returning the judges stored: built once per database
    kind and run with a list of rows (one statement whatever their number)."""
    insert = insert_for(dialect)
    votes = Vote.__table__  # type: ignore[attr-defined]
    return insert(votes).on_conflict_do_nothing(index_elements=["evaluation_id", "judge"]).returning(votes.c.judge)


_EVALUATIONS = Evaluation.__table__  # type: ignore[attr-defined]
#: The columns of an evaluation a worker reads to judge it or finalise it: not its verdict's (null until then).
_JUDGING_COLUMNS = tuple(
    column
    for column in _EVALUATIONS.columns
    if column.name not in {"verdict", "summary", "failed_judges", "result", "finished_at"}
)


class _Statements:
    """The queries a worker runs for every evaluation, built once with the evaluation's id as a parameter: building
    a statement (and its cache key) each time cost more than running it."""

    @cached_property
    def judging_read(self) -> Select[Any]:
        """The evaluation's columns a worker uses (:data:`_JUDGING_COLUMNS`) with the types of its images
        (``image_mime``, ``source_mime``, ``mask_mime``; None where it has none), and a judge that voted per row
        (``voted``; one row with None when none has): one statement, so one round trip. Columns, not the ORM entity:
        loading the row into an object cost more than the query."""
        evaluations, votes = _EVALUATIONS, Vote.__table__  # type: ignore[attr-defined]
        image, source, mask = (StoredImage.__table__.alias(name) for name in ("image", "source", "mask"))  # type: ignore[attr-defined]
        joined = (
            evaluations.outerjoin(image, image.c.id == evaluations.c.image_id)
            .outerjoin(source, source.c.id == evaluations.c.source_image_id)
            .outerjoin(mask, mask.c.id == evaluations.c.mask_image_id)
            .outerjoin(votes, votes.c.evaluation_id == evaluations.c.id)
        )
        return (
            select(
                *_JUDGING_COLUMNS,
                image.c.mime.label("image_mime"),
                source.c.mime.label("source_mime"),
                mask.c.mime.label("mask_mime"),
                votes.c.judge.label("voted"),
                _job_waits(evaluations.c.id).label("job_waits"),
            )
            .select_from(joined)
            .where(evaluations.c.id == bindparam("evaluation_id"))
        )

    @cached_property
    def api_read(self) -> Select[Any]:
        """``GET /v1/evaluations/{id}``: the evaluation's columns and how many votes are in (``votes_in``). Without
        the rubric, which the answer does not show (its JSON is the row's largest, decoded at every read of a long
        poll). Columns, not the ORM entity: loading the row into an object cost more than the query."""
        evaluations = Evaluation.__table__  # type: ignore[attr-defined]
        votes_in = select(func.count()).where(col(Vote.evaluation_id) == col(Evaluation.id)).scalar_subquery()
        shown = [column for column in evaluations.columns if column.name != "rubric"]
        return select(*shown, votes_in.label("votes_in"), _job_of(evaluations.c.id).label("job_id")).where(
            col(Evaluation.id) == bindparam("evaluation_id")
        )

    @cached_property
    def api_read_of_tenant(self) -> Select[Any]:
        """:attr:`api_read` kept to a tenant's rows (the ``tenant`` parameter)."""
        return self.api_read.where(owned_by_bound_tenant(Evaluation.key_id))

    @cached_property
    def finished_among(self) -> Select[Any]:
        """Which of the evaluations ``ids`` (an expanding parameter) are done: the long polls' shared safety net."""
        return select(_EVALUATIONS.c.id).where(
            _EVALUATIONS.c.id.in_(bindparam("ids", expanding=True)),
            _EVALUATIONS.c.status == EvaluationStatus.DONE,
        )

    @cached_property
    def votes(self) -> Select[Any]:
        return select(Vote).where(col(Vote.evaluation_id) == bindparam("evaluation_id"))

    @cached_property
    def finalise_read(self) -> Select[Any]:
        """The evaluation's columns a worker uses, locked, and whether a job's attempt waits for its verdict
        (``job_waits``). Columns, not the ORM entity, as :attr:`judging_read`."""
        return (
            select(*_JUDGING_COLUMNS, _job_waits(bindparam("evaluation_id")).label("job_waits"))
            .where(_EVALUATIONS.c.id == bindparam("evaluation_id"))
            # FOR NO KEY UPDATE: the votes just inserted hold key-share locks on this row (their foreign key); a
            # plain FOR UPDATE would wait on those, and two voters of one evaluation would deadlock each other.
            .with_for_update(of=_EVALUATIONS, key_share=True)
        )

    @cached_property
    def sweep_read(self) -> Select[Any]:
        """The unfinished evaluations' columns the sweep uses, with a vote per row (``judge``, ``voted_at``; None
        when none has voted). Equality on the status, so its index finds the few unfinished ones: "not done" read
        the whole table, every sweep period, on every deployment that keeps its history."""
        evaluations, votes = _EVALUATIONS, Vote.__table__  # type: ignore[attr-defined]
        columns = ("id", "panel", "deadline_at", "created_at", "escalated_at", "judges_resent_at")
        return (
            select(*(evaluations.c[name] for name in columns), votes.c.judge, votes.c.created_at.label("voted_at"))
            .select_from(evaluations.outerjoin(votes, votes.c.evaluation_id == evaluations.c.id))
            .where(evaluations.c.status == EvaluationStatus.JUDGING)
        )

    @cached_property
    def verdict_write(self) -> Update:
        """The verdict, written unless one is already (the condition decides racing finalisers); its values are the
        ``new_*`` parameters. Built once, as a Core statement: building it per verdict, and the ORM's handling of
        it, cost more CPU than running it."""
        return _verdict_update()


_STATEMENTS = _Statements()


def _verdict_update() -> Update:
    """The verdict's UPDATE, unless the evaluation is done already; its values are :func:`_verdict_values`'."""
    return (
        update(_EVALUATIONS)
        .where(_EVALUATIONS.c.id == bindparam("evaluation_id"), _EVALUATIONS.c.status != EvaluationStatus.DONE)
        .values(
            status=EvaluationStatus.DONE,
            verdict=bindparam("new_verdict"),
            summary=bindparam("new_summary"),
            failed_judges=bindparam("new_failed_judges"),
            result=bindparam("new_result"),
            finished_at=bindparam("new_finished_at"),
        )
    )


def _verdict_values(evaluation_id: str, verdict: Any) -> dict[str, Any]:
    """The parameters of :func:`_verdict_update` for ``verdict`` (an aggregate's)."""
    return {
        "evaluation_id": evaluation_id,
        "new_verdict": verdict.verdict,
        "new_summary": verdict.summary,
        "new_failed_judges": verdict.failed_judges,
        "new_result": verdict.to_dict(),
        "new_finished_at": utcnow(),
    }


def _job_of(evaluation_id: Any) -> Any:
    """The job whose attempt the evaluation judges, as a scalar subquery: NULL for an evaluation a caller sent in."""
    attempts = JobAttempt.__table__  # type: ignore[attr-defined]
    return select(attempts.c.job_id).where(attempts.c.evaluation_id == evaluation_id).limit(1).scalar_subquery()


def jobs_of(connection: Connection, evaluation_ids: Collection[str]) -> dict[str, str]:
    """The job whose attempt each of ``evaluation_ids`` judges, in one query (one a caller sent in has none)."""
    if not evaluation_ids:
        return {}
    attempts = JobAttempt.__table__  # type: ignore[attr-defined]
    query = select(attempts.c.evaluation_id, attempts.c.job_id).where(
        attempts.c.evaluation_id.in_(list(evaluation_ids))
    )
    return {evaluation_id: job_id for evaluation_id, job_id in connection.execute(query).all()}


def _job_waits(evaluation_id: Any) -> Any:
    """Whether a job's attempt waits for the evaluation's verdict (a job writes its attempt's row with the
    evaluation, so this never changes once the evaluation exists)."""
    attempts = JobAttempt.__table__  # type: ignore[attr-defined]
    return select(attempts.c.id).where(attempts.c.evaluation_id == evaluation_id).exists()


#: The columns of an outbox message's row (the keys of message_values' dict, and an unsent one's).
_MESSAGE_COLUMNS = ("actor", "queue", "args", "options", "dedupe_key", "created_at", *UNSENT)
#: The columns of a vote's row, as record_votes writes them.
_VOTE_COLUMNS = ("evaluation_id", "judge", "passed", "reasoning", "criteria", "duration_ms", "usage", "created_at")


@lru_cache(maxsize=32)
def _votes_with_verdict(votes: int, messages: int) -> Select[Any]:
    """One PostgreSQL statement that stores ``votes`` votes (each unless its judge voted already) and, if it stored
    all of them and the evaluation is not done, writes the verdict (its ``new_*`` parameters) and inserts the
    ``messages`` that follow it into the outbox (``message{i}_*``; a once-only one unless present). It returns
    the judges it stored (``stored``) and whether it wrote the verdict (``judged``).

    For a message that brings every panel judge's vote: the verdict is computed from those votes before the
    statement, so storing them, locking the evaluation, writing the verdict and committing are one round trip
    where they were five (BEGIN, INSERT, SELECT ... FOR NO KEY UPDATE, UPDATE, COMMIT). Built once per shape,
    as the evaluation's INSERT on accept (sentinel.evaluation.accept_rows)."""
    votes_table, outbox = Vote.__table__, OutboxMessage.__table__  # type: ignore[attr-defined]
    # One single-row INSERT per vote, in the order given: a VALUES of several rows of parameters has no cache key,
    # and SQLAlchemy compiled the statement afresh at every call (more CPU than the round trips it saves).
    inserts = [
        postgresql.insert(votes_table)
        .values({column: bindparam(f"vote{i}_{column}") for column in _VOTE_COLUMNS})
        .on_conflict_do_nothing(index_elements=["evaluation_id", "judge"])
        .returning(votes_table.c.judge)
        .cte(f"stored_vote_{i}")
        for i in range(votes)
    ]
    stored = union_all(*(select(insert.c.judge) for insert in inserts)).cte("stored_votes")
    # The scalar subquery over the votes' CTE makes PostgreSQL insert them before it looks at the evaluation's row
    # (an InitPlan runs before the scan it filters): any wait on another delivery's uncommitted vote for the same
    # judge is over before this statement locks the row, so it never holds the lock while waiting on a writer that
    # will want it (record_votes' transaction keeps the same order: votes first, then the lock).
    all_stored = select(func.count()).select_from(stored).scalar_subquery() == bindparam("expected")
    judged = _verdict_update().where(all_stored).returning(_EVALUATIONS.c.id).cte("judged")
    ctes = [stored, judged]
    for i in range(messages):
        values = [bindparam(f"message{i}_{name}", type_=outbox.c[name].type).label(name) for name in _MESSAGE_COLUMNS]
        follow = (
            postgresql.insert(outbox)
            .from_select(list(_MESSAGE_COLUMNS), select(*values).select_from(judged))
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        ctes.append(follow.returning(outbox.c.id).cte(f"followed_{i}"))
    return select(
        select(func.array_agg(stored.c.judge)).scalar_subquery().label("stored"),
        select(func.count()).select_from(judged).scalar_subquery().label("judged"),
    ).add_cte(*ctes)


#: The evaluation's row as submit_in writes it (every column, so the model's defaults are what is stored).
_EVALUATION_COLUMNS = tuple(Evaluation.__table__.columns)  # type: ignore[attr-defined]

#: How long a vision judge's vote (a paid call) waits for a database that is away or stalls before it is given up
#: (the sweep then asks that judge again), and the longest pause between two tries at storing it.
RECORD_WITHIN_SECONDS = 120.0
RECORD_PAUSE_SECONDS = 5.0
#: How long a vision judge's vote waits for the votes of the same evaluation's other judges this process is still
#: asking, to be stored with them in one transaction. An evaluation's judges are asked together and usually answer
#: within milliseconds of each other: one transaction (and one finalise) instead of one per judge was a third of the
#: database work of a burst. The wait is short, so a judge much slower than its siblings delays their votes by this
#: much at most, never the verdict (which needs every vote anyway).
GATHER_VOTES_SECONDS = 0.25


@dataclass
class _GatheredVotes:
    """The vision votes of one evaluation that this process is gathering to store together (see
    GATHER_VOTES_SECONDS): how many of its calls are still being asked, and the votes answered meanwhile."""

    asking: int = 0
    ready: list[tuple[tuple[str, str], VoteResult]] = field(default_factory=list)
    #: Set when the last call asked answered, and its votes were taken to be stored.
    complete: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Submission:
    """A validated request: everything checked before anything is written."""

    rubric: Rubric
    params: dict[str, Any]
    images: dict[str, tuple[ImageInfo, bytes]]
    callback_url: str | None = None


async def _together(calls: list[tuple[str, Coroutine[Any, Any, None]]]) -> None:
    """The coroutines of ``calls`` at once; the failure of one, logged naming what it was, stops none of the others."""
    outcomes = await asyncio.gather(*(call for _, call in calls), return_exceptions=True)
    for (what, _), outcome in zip(calls, outcomes, strict=True):
        if isinstance(outcome, Exception):
            logger.error("%s failed", what, exc_info=outcome)


#: Per worker thread, what its panel message was doing (see :meth:`EvaluationService.overran_on_database`).
_message = threading.local()


class EvaluationService:
    """Evaluations and their votes. Every change writes the messages it implies (judges to ask, the verdict to
    announce) into the outbox in the same transaction; nothing here talks to the broker."""

    def __init__(self, services: Services) -> None:
        self.services = services
        #: The last rubric parsed per task, with the stored copy it was parsed from (see :meth:`rubric_of`).
        self._rubrics: dict[str, tuple[dict[str, Any], Rubric]] = {}
        #: Vision calls this process has in flight, as (evaluation id, judge): a message for one of them (the sweep
        #: asks again when a call started late, say after a queue of messages) does not pay for a second call.
        self._calls_in_flight: set[tuple[str, str]] = set()
        #: The vision votes being gathered per evaluation (guarded by _calls_lock, as the calls they come from).
        self._gathering: dict[str, _GatheredVotes] = {}
        self._calls_lock = threading.Lock()
        #: New evaluations' rows, committed together when they arrive together (see accept).
        self.intake = Intake(lambda: self.services.engine, self.services.images)
        #: Whether the judges can take one more evaluation in time (the judging queue's depth, read once a second).
        self.admission = JudgingAdmission(
            services.settings, lambda: queue_depth.waiting_messages(sentinel.worker.broker, steps.JUDGING)
        )

    # -- submission -------------------------------------------------------------------------------

    def precheck(
        self, task: str, params: dict[str, Any] | None, given: Collection[str], callback_url: str | None = None
    ) -> tuple[Rubric, dict[str, Any]]:
        """Everything about a submission that needs no image bytes (task, params, which images, callback), so a
        request given by URL is refused before anything is fetched. ``given`` names the images sent."""
        rubric = self.services.rubrics.get(task)
        clean = validate_params(rubric, params)
        check_edit_inputs(rubric, given)
        if "image" not in given:
            raise InvalidInput("an image to evaluate is required", field="image")
        if callback_url is not None:
            check_url(callback_url, self.services.settings.fetch_allowed_networks, "callback_url")
        return rubric, clean

    def validate(
        self,
        task: str,
        params: dict[str, Any] | None,
        inputs: dict[str, bytes | None],
        callback_url: str | None = None,
    ) -> Submission:
        given = {name for name, data in inputs.items() if data is not None}
        rubric, clean = self.precheck(task, params, given, callback_url)
        images = {
            name: (self.services.images.inspect(data, name), data) for name, data in inputs.items() if data is not None
        }
        check_mask_fits({name: info for name, (info, _) in images.items()})
        if "mask" in images:
            # The edit judges fail a mask that marks nothing (or everything) whatever the image: said up front.
            check_marks_region(images["mask"][1], rubric.mask_marks, judged=True)
        return Submission(rubric, clean, images, callback_url)

    def submit(
        self, submission: Submission, key_id: str | None = None, answered: RecordedAnswer | None = None
    ) -> Evaluation:
        """Store the evaluation, owned by ``key_id`` (the key that sent it), with its judges' messages; with
        ``answered`` (a claimed Idempotency-Key) the answer is stored in the same transaction."""
        with Session(self.services.engine, expire_on_commit=False) as session:
            evaluation = self.submit_in(session, submission, key_id)
            if answered is not None:
                answered.store(session, self.answer(evaluation))
            session.commit()
        return evaluation

    def answer(self, evaluation: Evaluation) -> tuple[int, dict[str, Any], dict[str, str]]:
        """What the API answers for a new evaluation."""
        # A caller sent it in: no job's (a job's evaluations are stored with their attempts, never answered so).
        body = self.render(evaluation, 0, self._decision(evaluation), job_id=None)
        return 202, body, {"Location": f"/v1/evaluations/{evaluation.id}"}

    def submit_in(self, session: Session, submission: Submission, key_id: str | None) -> Evaluation:
        """:meth:`submit` inside the caller's transaction (a job stores its attempt's evaluation with the attempt)."""
        new = self.prepare(submission, key_id)
        insert_evaluation(session, self.services.images, new.row, new.inputs, new.messages)
        return new.evaluation

    def prepare(self, submission: Submission, key_id: str | None) -> NewEvaluation:
        """The rows a validated submission writes, owned by ``key_id``; an InvalidInput if the panel cannot judge it."""
        judges, escalation = self.services.panel.split(submission.rubric)
        self.services.panel.check_can_judge(submission.rubric)
        now = utcnow()
        evaluation = Evaluation(
            id=f"ev_{uuid.uuid4().hex}",
            task=submission.rubric.id,
            params=submission.params,
            image_id=submission.images["image"][0].sha256,
            source_image_id=submission.images["source"][0].sha256 if "source" in submission.images else None,
            mask_image_id=submission.images["mask"][0].sha256 if "mask" in submission.images else None,
            rubric=submission.rubric.model_dump(mode="json"),
            panel=[j.name for j in judges],
            escalation_judges=[j.name for j in escalation],
            quorum=quorum_for(len(judges), self.services.settings.quorum),
            callback_url=submission.callback_url,
            key_id=key_id,
            created_at=now,
            deadline_at=now + timedelta(seconds=self.services.settings.evaluation_deadline_seconds),
        )
        # Core INSERTs of the rows (one statement on PostgreSQL): the ORM's unit of work cost more CPU than the
        # statements, and the object is only read afterwards (the answer). Pending ORM objects are flushed first.
        row = {column.name: getattr(evaluation, column.key) for column in _EVALUATION_COLUMNS}
        inputs = [(info, data, key_id) for info, data in submission.images.values()]
        return NewEvaluation(evaluation, row, inputs, self.judge_messages(evaluation.id, evaluation.panel))

    async def accept(
        self,
        task: str,
        params: dict[str, Any] | None,
        inputs: dict[str, bytes | None],
        callback_url: str | None,
        key_id: str | None,
    ) -> Evaluation:
        """:meth:`validate` and :meth:`submit` for a request (no Idempotency-Key answer to store with it), from the
        event loop: the evaluations that arrive together share a transaction (see
        :class:`sentinel.evaluation.intake.Intake`). Returns once the evaluation is committed."""
        new = await self.intake.accept(lambda: self.prepare(self.validate(task, params, inputs, callback_url), key_id))
        return new.evaluation

    def judge_messages(self, evaluation_id: str, judges: Collection[str]) -> list[Message]:
        """One message asks every judge in ``judges`` (none when there is no judge to ask). Its offline judges run
        together, so it is held to the longest of their limits."""
        if not judges:
            return []
        panel = self.services.panel
        offline = [panel.get(name).timeout_seconds for name in judges if panel.get(name).kind != VISION_LLM]
        vision = [panel.get(name).timeout_seconds for name in judges if panel.get(name).kind == VISION_LLM]
        # The message waits for its image's instruction scan (scan_before_asking) before its offline judges run.
        scan_wait = max(vision, default=0.0) if self.services.settings.vision_instruction_scan else 0.0
        return [steps.judge_panel(evaluation_id, list(judges), max(offline, default=0.0) + scan_wait)]

    # -- reading ----------------------------------------------------------------------------------

    def get(self, evaluation_id: str, caller: Caller | None = None) -> tuple[Evaluation, list[Vote]]:
        """An evaluation and its votes; another tenant's is not found (``caller`` None: every one is visible)."""
        # Reads only, without a transaction (a webhook's delivery reads what it sends here): a read-only session
        # ended in ROLLBACK, at which psycopg forgets the pooled connection's prepared statements.
        with Session(autocommit(self.services.engine), expire_on_commit=False) as session:
            # No id holds a NUL, and PostgreSQL refuses to even compare one: not found, not a 500.
            query = visible(select(Evaluation).where(Evaluation.id == evaluation_id), Evaluation.key_id, caller)
            evaluation = None if "\x00" in evaluation_id else session.exec(query).first()
            if evaluation is None:
                raise NotFound(f"no evaluation with id '{evaluation_id}'", field="id")
            votes = list(session.exec(select(Vote).where(Vote.evaluation_id == evaluation_id).order_by(col(Vote.id))))
        return evaluation, votes

    def read(self, evaluation_id: str, caller: Caller | None = None) -> tuple[Row[Any], int]:
        """What ``GET /v1/evaluations/{id}`` shows, in one query: the evaluation's row (its columns by name, as an
        :class:`Evaluation` has them, the rubric aside) and how many votes are in (a long-polling reader reads it
        at least twice; the votes themselves are in the result once it is done)."""
        if "\x00" in evaluation_id:  # see get()
            raise NotFound(f"no evaluation with id '{evaluation_id}'", field="id")
        tenant = tenant_params(caller)
        query = _STATEMENTS.api_read if tenant is None else _STATEMENTS.api_read_of_tenant
        # One statement, built once (building it cost more than running it), on a connection rather than an ORM
        # session, and without a transaction around it (a long-polling reader's BEGIN and ROLLBACK were two of its
        # three round trips).
        with autocommit(self.services.engine).connect() as connection:
            found = connection.execute(query, {"evaluation_id": evaluation_id, **(tenant or {})}).first()
        if found is None:
            raise NotFound(f"no evaluation with id '{evaluation_id}'", field="id")
        return found, int(found.votes_in)

    def finished_among(self, evaluation_ids: list[str]) -> set[str]:
        """Which of ``evaluation_ids`` are done, in one query (the readers waiting for them are woken; each reads its
        own, as its caller may)."""
        ids = [evaluation_id for evaluation_id in evaluation_ids if "\x00" not in evaluation_id]  # see get()
        if not ids:
            return set()
        with autocommit(self.services.engine).connect() as connection:
            return set(connection.execute(_STATEMENTS.finished_among, {"ids": ids}).scalars())

    def view(self, evaluation: Evaluation | Row[Any], votes: list[Vote] | int) -> dict[str, Any]:
        """The evaluation as the API shows it, with its votes (or how many are in)."""
        votes_in = votes if isinstance(votes, int) else len(votes)
        return self.render(evaluation, votes_in, self._decision(evaluation), self._job_id(evaluation))

    def _job_id(self, evaluation: Evaluation | Row[Any]) -> str | None:
        """The job the evaluation belongs to: read with the row where ``GET`` read it (see ``api_read``, which a
        long poll runs on the event loop), else looked up."""
        if isinstance(evaluation, Row) and "job_id" in evaluation._mapping:
            job_id: str | None = evaluation.job_id
            return job_id
        with autocommit(self.services.engine).connect() as connection:  # a read: no ROLLBACK (see get)
            return jobs_of(connection, [evaluation.id]).get(evaluation.id)

    def render(
        self, evaluation: Evaluation | Row[Any], votes_in: int, decision: ReviewDecision | None, job_id: str | None
    ) -> dict[str, Any]:
        """The evaluation as the API shows it, from rows read already (a listing reads a whole page's vote counts,
        review decisions and jobs at once): ``votes_in`` votes, ``decision``, the review decision if there is one,
        and ``job_id``, the job whose attempt it judges (None: a caller sent it in)."""
        body: dict[str, Any] = {
            "id": evaluation.id,
            "object": "evaluation",
            "task": evaluation.task,
            "job_id": job_id,
            "params": evaluation.params,
            "status": evaluation.status,
            "created_at": as_utc(evaluation.created_at).isoformat(),
            "deadline_at": as_utc(evaluation.deadline_at).isoformat(),
            "finished_at": as_utc(evaluation.finished_at).isoformat() if evaluation.finished_at else None,
            "image": self._image_ref(evaluation.image_id),
            "source": self._image_ref(evaluation.source_image_id),
            "mask": self._image_ref(evaluation.mask_image_id),
            "judges_expected": evaluation.panel,
            "votes_in": votes_in,
        }
        if evaluation.status == EvaluationStatus.DONE and evaluation.result:
            body.update(evaluation.result)
            # An abstaining vision judge's questions go with its vote: a person checks them by eye instead.
            judges = body.get("judges") or []
            body["judges"] = with_questions(self.services.rubrics, self.services.panel, evaluation.task, judges)
        else:
            body.update({"verdict": None, "summary": None, "failed_judges": None, "judges": []})
        body["review"] = self._review(evaluation, decision)
        body["final_verdict"] = body["review"]["final_verdict"] if body["review"] else body["verdict"]
        return body

    def _decision(self, evaluation: Evaluation | Row[Any]) -> ReviewDecision | None:
        """The human decision on an amber result, if one was made (only ambers go to review)."""
        if evaluation.verdict != Verdict.AMBER:
            return None
        with Session(autocommit(self.services.engine)) as session:  # a read: no ROLLBACK (see get)
            return session.exec(select(ReviewDecision).where(ReviewDecision.evaluation_id == evaluation.id)).first()

    @staticmethod
    def _review(evaluation: Evaluation | Row[Any], decision: ReviewDecision | None) -> dict[str, Any] | None:
        if evaluation.verdict != Verdict.AMBER:
            return None
        if decision is None:
            return {"state": "waiting", "final_verdict": None}
        return review_view(decision)

    def _image_ref(self, image_id: str | None) -> dict[str, str] | None:
        return None if image_id is None else {"id": image_id, "url": self.services.images.url(image_id)}

    # -- worker side ------------------------------------------------------------------------------

    def _read_for_judging(
        self, connection: Connection, evaluation_id: str
    ) -> tuple[Row[Any], dict[str, str | None], set[str]] | None:
        """The evaluation's columns a worker uses, the types of its images (image, source, mask; None where it has
        none) and the judges that voted, one query."""
        rows = connection.execute(_STATEMENTS.judging_read, {"evaluation_id": evaluation_id}).all()
        if not rows:
            return None
        evaluation = rows[0]
        mimes = {"image": evaluation.image_mime, "source": evaluation.source_mime, "mask": evaluation.mask_mime}
        return evaluation, mimes, {row.voted for row in rows if row.voted is not None}

    def _sources(
        self, evaluation: Evaluation | Row[Any], mimes: dict[str, str | None]
    ) -> dict[str, ImageSource | None]:
        """The evaluation's images as judges read them."""
        images = self.services.images
        ids = {"image": evaluation.image_id, "source": evaluation.source_image_id, "mask": evaluation.mask_image_id}
        sources: dict[str, ImageSource | None] = {}
        for name, image_id in ids.items():
            mime = mimes[name]
            if image_id is not None and mime is None:
                raise NotFound(f"image '{image_id}' of evaluation '{evaluation.id}' is missing")
            sources[name] = (
                None
                if image_id is None or mime is None
                else ImageSource.stored(images, image_id, mime, publish=self._publish_derived_image)
            )
        return sources

    def _publish_derived_image(self, data: bytes) -> str:
        """Store an image a judge made from an evaluation's (a mask as the plain coverage a model is shown) for a
        model sent its URL to fetch; answers its signed address. It has no owner: only that signed URL (or an admin
        key) reads it, and `sentinel storage gc` removes it once its grace passes, as nothing refers to it."""
        images = self.services.images
        info = images.inspect(data, "mask")
        with self.services.engine.begin() as connection:
            images.store_many(connection, [(info, data, None)])
        return images.url(info.sha256)

    @staticmethod
    def _context(
        sources: dict[str, ImageSource | None], evaluation: Evaluation | Row[Any], judge: JudgeConfig
    ) -> JudgeContext:
        image = sources["image"]
        assert image is not None  # every evaluation has its image
        return JudgeContext(
            image=image,
            params=evaluation.params,
            source=sources["source"],
            mask=sources["mask"],
            options=dict(judge.options),
        )

    def rubric_of(self, evaluation: Evaluation | Row[Any]) -> Rubric:
        """The rubric an evaluation is judged by (the copy stored with it). Parsing one costs milliseconds and every
        evaluation of a task stores the same copy until the task's file changes: the last parse per task is kept
        and reused while the stored copy equals it."""
        cached = self._rubrics.get(evaluation.task)
        if cached is not None and cached[0] == evaluation.rubric:
            return cached[1]
        rubric = Rubric.model_validate(evaluation.rubric)
        self._rubrics[evaluation.task] = (evaluation.rubric, rubric)
        return rubric

    def process_judge_message(self, evaluation_id: str, judge: str) -> None:
        """What one ``judge_evaluation`` message (written before panel messages existed) does: a panel of one."""
        self.process_panel_message(evaluation_id, [judge])

    def process_panel_message(self, evaluation_id: str, judges: Collection[str]) -> None:
        """What one panel message does: the evaluation is read once; the image is scanned for instructions to its
        vision judges, whose calls then start on the background loop; the offline judges run together on one decode
        of the image, each held to its own limit; their votes are written in one transaction, and the evaluation is
        finalised if they were the last. Delivered twice, it changes nothing: judges that voted are skipped."""
        panel = self.services.panel
        _message.on_database = False
        # One statement, without a transaction around it: no BEGIN/ROLLBACK round trips.
        with self._on_database(), autocommit(self.services.engine).connect() as connection:
            found = self._read_for_judging(connection, evaluation_id)
        if found is None or found[0].status == EvaluationStatus.DONE:
            return
        evaluation, mimes, voted = found
        waiting: list[JudgeConfig] = []
        for name in dict.fromkeys(judges):
            config = panel.find(name)
            if config is None:
                # A judge this process's panel does not know (its file is gone, or newer than this process):
                # left to another worker, the sweep, or the deadline.
                logger.warning("evaluation %s: no judge named '%s' in this panel", evaluation_id, name)
            elif name not in voted:
                waiting.append(config)
        sources = self._sources(evaluation, mimes) if waiting else {}
        if not waiting:
            # The votes are in (a message delivered again): only make sure the evaluation is finalised.
            with self._on_database():
                self.finalise(evaluation_id, deadline_passed=False)
            return
        rubric = self.rubric_of(evaluation)
        offline: list[JudgeConfig] = []
        unconfigured: list[VoteResult] = []
        visions: list[tuple[JudgeConfig, VisionJudge, JudgeContext]] = []
        for config in waiting:
            vision = panel.vision.get(config.name)
            if config.kind != VISION_LLM:
                offline.append(config)
            elif vision is None:
                unconfigured.append(
                    abstention(config.name, "this vision judge is not configured in this process's panel")
                )
            else:
                # Its own sources: a call waiting on its model keeps no decoded pixels alive.
                ctx = self._context(sources, evaluation, config)
                # The image as sent is made here, once for all the judges that send it: the calls then start on the
                # loop with nothing left to prepare, without a hop to a preparing thread and back to the loop (in a
                # burst, each hop waited for the interpreter behind the other evaluations' work).
                vision.prepare(ctx, rubric.mask_marks)
                visions.append((config, vision, ctx))
        if visions:
            scan_before_asking(visions[0][2], max(config.timeout_seconds for config, _, _ in visions))
        asking: list[tuple[str, Coroutine[Any, Any, None]]] = []
        for config, vision, ctx in visions:
            vote = self._vision_vote(evaluation_id, config, vision, rubric, ctx, evaluation)
            if vote is not None:
                asking.append((f"recording judge '{config.name}' of evaluation {evaluation_id}", vote))
        if asking:
            # One hop to the loop for every call of the message, not one per judge.
            start_async(_together(asking), f"the vision judges of evaluation {evaluation_id}")
        shared = {name: source.shared() if source else None for name, source in sources.items()}
        contexts = {config.name: self._context(shared, evaluation, config) for config in offline}
        votes = run_offline_judges(offline, rubric, contexts) if offline else []
        if votes or unconfigured:
            with self._on_database():
                self.record_votes(evaluation_id, [*votes, *unconfigured], read=evaluation)

    @staticmethod
    @contextlib.contextmanager
    def _on_database() -> Iterator[None]:
        """Marks the panel message running on this thread as waiting on the database until the block ends; an
        exception out of the block (the message's time limit striking while a stalled database holds it) leaves the
        mark for :meth:`overran_on_database`."""
        _message.on_database = True
        yield
        _message.on_database = False

    @staticmethod
    def overran_on_database() -> bool:
        """Whether the panel message this thread ran last was stopped while it waited on the database (reading the
        evaluation, writing the votes), not while its judges worked: its time limit then says nothing about the
        judges or the image, and the message is to be judged again, not its judges' abstentions recorded."""
        return bool(getattr(_message, "on_database", False))

    def abstain_overran(self, evaluation_id: str, judges: Collection[str]) -> None:
        """The message of ``judges`` ran past its time limit while its judges worked: its offline judges that have
        not voted abstain (a vision judge's call records its own vote). One stopped while it waited on the database
        is not this (:meth:`overran_on_database`)."""
        panel = self.services.panel
        late = [
            abstention(config.name, f"took longer than its {config.timeout_seconds:g} s limit")
            for config in filter(None, map(panel.find, judges))
            if config.kind != VISION_LLM
        ]
        if late:
            self.record_votes(evaluation_id, late)

    def _vision_vote(
        self,
        evaluation_id: str,
        config: JudgeConfig,
        vision: VisionJudge,
        rubric: Rubric,
        ctx: JudgeContext,
        read: Row[Any],
    ) -> Coroutine[Any, Any, None] | None:
        """A vision judge's call and the recording of its vote, to run on the background loop without waiting: the
        message is done once the call is started, and the vote is recorded when the model answers (or the judge's
        limit passes), so a slow model holds no worker thread. A process that dies meanwhile loses only the call;
        the sweeper sends the judge again after its limit. None when this process is asking that judge already.
        ``read``: the evaluation's row as the message read it (see :meth:`record_votes`)."""

        call = (evaluation_id, config.name)
        with self._calls_lock:
            if call in self._calls_in_flight:
                logger.info("evaluation %s: judge '%s' is already being asked here", evaluation_id, config.name)
                return None
            self._calls_in_flight.add(call)
            self._gathering.setdefault(evaluation_id, _GatheredVotes()).asking += 1

        async def vote_then_record() -> None:
            try:
                vote = await run_vision_judge(config, rubric, ctx, vision)
            except BaseException:
                self._stop_gathering(call, None)
                raise
            votes = self._gathered(call, vote)
            if votes is None:
                # Siblings are still being asked: wait a little for them, then store whatever is gathered (another
                # call may have taken this vote already, to store it with its own).
                waited = self._gathering.get(evaluation_id)
                try:
                    if waited is not None:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(waited.complete.wait(), GATHER_VOTES_SECONDS)
                except BaseException:
                    self._stop_gathering(call, vote)
                    raise
                votes = self._take_gathered(evaluation_id)
            if votes:
                await self._store_gathered(evaluation_id, votes, read)

        return vote_then_record()

    def _gathered(self, call: tuple[str, str], vote: VoteResult) -> list[tuple[tuple[str, str], VoteResult]] | None:
        """``vote`` added to its evaluation's gathered votes; all of them when it was the last call being asked
        (to be stored now by the caller), None when others are still being asked."""
        with self._calls_lock:
            gathering = self._gathering[call[0]]
            gathering.asking -= 1
            gathering.ready.append((call, vote))
            if gathering.asking > 0:
                return None
        return self._take_gathered(call[0])

    def _take_gathered(self, evaluation_id: str) -> list[tuple[tuple[str, str], VoteResult]]:
        """The evaluation's gathered votes, taken to be stored by the caller (empty when another took them)."""
        with self._calls_lock:
            gathering = self._gathering.get(evaluation_id)
            if gathering is None:
                return []
            votes, gathering.ready = gathering.ready, []
            if gathering.asking == 0:
                del self._gathering[evaluation_id]
                gathering.complete.set()
        return votes

    def _stop_gathering(self, call: tuple[str, str], vote: VoteResult | None) -> None:
        """A call cancelled (the loop stopping) before its vote was stored: it is no longer asked nor in flight."""
        with self._calls_lock:
            self._calls_in_flight.discard(call)
            gathering = self._gathering.get(call[0])
            if gathering is None:
                return
            if vote is None:
                gathering.asking -= 1
            gathering.ready = [(c, v) for c, v in gathering.ready if c != call]
            if gathering.asking == 0 and not gathering.ready:
                del self._gathering[call[0]]
                gathering.complete.set()

    async def _store_gathered(
        self, evaluation_id: str, votes: list[tuple[tuple[str, str], VoteResult]], read: Row[Any]
    ) -> None:
        """Store gathered votes of one evaluation in one transaction (finalising it if they were the last). When they
        are the whole panel's (a vision-only panel, the usual case), they go in with the verdict in one statement,
        from the row the message read: what it holds that a verdict needs (panel, quorum, rubric, callback, a job
        waiting) does not change once the evaluation is written. A transaction was five round trips and a session's
        work, on the worker's interpreter while the calls of later evaluations were being sent."""
        loop = asyncio.get_running_loop()
        gives_up = loop.time() + RECORD_WITHIN_SECONDS
        stored = [vote for _, vote in votes]
        try:
            for attempt in itertools.count():
                try:
                    await asyncio.to_thread(functools.partial(self.record_votes, evaluation_id, stored, read=read))
                    return
                except (OperationalError, PoolTimeout) as exc:
                    # The database blinked or stalls: the answers are paid for, so they wait for it (this process
                    # asks those judges no second time meanwhile) rather than leave the sweeper to ask, and pay,
                    # again.
                    pause = min(0.2 * 2**attempt, RECORD_PAUSE_SECONDS)
                    if loop.time() + pause > gives_up:
                        raise
                    if attempt == 0:
                        logger.warning(
                            "evaluation %s: the database is unavailable (%s); its vision votes wait for it",
                            evaluation_id,
                            type(exc).__name__,
                        )
                    await asyncio.sleep(pause)
        finally:
            with self._calls_lock:
                self._calls_in_flight.difference_update(call for call, _ in votes)

    def record_vote(self, evaluation_id: str, vote: VoteResult) -> bool:
        """Store a vote unless this judge already voted; then finalise if it was the last one."""
        return vote.judge in self.record_votes(evaluation_id, [vote])

    def record_votes(self, evaluation_id: str, votes: list[VoteResult], *, read: Row[Any] | None = None) -> set[str]:
        """Store votes, each unless its judge already voted, and finalise if they were the last, in one
        transaction. Returns the judges whose votes this call stored.

        ``read``: the evaluation's row as its message read it before judging (:attr:`_Statements.judging_read`).
        With it, votes that are the whole panel's are stored with their verdict in one statement (see
        :meth:`_store_with_verdict`)."""
        now = utcnow()
        rows = [
            {
                "evaluation_id": evaluation_id,
                "judge": vote.judge,
                "passed": vote.passed,
                "reasoning": vote.reasoning,
                "criteria": vote.criteria,
                "duration_ms": vote.duration_ms,
                "usage": vote.usage,
                "created_at": now,
            }
            for vote in votes
        ]
        if read is not None:
            stored_with_verdict = self._store_with_verdict(evaluation_id, votes, rows, read)
            if stored_with_verdict is not None:
                return stored_with_verdict
        with Session(self.services.engine) as session:
            connection = session.connection()
            # The unique (evaluation, judge) constraint, not a read-then-write, decides which of two deliveries
            # stores a vote. The votes go in before the evaluation is locked to finalise (see _finalise_in).
            inserted = set(connection.execute(_vote_insert(connection.dialect.name), rows).scalars()) if rows else set()
            stored = [vote for vote in votes if vote.judge in inserted]
            finished = self._finalise_in(session, evaluation_id, deadline_passed=False, stored=stored)
            session.commit()
        for vote in votes:
            if vote.judge in inserted:
                observe_vote(vote.judge, vote.passed, vote.duration_ms)
        self._announce(evaluation_id, finished)
        return inserted

    def _store_with_verdict(
        self, evaluation_id: str, votes: list[VoteResult], rows: list[dict[str, Any]], evaluation: Row[Any]
    ) -> set[str] | None:
        """The usual end of an evaluation on PostgreSQL: one message brings every panel judge's vote. The verdict
        is computed from them first, then the votes, the verdict and the messages that follow it are written in
        one statement committed alone (:func:`_votes_with_verdict`), the verdict only if every vote went in and
        the evaluation is not done. Returns the judges whose votes were stored; None when this does not apply
        (SQLite; a panel with escalation judges, whose votes may call for them rather than a verdict; votes of
        only part of the panel), and :meth:`record_votes` takes its usual transaction."""
        engine = self.services.engine
        judges = [vote.judge for vote in votes]
        if (
            engine.dialect.name != "postgresql"
            or evaluation.escalation_judges
            or len(set(judges)) != len(judges)
            or not set(evaluation.panel) <= set(judges)
        ):
            return None
        rubric = self.rubric_of(evaluation)
        verdict = aggregate(rubric, evaluation.panel, votes, evaluation.quorum, escalation=evaluation.escalation)
        follow = self._after_verdict(evaluation_id, evaluation)
        params = _verdict_values(evaluation_id, verdict) | {"expected": len(rows)}
        for i, row in enumerate(rows):
            params.update({f"vote{i}_{column}": value for column, value in row.items()})
        for i, message in enumerate(follow):
            params.update(
                {f"message{i}_{column}": value for column, value in (message_values(message) | UNSENT).items()}
            )
        with autocommit(engine).connect() as connection:
            found = connection.execute(_votes_with_verdict(len(rows), len(follow)), params).one()
        stored = set(found.stored or ())
        for vote in votes:
            if vote.judge in stored:
                observe_vote(vote.judge, vote.passed, vote.duration_ms)
        if found.judged:
            if follow:
                wake_relays()
            self._announce(evaluation_id, (rubric.id, verdict.verdict))
        elif stored:
            # Some of these judges' votes were stored meanwhile by another message (a re-sent one), or the
            # evaluation is done (its deadline passed): decided as any other writer's votes are, under its lock.
            self.finalise(evaluation_id, deadline_passed=False)
        return stored

    def finalise(self, evaluation_id: str, *, deadline_passed: bool, judging_waiting: int = 0) -> bool:
        """Write the verdict once. Returns True only for the caller whose update won. ``judging_waiting``: judge
        messages no worker had taken yet, named in the verdict of an evaluation no judge took up in time."""
        with Session(self.services.engine) as session:
            finished = self._finalise_in(
                session, evaluation_id, deadline_passed=deadline_passed, judging_waiting=judging_waiting
            )
            session.commit()
        self._announce(evaluation_id, finished)
        return finished is not None

    def _finalise_in(
        self,
        session: Session,
        evaluation_id: str,
        *,
        deadline_passed: bool,
        stored: list[VoteResult] | None = None,
        judging_waiting: int = 0,
    ) -> tuple[str, str] | None:
        """The verdict, written in ``session``'s transaction if every vote is in (or the deadline passed), with the
        messages that follow it; (task, verdict) when this call wrote it, None otherwise. ``stored``: the votes
        this transaction inserted, in the order it inserted them.

        The evaluation's row is locked first (PostgreSQL; SQLite has one writer at a time anyway): every writer
        stores its votes, then takes the lock, then reads the votes, so of writers racing on one evaluation the
        last to take the lock sees every other's votes, committed."""
        evaluation = session.connection().execute(_STATEMENTS.finalise_read, {"evaluation_id": evaluation_id}).first()
        if evaluation is None or evaluation.status == EvaluationStatus.DONE:
            return None
        if stored and set(evaluation.panel) <= {vote.judge for vote in stored}:
            # This transaction stored every panel judge's vote (one panel message, the usual case): those are all
            # the votes there are (a vote is unique per judge, and only panel judges are asked), so reading them
            # back is a round trip that returns what is in hand.
            votes = list(stored)
        else:
            rows = list(session.exec(_STATEMENTS.votes, params={"evaluation_id": evaluation_id}))
            voted = {v.judge for v in rows}
            if not deadline_passed and not set(evaluation.panel) <= voted:
                return None
            votes = [VoteResult(v.judge, v.passed, v.reasoning, v.criteria, v.duration_ms, v.usage) for v in rows]
        escalation = evaluation.escalation
        if evaluation.escalation_judges and evaluation.escalated_at is None:
            reason = disagreement(votes)
            if reason and not deadline_passed:
                self._escalate(session, evaluation, reason)
                return None
            escalation = escalation_record([], reason)
            if reason:
                escalation["reason"] = f"{reason}, but the deadline passed before an escalation judge was asked"
        rubric = self.rubric_of(evaluation)
        verdict = aggregate(rubric, evaluation.panel, votes, evaluation.quorum, escalation=escalation)
        if deadline_passed and not votes:
            verdict.summary = self._unjudged(judging_waiting, evaluation)
        # The status condition makes this the single point where racing finalisers are decided.
        written = _verdict_values(evaluation_id, verdict)
        if session.connection().execute(_STATEMENTS.verdict_write, written).rowcount != 1:
            return None
        # With the verdict, in one transaction: what follows it.
        write(session, *self._after_verdict(evaluation_id, evaluation))
        return rubric.id, verdict.verdict

    def _unjudged(self, judging_waiting: int, evaluation: Row[Any]) -> str:
        """The reason of a verdict reached at the deadline with no vote at all, not even an abstention: no judge
        ever looked at the image. It stays amber, in the review queue: green needs votes, and red would regenerate a
        job's image (paying for it, and adding to the backlog) for nothing found wrong; a person decides, told that
        the image was not judged rather than "quorum not met", which reads as judges that tried. When this process
        could not reach the database late in the evaluation's time (too late for the sweep to ask its judges again
        once it was back), the reason is the database: no judge could read the evaluation or record a vote."""
        deadline = f"{self.services.settings.evaluation_deadline_seconds:g} s"
        outage = self._outage_before_deadline(evaluation)
        if outage is not None:
            return (
                f"not judged before the deadline: the database was unavailable (from {outage.started:%H:%M:%S} to "
                f"{outage.ended:%H:%M:%S} UTC, of the {deadline} it had), so no judge could read it or record a vote"
            )
        if judging_waiting > 0:
            return (
                f"not judged before the deadline: the judges were overloaded ({judging_waiting} evaluations queued; "
                f"none took this one up within {deadline})"
            )
        return f"not judged before the deadline: no judge took it up within {deadline} (no worker running?)"

    def _outage_before_deadline(self, evaluation: Row[Any]) -> Outage | None:
        """The outage of the database this process saw during the evaluation's time that lasted into its last
        ``evaluation_stalled_seconds`` (a judge message given up on meanwhile could not be asked again in time)."""
        created, deadline = as_utc(evaluation.created_at), as_utc(evaluation.deadline_at)
        outage = outages_of(self.services.engine).within(created, deadline)
        late = deadline - timedelta(seconds=self.services.settings.evaluation_stalled_seconds)
        return outage if outage is not None and outage.ended + SAME_OUTAGE >= late else None

    def _after_verdict(self, evaluation_id: str, evaluation: Row[Any]) -> list[Message]:
        """The messages that follow a verdict, from the evaluation's row (whether a job's attempt waits for it and
        where its callback goes: neither changes after the evaluation is written). A job's attempt waiting for it
        moves on; an evaluation of its own needs no such step (a job writes its attempt's row with the evaluation)."""
        judged = [steps.evaluation_judged(evaluation_id)] if evaluation.job_waits else []
        webhook = steps.deliver_webhook(
            "evaluation", evaluation_id, evaluation.callback_url, "finished", self.services.settings
        )
        return [*judged, *webhook]

    def _announce(self, evaluation_id: str, finished: tuple[str, str] | None) -> None:
        """After the commit that wrote a verdict: metrics, the log line, and readers waiting for it."""
        if finished is None:
            return
        task, verdict = finished
        observe_verdict(task, verdict)
        logger.info(
            "evaluation %s: %s (%s)",
            evaluation_id,
            verdict,
            task,
            extra={"evaluation_id": evaluation_id, "task": task, "verdict": verdict},
        )
        self.services.finished.announce(evaluation_key(evaluation_id))

    def _escalate(self, session: Session, evaluation: Row[Any], reason: str) -> None:
        """Ask the escalation judges; of racing finalisers, only the one whose update wins sends their messages."""
        record = escalation_record(evaluation.escalation_judges, reason)
        statement = (
            update(Evaluation)
            .where(col(Evaluation.id) == evaluation.id, col(Evaluation.escalated_at).is_(None))
            .values(panel=[*evaluation.panel, *evaluation.escalation_judges], escalation=record, escalated_at=utcnow())
        )
        if session.execute(statement).rowcount == 1:  # type: ignore[attr-defined]
            write(session, *self.judge_messages(evaluation.id, evaluation.escalation_judges))

    def sweep(self, stalled_after_seconds: float, judging_waiting: int = 0) -> dict[str, int]:
        """Move on unfinished evaluations that stopped moving; safe to run anywhere, any number of times.

        One past its deadline gets its verdict with the votes it has; one whose votes are all in is finalised. A
        broker that came back empty (Redis restarted without its data) or a worker killed mid-message lost judge
        messages: once an evaluation has seen nothing happen for ``stalled_after_seconds``, and no missing judge is
        still inside its time limit since it was last asked, the missing judges are asked again (a vote is unique
        per evaluation and judge, so a message that was only slow does no harm).

        ``judging_waiting``: judge messages the broker holds that no worker has taken yet. While there are any, a
        quiet evaluation's own message may be among them: it waits its turn, and is not asked again. In a backlog
        longer than ``stalled_after_seconds`` every queued evaluation was taken for lost and sent again, each sweep
        period, adding the backlog to the queue once more just when the workers were behind (and paying a vision
        judge twice when both copies ran before the first vote landed).
        """
        now = utcnow()
        counts = {"resent": 0, "finalised": 0}
        # One statement (the unfinished evaluations with their votes), Core on a connection, committed alone: it
        # runs every sweep period. The ORM session's two reads cost a millisecond of CPU with nothing to find, and
        # their read-only transaction ended in ROLLBACK, at which psycopg forgets the connection's prepared
        # statements: the next few dozen statements on that pooled connection were parsed and planned afresh.
        with autocommit(self.services.engine).connect() as connection:
            rows = connection.execute(_STATEMENTS.sweep_read).all()
        pending: dict[str, Row[Any]] = {}
        voted: dict[str, set[str]] = {}
        last_vote: dict[str, datetime] = {}
        for row in rows:
            pending.setdefault(row.id, row)
            voted.setdefault(row.id, set())
            if row.judge is not None:
                voted[row.id].add(row.judge)
                at = as_utc(row.voted_at)
                last_vote[row.id] = max(at, last_vote.get(row.id, at))
        for evaluation in pending.values():
            done = voted.get(evaluation.id, set())
            past_deadline = as_utc(evaluation.deadline_at) <= now
            if past_deadline or set(evaluation.panel) <= done:
                if self.finalise(evaluation.id, deadline_passed=past_deadline, judging_waiting=judging_waiting):
                    counts["finalised"] += 1
                continue
            asked = [
                as_utc(t) for t in (evaluation.created_at, evaluation.escalated_at, evaluation.judges_resent_at) if t
            ]
            if (now - max([*asked, last_vote.get(evaluation.id, asked[0])])).total_seconds() < stalled_after_seconds:
                continue
            if judging_waiting > 0:
                continue
            missing = [name for name in evaluation.panel if name not in done]
            limits = [self.services.panel.get(name).timeout_seconds for name in missing]
            # A judge still inside its time limit since it was last asked is at work, not lost: asking again would
            # pay for its call twice (it records an abstention itself when it runs out of time).
            if (now - max(asked)).total_seconds() < max(limits, default=0.0):
                continue
            if self._resend(evaluation.id, missing, not_since=now - timedelta(seconds=stalled_after_seconds)):
                counts["resent"] += 1
        return counts

    def _resend(self, evaluation_id: str, judges: list[str], *, not_since: datetime) -> bool:
        """Ask ``judges`` again, unless a sweep already did after ``not_since`` (of two racing sweeps, one asks)."""
        stamp = col(Evaluation.judges_resent_at)
        with Session(self.services.engine) as session:
            statement = (
                update(Evaluation)
                .where(col(Evaluation.id) == evaluation_id, stamp.is_(None) | (stamp < not_since))
                .values(judges_resent_at=utcnow())
            )
            if session.execute(statement).rowcount != 1:  # type: ignore[attr-defined]
                return False
            write(session, *self.judge_messages(evaluation_id, judges))
            session.commit()
        return True

    def recover(self) -> int:
        """Ask again for every unfinished evaluation's missing votes (the in-process broker forgets on restart)."""
        with Session(self.services.engine, expire_on_commit=False) as session:
            pending = list(session.exec(select(Evaluation).where(Evaluation.status == EvaluationStatus.JUDGING)))
            voted: dict[str, set[str]] = {}
            for vote in session.exec(select(Vote).where(col(Vote.evaluation_id).in_([e.id for e in pending]))):
                voted.setdefault(vote.evaluation_id, set()).add(vote.judge)
            for evaluation in pending:
                missing = [name for name in evaluation.panel if name not in voted.get(evaluation.id, set())]
                write(session, *self.judge_messages(evaluation.id, missing))
            session.commit()
        for evaluation in pending:
            if set(evaluation.panel) <= voted.get(evaluation.id, set()):
                # Every vote was in when the process stopped: finalise (or escalate) now, not at the deadline.
                self.finalise(evaluation.id, deadline_passed=False)
        return len(pending)
