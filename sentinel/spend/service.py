"""Spend caps per key and period. Before a provider is called, the most the call can cost is reserved with one
conditional UPDATE (spent + reserved + amount <= cap), so concurrent requests can never overspend, on SQLite or
PostgreSQL alike; afterwards the reservation is settled to what the provider calls cost: a delivered image, and a
paid answer our checks refused (an animated GIF, a cut image), each at its price; a failed call costs nothing. A
request that may pay for more than it reserved (a refused paid answer, then the next candidate) first adds to its
reservation the same conditional way (:meth:`SpendService.top_up`, see :mod:`sentinel.spend.budget`), so what it books
always fitted the cap when it was bought. Every step is also a ledger row.

A request keeps its reservation alive while it works (a ``renew`` row every RENEW_EVERY_SECONDS); one whose process
died (SIGKILL, OOM, a node lost, a deploy past its grace period) never settles, and the sweep releases what it still
holds once its last row is STALE_AFTER_SECONDS old (:meth:`SpendService.release_stale`). Without that each crash
shrank the key's cap by the request's most expensive price until the period reset: for a monthly cap, the month. What
the dead request had sent to a provider and never heard back from (its calls still ``in_flight`` in the call log,
written down before they were sent) is booked as spent by that release, not released: the provider may bill it. A
settle after such a release books what was spent and releases only what is still held, never twice."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from sentinel.db import insert_unless_present
from sentinel.errors import SentinelError
from sentinel.keys.service import Caller
from sentinel.models import ProviderCall, SpendEntry, SpendPeriod, as_utc, utcnow
from sentinel.services import Services

EVERY = {"day": "daily", "month": "monthly"}

#: How often a request that holds a reservation says it still works (a ``renew`` ledger row).
RENEW_EVERY_SECONDS = 20.0
#: A reservation whose request wrote no ledger row for this long is released by the sweep: its process is gone. Six
#: renewals missed, so a database blink or a host whose clock runs somewhat ahead does not release a live one (and
#: if one is, its settle releases nothing twice).
STALE_AFTER_SECONDS = 6 * RENEW_EVERY_SECONDS
#: A call-log row written in flight with a reservation (see :meth:`SpendService.reserve`).
_WRITE_CALL = insert(ProviderCall.__table__).returning(ProviderCall.__table__.c.id)  # type: ignore[attr-defined]
#: Amounts below this are rounding, not money held.
_CENT_FRACTION = 1e-9


class SpendCapReached(SentinelError):
    status_code = 402
    error_type = "insufficient_quota"
    code = "spend_cap_reached"


class UnpricedModel(SpendCapReached):
    """A key with a spend cap asked for a model some of whose paid candidates have no price: what they cost could
    not be counted against the cap, so none of it is called (the operator prices them in the routing file)."""

    code = "unpriced_model"


@dataclass
class Reservation:
    key_id: str
    period: str
    request_id: str
    #: What this run of the request holds: its first reservation and every top-up.
    amount: float
    #: The cap it was made under, and the key's name and period kind, for a top-up's refusal.
    cap: float = float("inf")
    key_name: str = ""
    every: str = "day"
    #: The call-log rows written, in flight, in the reservation's own transaction (see :meth:`SpendService.reserve`).
    in_flight_ids: list[int] = field(default_factory=list)


#: What the ledger's sweep asks of a dead request before it releases its hold: mark its calls still in flight (in
#: the caller's transaction) and say how many there were and what they may cost, which is booked as spent.
LeftInFlight = Callable[[Connection, str], tuple[int, float]]


def period_of(kind: str, now: datetime) -> tuple[str, datetime]:
    """The period's name and when the next one starts (UTC)."""
    if kind == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y-%m-%d"), start + timedelta(days=1)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return start.strftime("%Y-%m"), following


class SpendService:
    def __init__(self, services: Services) -> None:
        self.services = services

    @staticmethod
    def capped(caller: Caller | None) -> bool:
        """Whether the caller's spending is capped, so its calls go through the ledger."""
        return caller is not None and caller.spend_cap is not None and caller.spend_period is not None

    def reserve(
        self, caller: Caller | None, amount: float, request_id: str, in_flight: Sequence[Mapping[str, Any]] = ()
    ) -> Reservation | None:
        """Hold ``amount`` USD of the key's cap; SpendCapReached (and no provider call) when it would not fit.

        ``in_flight``: call-log rows written in the same transaction (a gateway request's calls, in flight at the
        price held for them, before any is sent): a process killed mid-call leaves them beside its reservation, and
        the sweep books them rather than release it. Their ids are on the reservation."""
        if not self.capped(caller):
            return None
        period, resets = period_of(caller.spend_period, utcnow())
        with Session(self.services.engine) as session:
            insert_unless_present(
                session,
                SpendPeriod,
                {"key_id": caller.id, "period": period, "reserved": 0.0, "spent": 0.0},
                ["key_id", "period"],
            )
            held = session.execute(
                update(SpendPeriod)
                .where(
                    col(SpendPeriod.key_id) == caller.id,
                    col(SpendPeriod.period) == period,
                    col(SpendPeriod.spent) + col(SpendPeriod.reserved) + amount <= caller.spend_cap + 1e-9,
                )
                .values(reserved=col(SpendPeriod.reserved) + amount)
            ).rowcount  # type: ignore[attr-defined]
            if held != 1:
                session.rollback()
                # The rollback also undid this call's insert of the period's row: a first request that does not
                # fit finds no row, and has used nothing.
                row = session.exec(
                    select(SpendPeriod).where(SpendPeriod.key_id == caller.id, SpendPeriod.period == period)
                ).first()
                used = row.spent + row.reserved if row is not None else 0.0
                raise SpendCapReached(
                    f"key '{caller.name}' has used ${used:.4f} of its ${caller.spend_cap:g} "
                    f"{EVERY[caller.spend_period]} spend cap (in flight included); this request may cost up to "
                    f"${amount:.4f}. The cap resets at {resets.isoformat(timespec='minutes')}."
                )
            entry = SpendEntry(key_id=caller.id, period=period, request_id=request_id, kind="reserve", reserved=amount)
            session.add(entry)
            ids: list[int] = []
            if in_flight:
                # Core, one statement a row (a request asks for an image or a few): the ORM's bulk insert with
                # RETURNING cost ~0.4 ms of CPU more per request.
                connection = session.connection()
                ids = [int(connection.execute(_WRITE_CALL, dict(row)).scalar_one()) for row in in_flight]
            session.commit()
        return Reservation(
            caller.id, period, request_id, amount, caller.spend_cap, caller.name, caller.spend_period, ids
        )

    def top_up(self, reservation: Reservation, amount: float) -> None:
        """Hold ``amount`` USD more for a request that already holds ``reservation`` (it is about to make a call its
        reservation does not cover), with the same conditional UPDATE as :meth:`reserve`, so concurrent requests
        still never overspend; SpendCapReached (and no call) when it would not fit."""
        with Session(self.services.engine) as session:
            held = session.execute(
                update(SpendPeriod)
                .where(
                    col(SpendPeriod.key_id) == reservation.key_id,
                    col(SpendPeriod.period) == reservation.period,
                    col(SpendPeriod.spent) + col(SpendPeriod.reserved) + amount <= reservation.cap + 1e-9,
                )
                .values(reserved=col(SpendPeriod.reserved) + amount)
            ).rowcount  # type: ignore[attr-defined]
            if held != 1:
                session.rollback()
                raise SpendCapReached(
                    f"key '{reservation.key_name}' reached its ${reservation.cap:g} {EVERY[reservation.every]} spend "
                    f"cap during this request: it paid for answers that were not usable, and the next call "
                    f"(${amount:.4f}) would not fit"
                )
            session.add(
                SpendEntry(
                    key_id=reservation.key_id,
                    period=reservation.period,
                    request_id=reservation.request_id,
                    kind="reserve",
                    reserved=amount,
                )
            )
            session.commit()
        reservation.amount += amount

    def settle(self, reservation: Reservation | None, actual: float) -> None:
        """Release the reservation and book what the provider calls cost (``actual``: every paid call, the refused
        ones too; what a request buys past its first reservation it reserved first, see :meth:`top_up`). What the
        sweep released meanwhile (the request looked dead) is not released again."""
        if reservation is None:
            return
        with Session(self.services.engine) as session:
            settle_in(session.connection(), reservation, actual)
            session.commit()

    def renew(self, reservation: Reservation) -> None:
        """Say the reservation's request still works, so the sweep does not release what it holds."""
        with Session(self.services.engine) as session:
            session.add(
                SpendEntry(
                    key_id=reservation.key_id,
                    period=reservation.period,
                    request_id=reservation.request_id,
                    kind="renew",
                )
            )
            session.commit()

    def release_stale(
        self, stale_after_seconds: float = STALE_AFTER_SECONDS, left_in_flight: LeftInFlight | None = None
    ) -> int:
        """Release what requests that stopped renewing still hold (their process died); how many were released.
        ``left_in_flight`` marks a dead request's calls still in flight: what they may cost is booked as spent in
        the same transaction (out of the hold), not released.

        Reads only the periods that hold anything, then their requests' rows; each release re-reads its request
        under the period's row lock, so a settle or a renewal that lands meanwhile wins."""
        cutoff = utcnow() - timedelta(seconds=stale_after_seconds)
        with Session(self.services.engine) as session:
            holding = session.exec(
                select(SpendPeriod.key_id, SpendPeriod.period).where(col(SpendPeriod.reserved) > _CENT_FRACTION)
            ).all()
            stale: list[tuple[str, str, str]] = []
            for key_id, period in holding:
                requests = session.exec(
                    select(SpendEntry.request_id, func.max(SpendEntry.created_at))
                    .where(SpendEntry.key_id == key_id, SpendEntry.period == period)
                    .group_by(col(SpendEntry.request_id))
                    .having(func.sum(SpendEntry.reserved) > _CENT_FRACTION)
                ).all()
                stale += [(key_id, period, request) for request, last in requests if as_utc(last) < cutoff]
        released = 0
        for key_id, period, request_id in stale:
            with Session(self.services.engine) as session:
                _lock_period(session, key_id, period)
                held, last = _held(session, key_id, period, request_id)
                if held <= _CENT_FRACTION or last is None or as_utc(last) >= cutoff:
                    session.rollback()
                    continue  # settled or renewed meanwhile
                _, cost = left_in_flight(session.connection(), request_id) if left_in_flight else (0, 0.0)
                session.execute(
                    update(SpendPeriod)
                    .where(col(SpendPeriod.key_id) == key_id, col(SpendPeriod.period) == period)
                    .values(reserved=col(SpendPeriod.reserved) - held, spent=col(SpendPeriod.spent) + cost)
                )
                session.add(
                    SpendEntry(
                        key_id=key_id, period=period, request_id=request_id, kind="release", reserved=-held, spent=cost
                    )
                )
                session.commit()
            released += 1
        return released


def settle_in(connection: Connection, reservation: Reservation, actual: float) -> None:
    """:meth:`SpendService.settle` in the caller's transaction (a generation's call log and its settle are committed
    together: no moment where the calls are logged, answered, and the hold still open for the sweep to release)."""
    _book(connection, reservation, release_up_to=reservation.amount, spent=max(actual, 0.0))


def book_spent(connection: Connection, booking: Reservation) -> None:
    """``booking.amount`` booked as spent for its request, out of what the request still holds (whatever of the hold
    is left, its own settle or the ledger's sweep releases later, never twice), in the caller's transaction: the
    calls it pays for are marked in the same one (:mod:`sentinel.jobs.in_flight`), so a call is marked if and only if
    it is booked."""
    _book(connection, booking, release_up_to=booking.amount, spent=booking.amount)


def _book(connection: Connection, reservation: Reservation, release_up_to: float, spent: float) -> None:
    """``spent`` added to the request's period and up to ``release_up_to`` of what it still holds released, with
    the ledger's entry saying so."""
    _lock_period(connection, reservation.key_id, reservation.period)
    held, _ = _held(connection, reservation.key_id, reservation.period, reservation.request_id)
    released = min(release_up_to, max(held, 0.0))
    connection.execute(
        update(SpendPeriod)
        .where(col(SpendPeriod.key_id) == reservation.key_id, col(SpendPeriod.period) == reservation.period)
        .values(reserved=col(SpendPeriod.reserved) - released, spent=col(SpendPeriod.spent) + spent)
    )
    connection.execute(
        insert(SpendEntry).values(
            key_id=reservation.key_id,
            period=reservation.period,
            request_id=reservation.request_id,
            kind="settle",
            reserved=-released,
            spent=spent,
            created_at=utcnow(),
        )
    )


def unbook_spent(connection: Connection, booking: Reservation) -> None:
    """What :func:`book_spent` booked for calls that were answered after all taken off the spent again, in the
    caller's transaction: their answer is logged with the rest of the request's calls, and the request's own settle
    books what they cost. The hold is not given back: the settle releases what is left of it."""
    _lock_period(connection, booking.key_id, booking.period)
    connection.execute(
        update(SpendPeriod)
        .where(col(SpendPeriod.key_id) == booking.key_id, col(SpendPeriod.period) == booking.period)
        .values(spent=col(SpendPeriod.spent) - booking.amount)
    )
    connection.execute(
        insert(SpendEntry).values(
            key_id=booking.key_id,
            period=booking.period,
            request_id=booking.request_id,
            kind="settle",
            spent=-booking.amount,
            created_at=utcnow(),
        )
    )


def reserved_in(connection: Connection, request_id: str, key_id: str | None = None) -> tuple[str, str] | None:
    """The key and spend period a request reserved in (its latest reservation), None when it reserved nothing (an
    uncapped key)."""
    query = select(SpendEntry.key_id, SpendEntry.period).where(
        col(SpendEntry.request_id) == request_id, col(SpendEntry.kind) == "reserve"
    )
    if key_id is not None:
        query = query.where(col(SpendEntry.key_id) == key_id)
    found = connection.execute(query.order_by(col(SpendEntry.id).desc()).limit(1)).first()
    return (found[0], found[1]) if found is not None else None


def _lock_period(session: Session | Connection, key_id: str, period: str) -> None:
    """Take the period's row for this transaction (an UPDATE that changes nothing): a settle and a release of one
    request then run one after the other, the second reading what the first wrote."""
    session.execute(
        update(SpendPeriod)
        .where(col(SpendPeriod.key_id) == key_id, col(SpendPeriod.period) == period)
        .values(reserved=col(SpendPeriod.reserved))
    )


def _held(session: Session | Connection, key_id: str, period: str, request_id: str) -> tuple[float, datetime | None]:
    """What a request still holds of the period's reservations (all its runs: a resumed job attempt reserves under
    the same id), and when it last wrote a ledger row."""
    connection = session.connection() if isinstance(session, Session) else session
    held, last = connection.execute(
        select(func.coalesce(func.sum(SpendEntry.reserved), 0.0), func.max(SpendEntry.created_at)).where(
            SpendEntry.key_id == key_id, SpendEntry.period == period, SpendEntry.request_id == request_id
        )
    ).one()
    return float(held), last
