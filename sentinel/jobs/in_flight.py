"""Provider calls an attempt's worker left without an answer: still counted at their price, in the call log and the
spend cap.

A job's attempt writes each provider call down before it is sent (``in_flight``, at its price: see
:class:`sentinel.providers.calls.InFlightCalls`). A worker killed mid-call (SIGKILL, OOM, a node lost) leaves that row;
the provider may still make, and bill, the image. When the sweep finds the attempt's lease run out (or the worker's
own generation stops on an error) the row becomes ``in_flight_at_crash``, and its price is booked as spent against
the job's key, in the same transaction: the key's reservation for the attempt would otherwise be released by the
ledger's sweep as if nothing had been spent, and the key's cap (and the dashboard's cost) would undercount what the
provider charges."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from sentinel.providers.calls import calls_left_in_flight
from sentinel.spend.service import Reservation, book_spent, reserved_in


@dataclass(frozen=True)
class LeftInFlight:
    """A request's calls marked ``in_flight_at_crash``: how many, and what they may cost (booked as spent)."""

    request_id: str
    count: int
    cost: float


def mark_left_in_flight(connection: Connection, key_id: str | None, request_id: str, why: str) -> LeftInFlight | None:
    """Mark the request's unanswered calls ``in_flight_at_crash`` (``why`` says what stopped their worker) and book
    their price as spent in the key's period, both in the caller's transaction; None when it has none.

    One transaction for both: a call is marked if and only if it is booked, so an answer that comes after all (the
    worker was alive, only too slow to renew its lease) takes back exactly that booking when it completes the row
    (:func:`sentinel.providers.calls.insert_calls`), and one that came first leaves the row out of the mark."""
    count, cost = calls_left_in_flight(connection, request_id, why)
    if not count:
        return None
    if key_id is not None and cost > 0:
        spent_in = reserved_in(connection, request_id, key_id)
        if spent_in is not None:
            book_spent(connection, Reservation(key_id, spent_in[1], request_id, cost))
    return LeftInFlight(request_id, count, cost)
