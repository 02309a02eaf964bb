"""The PostgreSQL connection class :func:`sentinel.db.build_engine` connects with; a module of its own so psycopg is
imported only by a process that connects to PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.errors import _WaitTimeout


class BoundedConnection(psycopg.Connection):  # type: ignore[type-arg]
    """A psycopg connection that waits on the server for at most ``answer_timeout`` seconds per round trip.

    A server that stops answering without closing the connection (a stuck server, a lock pile-up, a partition
    without a reset) otherwise holds the caller as long as it stalls: nothing on the client side bounds a query,
    and a server-side ``statement_timeout`` is never read by a server that does not get the statement. When the
    bound passes, the connection is closed (its state is unknown) and an OperationalError raised, which SQLAlchemy
    treats as a disconnect and the API answers as 503 with Retry-After."""

    #: None until set at checkout (see :func:`bound_statements`), so migrations run without it.
    answer_timeout: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        bound = self.answer_timeout
        if timeout is not None or bound is None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, bound)
        except _WaitTimeout:
            self.close()
            raise psycopg.OperationalError(f"the database did not answer within {bound:g} s") from None
