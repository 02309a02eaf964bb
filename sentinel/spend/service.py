"""Spend caps per key and period. Before a provider is called, the most the call can cost is reserved with one
conditional UPDATE (spent + reserved + amount <= cap), so concurrent requests can never overspend, on SQLite or
PostgreSQL alike; afterwards the reservation is settled to what was actually delivered (a failed or undelivered
image costs nothing). Every step is also a ledger row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from sentinel.db import insert_unless_present
from sentinel.errors import SentinelError
from sentinel.keys.service import Caller
from sentinel.models import SpendEntry, SpendPeriod, utcnow
from sentinel.services import Services

EVERY = {"day": "daily", "month": "monthly"}


class SpendCapReached(SentinelError):
    status_code = 402
    error_type = "insufficient_quota"
    code = "spend_cap_reached"


class UnpricedModel(SpendCapReached):
    """A key with a spend cap asked for a model some of whose paid candidates have no price: what they cost could
    not be counted against the cap, so none of it is called (the operator prices them in the routing file)."""

    code = "unpriced_model"


@dataclass(frozen=True)
class Reservation:
    key_id: str
    period: str
    request_id: str
    amount: float


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

    def reserve(self, caller: Caller | None, amount: float, request_id: str) -> Reservation | None:
        """Hold ``amount`` USD of the key's cap; SpendCapReached (and no provider call) when it would not fit."""
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
            session.commit()
        return Reservation(caller.id, period, request_id, amount)

    def settle(self, reservation: Reservation | None, actual: float) -> None:
        """Release the reservation and book what the delivered images cost (never more than was reserved)."""
        if reservation is None:
            return
        spent = min(actual, reservation.amount)
        with Session(self.services.engine) as session:
            session.execute(
                update(SpendPeriod)
                .where(col(SpendPeriod.key_id) == reservation.key_id, col(SpendPeriod.period) == reservation.period)
                .values(reserved=col(SpendPeriod.reserved) - reservation.amount, spent=col(SpendPeriod.spent) + spent)
            )
            session.add(
                SpendEntry(
                    key_id=reservation.key_id,
                    period=reservation.period,
                    request_id=reservation.request_id,
                    kind="settle",
                    reserved=-reservation.amount,
                    spent=spent,
                )
            )
            session.commit()
