"""The one clock leases are written and judged by: the database's.

A lease says "this worker generates the attempt until T". Written by one process and judged by another, it needs one
clock for both: a host whose clock runs ahead (an NTP step, a VM resumed from a pause, a container host without time
sync) judged every other worker's lease run out by its own clock, took over their live attempts and paid the
provider for each again. PostgreSQL's ``clock_timestamp()`` is that clock for every worker; SQLite is read and written
by the processes of one machine, whose clock is the one its own ``CURRENT_TIMESTAMP`` reads.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, DateTime, func, text
from sqlmodel import Session, col, select

from sentinel.models import AttemptState, Job, JobAttempt, as_utc, utcnow

_DATABASE_NOW = text("SELECT clock_timestamp()")
#: The database's clock as a column of a statement already being made (PostgreSQL): no round trip of its own.
_CLOCK = func.clock_timestamp(type_=DateTime(timezone=True))
#: The database's clock as a value to write: the moment the statement began, the same wherever it appears in that
#: statement. ``clock_timestamp()`` is read again at each place it is written, so a job's ``created_at`` and its
#: ``deadline_at`` (``now + budget``) in one INSERT could lie a microsecond more than the budget apart.
_STATEMENT_CLOCK = func.statement_timestamp(type_=DateTime(timezone=True))


def database_now(bind: Session | Connection) -> datetime:
    """Now by the database's clock (UTC), read in ``bind``'s transaction (or on its connection)."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind.engine
    if engine.dialect.name != "postgresql":
        return utcnow()
    value = bind.execute(_DATABASE_NOW).scalar_one()
    return as_utc(value).astimezone(UTC)


def now_to_write(bind: Session | Connection) -> datetime | ColumnElement[datetime]:
    """Now by the database's clock as a value to write in a statement (a job's deadline, an attempt's start):
    PostgreSQL's ``statement_timestamp()``, evaluated by the server as it writes, else this machine's time (see
    :func:`database_now`). A job's 5-minute budget written from a clock a minute off was a minute short or long."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind.engine
    return _STATEMENT_CLOCK if engine.dialect.name == "postgresql" else utcnow()


def job_and_now(session: Session, job_id: str) -> tuple[Job | None, datetime]:
    """The job (from the session when it holds it) and now by the database's clock, read in one statement: every
    decision about a job's deadline is made by the clock that wrote it, not by this process's."""
    if session.get_bind().dialect.name != "postgresql":
        return session.get(Job, job_id), utcnow()
    row = session.execute(select(Job, _CLOCK).where(col(Job.id) == job_id)).first()
    if row is None:
        return None, database_now(session)
    return row[0], as_utc(row[1]).astimezone(UTC)


def lease_free(attempt_id: int, now: datetime) -> ColumnElement[bool]:
    """The conditions under which an attempt may be taken (leased, or settled after a cancel): still generating,
    no image yet, and no lease, or one that ran out by ``now`` (the database's clock). A conditional UPDATE on
    them is won by one process only."""
    return (
        (col(JobAttempt.id) == attempt_id)
        & (col(JobAttempt.state) == AttemptState.GENERATING)
        & col(JobAttempt.image_id).is_(None)
        & (col(JobAttempt.lease_until).is_(None) | (col(JobAttempt.lease_until) < now))
    )
