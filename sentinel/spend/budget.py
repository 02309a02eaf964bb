"""A request's spend within its reservation, call by call: the router claims a call's price before making it, and
gives it back when the call turned out unpaid (an outage, a refusal, a time-out of a call never sent). A claim past
what the request holds adds the difference to its reservation (:meth:`SpendService.top_up`), which can fail with
spend_cap_reached: the walk then stops before buying an image the cap has no room for.

Why claims and not a reservation of the walk's worst case (every candidate paid, on every pass): that would refuse
a $0.10 cap a request whose usual cost is $0.04 because three candidates at $0.04 might all be paid. Here a request
holds its usual cost, and holds more only in the rare walk that paid for an unusable answer and goes on."""

from __future__ import annotations

import asyncio

from sentinel.spend.service import Reservation, SpendCapReached, SpendService


class ReservedSpend:
    """The calls of one request (all of its images) counted against its reservation. One per request; its images
    are walked concurrently on one event loop, and claims are taken under a lock so two of them never both count
    the same room."""

    def __init__(self, spend: SpendService, reservation: Reservation) -> None:
        self.spend = spend
        self.reservation = reservation
        #: The price of every call made or in flight that was not given back: what the request may have to pay.
        self.claimed = 0.0
        self._lock = asyncio.Lock()

    async def claim(self, price: float) -> SpendCapReached | None:
        """Count a call of ``price`` before it is made; the refusal when the cap has no room for it (no call then)."""
        async with self._lock:
            short = self.claimed + price - self.reservation.amount
            if short > 1e-9:
                try:
                    await asyncio.to_thread(self.spend.top_up, self.reservation, short)
                except SpendCapReached as refused:
                    return refused
            self.claimed += price
            return None

    def give_back(self, price: float) -> None:
        """A claimed call that turned out unpaid: its price is room again for the request's next call."""
        self.claimed = max(0.0, self.claimed - price)
