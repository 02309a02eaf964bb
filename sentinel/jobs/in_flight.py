"""Provider calls an attempt's worker left without an answer: still counted at their price, in the call log and the
spend cap.

A job's attempt writes each provider call down before it is sent (``in_flight``, at its price: see
:class:`sentinel.providers.calls.InFlightCalls`). A worker killed mid-call (SIGKILL, OOM, a node lost) leaves that row;
the provider may still make, and bill, the image. When the sweep finds the attempt's lease run out (or the worker's
own generation stops on an error) the row becomes ``in_flight_at_crash``, and its price is booked as spent against
the job's key: the key's reservation for the attempt would otherwise be released by the ledger's sweep as if nothing
had been spent, and the key's cap (and the dashboard's cost) would undercount what the provider charges.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection
from sqlmodel import col, select

from sentinel.models import SpendEntry
from sentinel.providers.calls import calls_left_in_flight
from sentinel.services import Services
from sentinel.spend.service import Reservation, SpendService


@dataclass(frozen=True)
class LeftInFlight:
    """A request's calls marked ``in_flight_at_crash``: how many, what they may cost, and where that is booked."""

    request_id: str
    count: int
    cost: float
    #: The key's spend period the attempt reserved in (None: an uncapped key, nothing to book).
    booking: Reservation | None


def mark_left_in_flight(connection: Connection, key_id: str | None, request_id: str, why: str) -> LeftInFlight | None:
    """Mark the request's unanswered calls ``in_flight_at_crash`` in the caller's transaction (``why`` says what
    stopped their worker); None when it has none. Book them with :func:`book` once the transaction is committed."""
    count, cost = calls_left_in_flight(connection, request_id, why)
    if not count:
        return None
    booking = None
    if key_id is not None and cost > 0:
        period = connection.execute(
            select(SpendEntry.period)
            .where(
                col(SpendEntry.key_id) == key_id,
                col(SpendEntry.request_id) == request_id,
                col(SpendEntry.kind) == "reserve",
            )
            .order_by(col(SpendEntry.id).desc())
            .limit(1)
        ).scalar_one_or_none()
        if period is not None:
            booking = Reservation(key_id, period, request_id, cost)
    return LeftInFlight(request_id, count, cost, booking)


def book(services: Services, left: LeftInFlight) -> None:
    """The calls' price booked as spent in the key's period, out of what the attempt still holds there (a settle of
    that amount: whatever of the hold is left, the ledger's sweep releases later, never twice)."""
    if left.booking is not None:
        SpendService(services).settle(left.booking, left.cost)
