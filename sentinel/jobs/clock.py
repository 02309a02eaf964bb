"""The one clock leases are written and judged by: the database's.

A lease says "this worker generates the attempt until T". Written by one process and judged by another, it needs one
clock for both: a host whose clock runs ahead (an NTP step, a VM resumed from a pause, a container host without time
sync) judged every other worker's lease run out by its own clock, took over their live attempts and paid the
provider for each again. PostgreSQL's ``clock_timestamp()`` is that clock for every worker; SQLite is read and written
by the processes of one machine, whose clock is the one its own ``CURRENT_TIMESTAMP`` reads.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, text
from sqlmodel import Session, col

from sentinel.models import AttemptState, JobAttempt, as_utc, utcnow

_DATABASE_NOW = text("SELECT clock_timestamp()")


def database_now(bind: Session | Connection) -> datetime:
    """Now by the database's clock (UTC), read in ``bind``'s transaction (or on its connection)."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind.engine
    if engine.dialect.name != "postgresql":
        return utcnow()
    value = bind.execute(_DATABASE_NOW).scalar_one()
    return as_utc(value).astimezone(UTC)


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
