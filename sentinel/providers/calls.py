"""The call log: one row per provider call (and per candidate skipped), written by every path that routes.

A job's attempt (the worker's path, where a statement per call costs nothing the caller waits for) writes each call
down before it is sent (:class:`InFlightCalls`): a row ``in_flight`` at the call's price, completed when the answer
comes. A worker killed mid-call leaves that row, which the sweep marks ``in_flight_at_crash``: the provider may bill the
call all the same, so it stays counted in spend. A polled provider's task (a Replicate prediction) is kept on the row
once it exists (``provider_task``): the run that takes the attempt over reads that task, and completes the row with
its answer, rather than buy the image again. A gateway request of a capped key writes its calls down before they are
sent too, at no cost of its own: one row per image is written in the transaction that reserves the request's spend
(:class:`ReservedCalls`), completed (with the candidate that served) in the one that logs the answer, and booked by
the ledger's sweep should the process die in between. An uncapped key's gateway calls are logged once answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import ColumnElement, Engine, bindparam, delete, insert, update
from sqlalchemy.engine import Connection
from sqlmodel import select

from sentinel.models import ProviderCall, as_utc, utcnow
from sentinel.providers.base import Outcome
from sentinel.providers.router import RESUMED, Attempt, TaskUnderWay
from sentinel.spend.service import Reservation, reserved_in, unbook_spent
from sentinel.telemetry.metrics import observe_provider_calls


class CallValues(NamedTuple):
    """One call-log row as plain values, for a Core insert of many rows at once (no ORM object per row)."""

    request_id: str
    model: str
    provider: str
    provider_model: str
    outcome: str
    latency_ms: float
    status_code: int | None
    bytes: int
    cost_estimate: float
    message: str
    image_id: str | None
    #: The row written before the call was sent (:class:`InFlightCalls`), which this completes; None: a new row.
    in_flight_id: int | None = None

    def row(self, created_at: Any) -> dict[str, Any]:
        values = self._asdict()
        del values["in_flight_id"]
        return values | {"created_at": created_at}


def call_values(
    request_id: str, requested_model: str, attempts: Iterable[Attempt], image_id: str | None
) -> list[CallValues]:
    """Rows for one routed image (the delivered image id on the call that produced it), counted in the metrics."""
    values = [
        CallValues(
            request_id,
            requested_model,
            attempt.provider,
            attempt.model,
            attempt.outcome,
            attempt.latency_ms,
            attempt.status_code,
            attempt.bytes,
            attempt.cost,
            attempt.message[:1000],
            image_id if attempt.outcome == Outcome.OK.value else None,
            attempt.in_flight_id,
        )
        for attempt in attempts
    ]
    observe_provider_calls(values)
    return values


def insert_calls(connection: Connection, values: list[CallValues]) -> None:
    """The rows of :func:`call_values` in the caller's transaction: new ones in one statement, and the calls written
    down before they were sent completed in another."""
    new = [value for value in values if value.in_flight_id is None]
    if new:
        now = utcnow()
        connection.execute(_INSERT_CALLS, [value.row(now) for value in new])
    answered = [value for value in values if value.in_flight_id is not None]
    if not answered:
        return
    # Each row is completed only while it is still in flight: one the sweep marked meanwhile (its worker, alive,
    # missed its lease renewals) was booked as spent then, and its booking is taken back here, in the same
    # transaction, since the request's own settle books what its answered calls cost. Whichever comes first, the
    # sweep or the answer, the call is counted once (the sweep's mark is conditional on ``in_flight`` too).
    completed = _complete_in_flight(connection, answered)
    marked = [value for value in answered if value.in_flight_id not in completed]
    if marked:
        _complete_marked(connection, marked)


_INSERT_CALLS = insert(ProviderCall)

#: Outcome of a call written down before it was sent and not answered yet: counted at its price until it is.
IN_FLIGHT = "in_flight"
#: Outcome of a call whose worker died (or stopped) before the provider answered: the provider may have made, and
#: billed, what it was asked, so it stays counted at its price.
IN_FLIGHT_AT_CRASH = "in_flight_at_crash"

_COMPLETED_COLUMNS = (
    "provider",
    "provider_model",
    "outcome",
    "latency_ms",
    "status_code",
    "bytes",
    "cost_estimate",
    "message",
    "image_id",
)
_CALL = ProviderCall.__table__
_COMPLETE_CALL = (
    update(_CALL)
    .where(_CALL.c.id == bindparam("call_id"))
    .values({name: bindparam(f"new_{name}") for name in _COMPLETED_COLUMNS})
)
#: A call's row completed only while it is in flight (see :func:`insert_calls`).
_COMPLETE_IN_FLIGHT = _COMPLETE_CALL.where(_CALL.c.outcome == IN_FLIGHT).returning(_CALL.c.id)
#: Said of an answer that came after the sweep had given its worker up for dead (not of a task a later run read: its
#: worker was dead indeed).
_CAME_LATE = "answered after the sweep had marked it in_flight_at_crash (its worker missed its lease renewals)"


def _completed(value: CallValues) -> dict[str, Any]:
    answered = value._asdict()
    return {"call_id": value.in_flight_id} | {f"new_{name}": answered[name] for name in _COMPLETED_COLUMNS}


def _complete_in_flight(connection: Connection, answered: list[CallValues]) -> set[int]:
    """The ids of the rows completed (those still in flight), one statement each: an executemany has no RETURNING
    on every driver, and a job's attempt completes a call or two."""
    completed: set[int] = set()
    for value in answered:
        row = connection.execute(_COMPLETE_IN_FLIGHT, _completed(value)).first()
        if row is not None:
            completed.add(int(row[0]))
    return completed


def _complete_marked(connection: Connection, answered: list[CallValues]) -> None:
    """Rows the sweep marked ``in_flight_at_crash`` (and booked as spent) before their answer came: the answer is
    logged, and the sweep's booking taken back (the request's settle books what the answer cost)."""
    ids = [value.in_flight_id for value in answered]
    marked = connection.execute(
        select(_CALL.c.id, _CALL.c.request_id, _CALL.c.cost_estimate).where(
            _CALL.c.id.in_(ids), _CALL.c.outcome == IN_FLIGHT_AT_CRASH
        )
    ).all()
    booked: dict[str, float] = {}
    for _, request_id, cost in marked:
        booked[request_id] = booked.get(request_id, 0.0) + float(cost or 0.0)
    late = {call_id for call_id, _, _ in marked}
    noted = [
        value._replace(message=(f"{value.message}; {_CAME_LATE}" if value.message else _CAME_LATE)[:1000])
        if value.in_flight_id in late and RESUMED not in value.message
        else value
        for value in answered
    ]
    connection.execute(_COMPLETE_CALL, [_completed(value) for value in noted])
    for request_id, cost in booked.items():
        spent_in = reserved_in(connection, request_id)
        if spent_in is not None and cost > 0:
            unbook_spent(connection, Reservation(spent_in[0], spent_in[1], request_id, cost))


logger = logging.getLogger(__name__)


class LoggedCall(Protocol):
    """What :func:`tasks_left_under_way` reads of a call-log row."""

    id: int | None
    provider: str
    provider_model: str
    outcome: str
    provider_task: str | None
    created_at: datetime


def tasks_left_under_way(calls: Iterable[LoggedCall], now: datetime) -> list[TaskUnderWay]:
    """The tasks a request's unanswered calls left with their providers (a worker that died after the provider made
    its task), the latest call first."""
    left = [
        TaskUnderWay(
            int(call.id),
            call.provider,
            call.provider_model,
            call.provider_task,
            (now - as_utc(call.created_at)).total_seconds(),
        )
        for call in calls
        if call.outcome in (IN_FLIGHT, IN_FLIGHT_AT_CRASH) and call.provider_task and call.id is not None
    ]
    return sorted(left, key=lambda task: task.call_id, reverse=True)


#: The longest task address the call log keeps (its column's length).
_TASK_LENGTH = 1000
#: Writes of a task's address still under way (the loop keeps only weak references to tasks).
_TASKS_BEING_KEPT: set[asyncio.Future[None]] = set()


class InFlightCalls:
    """Writes a request's provider calls down before they are sent (the router's ``CallJournal``): a job's attempt
    whose worker is killed mid-call still leaves a row for a call the provider may bill, with the task the provider
    made for it where there is one; ``left`` are the tasks an earlier run of the request left under way."""

    def __init__(
        self, engine: Engine, request_id: str, requested_model: str, left: Sequence[TaskUnderWay] = ()
    ) -> None:
        self.engine = engine
        self.request_id = request_id
        self.requested_model = requested_model
        self.left = list(left)

    def left_under_way(self) -> list[TaskUnderWay]:
        return self.left

    def task_created(self, call_id: int, task: str) -> None:
        """Keep where the provider's task for the call can be read on its row, in a thread beside the call: the
        adapter's first poll waits a poll interval anyway, and nobody waits for this write. Only while the row is in
        flight (an answer, or the sweep, may come first); a write that fails only costs a later run the resume."""
        if len(task) > _TASK_LENGTH:
            return  # cut, it would name another address: this call is bought again after a crash, as before
        kept = asyncio.ensure_future(asyncio.to_thread(self._keep_task, call_id, task))
        _TASKS_BEING_KEPT.add(kept)
        kept.add_done_callback(_task_kept)

    def _keep_task(self, call_id: int, task: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(_CALL).where(_CALL.c.id == call_id, _CALL.c.outcome == IN_FLIGHT).values(provider_task=task)
            )

    async def sending(self, provider: str, provider_model: str, cost: float) -> int:
        """The id of the row written, committed, for a call about to be sent (what it may cost included)."""
        return await asyncio.to_thread(self._write, provider, provider_model, cost)

    def _write(self, provider: str, provider_model: str, cost: float) -> int:
        row = {
            "request_id": self.request_id,
            "model": self.requested_model,
            "provider": provider,
            "provider_model": provider_model,
            "outcome": IN_FLIGHT,
            "cost_estimate": cost,
            "message": "sent; no answer yet",
            "created_at": utcnow(),
        }
        with self.engine.begin() as connection:
            return int(connection.execute(insert(ProviderCall).values(row).returning(_CALL.c.id)).scalar_one())


#: The provider of a gateway call's row written with its reservation, before the walk chose whom to call: named when
#: the answer completes the row. One left so (its process died mid-call) is booked at the most its image could cost.
NOT_YET_NAMED = "(not yet named)"


def written_ahead(request_id: str, requested_model: str, price: float, n: int) -> list[dict[str, Any]]:
    """The rows of a gateway request's first calls (one per image), written in flight, at ``price`` (the most a call
    for one image can cost), in the transaction that reserves its spend."""
    now = utcnow()
    row = {
        "request_id": request_id,
        "model": requested_model,
        "provider": NOT_YET_NAMED,
        "provider_model": "",
        "outcome": IN_FLIGHT,
        "cost_estimate": price,
        "message": "sent (or about to be); no answer yet",
        "created_at": now,
    }
    return [dict(row) for _ in range(n)]


class ReservedCalls(InFlightCalls):
    """A gateway request's :class:`InFlightCalls`: each image's first call takes a row written with the request's
    reservation (no write of its own); a call after it (a fallback) writes its own row, as a job's does."""

    def __init__(self, engine: Engine, request_id: str, requested_model: str, written: Sequence[int]) -> None:
        super().__init__(engine, request_id, requested_model)
        #: Rows written ahead that no call has taken yet: deleted with the answer's log.
        self.unused = list(written)
        #: Every row a call was sent under.
        self.sent: list[int] = []

    async def sending(self, provider: str, provider_model: str, cost: float) -> int:
        row = self.unused.pop(0) if self.unused else await super().sending(provider, provider_model, cost)
        self.sent.append(row)
        return row


def calls_given_up(connection: Connection, ids: Sequence[int], why: str) -> float:
    """Mark the calls ``ids`` still in flight as :data:`IN_FLIGHT_AT_CRASH` (sent, then no answer waited for: the
    provider may bill them), in the caller's transaction; what they may cost."""
    return float(sum(_marked_at_crash(connection, _CALL.c.id.in_(list(ids)), why)))


def delete_unsent(connection: Connection, ids: Sequence[int]) -> None:
    """Rows written ahead for calls that were never sent, in the caller's transaction."""
    connection.execute(delete(_CALL).where(_CALL.c.id.in_(list(ids)), _CALL.c.outcome == IN_FLIGHT))


def _task_kept(kept: asyncio.Future[None]) -> None:
    _TASKS_BEING_KEPT.discard(kept)
    if not kept.cancelled() and kept.exception() is not None:
        logger.warning("could not keep a provider task's address on its call (%s)", type(kept.exception()).__name__)


def calls_left_in_flight(connection: Connection, request_id: str, why: str) -> tuple[int, float]:
    """Mark the request's calls still ``in_flight`` as :data:`IN_FLIGHT_AT_CRASH` (their worker stopped before the
    answer, ``why``), in the caller's transaction; how many there were and what they may cost."""
    # One conditional UPDATE, its rows counted from what it changed: a count read before it would include a call
    # whose answer was committed in between, which its worker's settle books as well.
    costs = _marked_at_crash(connection, _CALL.c.request_id == request_id, why)
    return len(costs), float(sum(costs))


def _marked_at_crash(connection: Connection, which: ColumnElement[bool], why: str) -> list[float]:
    """The calls ``which`` names that are still in flight marked :data:`IN_FLIGHT_AT_CRASH`; what each may cost."""
    marked = connection.execute(
        update(_CALL)
        .where(which, _CALL.c.outcome == IN_FLIGHT)
        .values(outcome=IN_FLIGHT_AT_CRASH, message=f"no answer recorded: {why}"[:1000])
        .returning(_CALL.c.cost_estimate)
    ).all()
    return [cost or 0.0 for (cost,) in marked]
