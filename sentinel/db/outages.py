"""When this process could not reach the database: the spans of its connection errors, for explaining afterwards
what did not happen meanwhile (an evaluation no judge could read or vote on: the database, not the workers).

Every process that works on the database reaches it every few seconds (its outbox relay polls, its workers take
messages), so a process that runs the sweep after an outage saw that outage itself.
"""

from __future__ import annotations

import sys
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from sentinel.models import as_utc, utcnow

#: Errors closer together than this are one outage (the pool retries a dead database every second or so, and an
#: idle process only every few seconds).
SAME_OUTAGE = timedelta(seconds=30)
#: Outages remembered, the latest ones.
REMEMBERED = 64


@dataclass
class Outage:
    started: datetime
    ended: datetime


class DatabaseOutages:
    """The spans during which this process's connections to one database failed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outages: list[Outage] = []

    def note(self, at: datetime | None = None) -> None:
        """A connection error (refused, cut, a round trip that timed out) at ``at`` (now)."""
        at = utcnow() if at is None else as_utc(at)
        with self._lock:
            last = self._outages[-1] if self._outages else None
            if last is not None and last.started <= at <= last.ended + SAME_OUTAGE:
                last.ended = max(last.ended, at)
                return
            self._outages.append(Outage(at, at))
            del self._outages[:-REMEMBERED]

    def within(self, start: datetime, end: datetime) -> Outage | None:
        """The latest outage that overlaps ``start``..``end`` (widened by :data:`SAME_OUTAGE` at its end: the errors of
        an outage come seconds apart), None when none does."""
        start, end = as_utc(start), as_utc(end)
        with self._lock:
            for outage in reversed(self._outages):
                if outage.started <= end and outage.ended + SAME_OUTAGE >= start:
                    return Outage(max(outage.started, start), min(outage.ended, end))
        return None


_outages: weakref.WeakKeyDictionary[Engine, DatabaseOutages] = weakref.WeakKeyDictionary()
_outages_lock = threading.Lock()


def outages_of(engine: Engine) -> DatabaseOutages:
    """The outages this process saw on ``engine`` (none noted unless :func:`watch_outages` was called on it)."""
    with _outages_lock:
        found = _outages.get(engine)
        if found is None:
            found = _outages[engine] = DatabaseOutages()
        return found


def watch_outages(engine: Engine) -> None:
    """Note every connection error on ``engine`` (a server refused, cut or stalled past its bound); the statement
    errors a query causes (a constraint, a bad value) are not outages. Costs nothing while the database answers."""
    outages = outages_of(engine)

    def noted(context: Any) -> None:
        if context.is_disconnect or _unreachable(context.original_exception):
            outages.note()

    event.listen(engine, "handle_error", noted)


#: SQLSTATE classes of a server that cannot be reached or stopped answering: connection exceptions, and operator
#: intervention (shut down, a statement cancelled at its time limit by a stalled server).
_UNREACHABLE_CLASSES = ("08", "57")


def _unreachable(error: BaseException) -> bool:
    """A connection that failed (refused, cut, a round trip past its bound: no SQLSTATE, the client says so) or a
    server that shut down or stalled; not a query's own failure (a deadlock, a lock not available)."""
    # Read from the loaded modules: a process on SQLite never imports psycopg, and an error of psycopg's means it
    # was imported.
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(error, psycopg.OperationalError):
        return False
    state = getattr(error, "sqlstate", None)
    return state is None or state[:2] in _UNREACHABLE_CLASSES
