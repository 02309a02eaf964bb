"""Sending committed outbox messages to the broker, and forgetting them once sent.

Every process that writes messages runs a relay (the API, each worker process). A round claims a batch of unsent
messages for a while (so two relays do not both send them), enqueues each, and deletes what went out (a once-only
message is marked sent instead, and kept a while for its dedupe key); what the broker refused stays unsent and is
tried again on the next round. A relay that dies after enqueueing and before deleting leaves those messages to be
sent again once their claim runs out: every step is safe to run twice.

A new evaluation's message (the one message of every request) skips the claim: it is written already claimed for
the relay of the process that writes it (:func:`sentinel.outbox.store.handoff_claim`), which sends it by id after
the commit and deletes it (one DELETE for the messages of a few commits, where a round took two statements). Should
that process die in between, its claim runs out after a few seconds and any relay's poll sends it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Any

import dramatiq
from sqlalchemy import Insert, Update, bindparam, delete, func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from sentinel.db import autocommit, insert_for
from sentinel.models import OutboxMessage, as_utc, utcnow
from sentinel.outbox import steps
from sentinel.outbox.store import UNSENT, Handed, message_values, on_commit, receive_handoffs
from sentinel.threadpools import shared_pool

logger = logging.getLogger(__name__)

#: Messages one round sends at most (a backlog after an outage drains in rounds, oldest first).
BATCH = 200
#: How long a relay holds the messages it is sending; another relay takes over after it.
CLAIM_SECONDS = 60.0
#: Sent messages are kept this long (a step that runs again meanwhile finds its once-only message already there).
KEEP_SENT_SECONDS = 3600.0
#: An enqueue in a committing thread that takes longer than this sends the next messages through the relay's thread
#: (see Relay._receive).
SLOW_ENQUEUE_SECONDS = 0.5
#: The rows of messages that committing threads enqueued (see Relay._receive) are deleted together, this long after
#: the first of them went out: in a busy API one DELETE covers the messages of several requests, where it was one
#: DELETE (and one wake-up of the relay's thread) per request. Far inside their claim (HANDOFF_CLAIM_SECONDS): no
#: other relay sends one again meanwhile.
FORGET_HANDED_SECONDS = 0.25
#: The messages one commit hands over are enqueued in up to this many slices at once, each in order in a thread of
#: its own: a group of new evaluations (sentinel.evaluation.intake) hands over hundreds, and one broker round trip
#: after another took seconds in a busy API, where each request's own thread had overlapped its round trip with the
#: others'.
ENQUEUE_THREADS = 8
#: A hand-off of fewer messages than this is enqueued by the committing thread alone.
SPREAD_FROM = 4
#: How often a process deletes the once-only messages older than that: the sweep asks every few seconds, and a row
#: kept a minute past its hour costs nothing, while a DELETE every sweep was a statement and a commit each time.
FORGET_EVERY_SECONDS = 60.0


def backlog(engine: Engine) -> tuple[int, float | None]:
    """How many messages wait to be sent, and how long the oldest has waited (seconds; None when none waits)."""
    with Session(engine) as session:
        waiting, oldest = session.exec(
            select(func.count(), func.min(OutboxMessage.created_at)).where(col(OutboxMessage.sent_at).is_(None))
        ).one()
    return int(waiting), (utcnow() - as_utc(oldest)).total_seconds() if oldest is not None else None


@lru_cache(maxsize=1)
def _claim_statement() -> Update:
    """A round's claim in one statement: the oldest free unsent messages, claimed and returned.

    Built once (with the times as parameters): building it cost more CPU than running it. On PostgreSQL the
    inner SELECT locks the rows it picks and skips those another relay's claim holds (FOR UPDATE SKIP LOCKED),
    so of two relays each claims a disjoint set; a row whose lock is released meanwhile is re-checked against
    the condition on its newest version, which a committed claim no longer meets. SQLite has one writer at a
    time and ignores the clause."""
    free = or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) < bindparam("now"))
    unsent = col(OutboxMessage.sent_at).is_(None)
    oldest_free = (
        select(OutboxMessage.id)
        .where(unsent, free)
        .order_by(col(OutboxMessage.id))
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    return (
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(oldest_free.scalar_subquery()), unsent, free)
        .values(claimed_until=bindparam("until"))
        .returning(
            col(OutboxMessage.id),
            col(OutboxMessage.actor),
            col(OutboxMessage.queue),
            col(OutboxMessage.args),
            col(OutboxMessage.options),
            # The key itself, not "IS NOT NULL": SQLite's RETURNING answered that as true for a NULL key.
            col(OutboxMessage.dedupe_key),
        )
    )


@lru_cache(maxsize=2)
def _request_insert(dialect: str) -> Insert:
    """A once-only message's row unless it is there already (its dedupe key), returning its id when this call wrote
    it; built once per database kind."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return insert_for(dialect)(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)


#: Forgetting a round's messages that went out, and releasing those the broker refused (built once, like the claim).
#: A message is kept once sent only if it is once-only (a dedupe key): a step that runs again finds it there for
#: KEEP_SENT_SECONDS and adds nothing. Any other is deleted at once: marking it sent was an UPDATE of three of its
#: indexes, and the sweep deleted it an hour later anyway.
#: Only rows still under this round's claim: SQLite gives a new row the id of a deleted last one, and a round that
#: outlived its claim must not delete a message written after another relay sent (and deleted) the one it claimed.
_FORGET_SENT = delete(OutboxMessage).where(
    col(OutboxMessage.id).in_(bindparam("ids", expanding=True)), col(OutboxMessage.claimed_until) == bindparam("until")
)
#: Deleting handed messages that went out: by id (PostgreSQL only, whose ids are never given again).
_FORGET_HANDED = delete(OutboxMessage).where(col(OutboxMessage.id).in_(bindparam("ids", expanding=True)))
_FORGET_SENT_BEFORE = delete(OutboxMessage).where(col(OutboxMessage.sent_at) < bindparam("cutoff"))
_MARK_SENT = (
    update(OutboxMessage)
    .where(col(OutboxMessage.id).in_(bindparam("ids", expanding=True)))
    .values(sent_at=bindparam("sent_at"))
)
_RELEASE_FAILED = (
    update(OutboxMessage)
    .where(col(OutboxMessage.id).in_(bindparam("ids", expanding=True)))
    .values(claimed_until=None, send_failures=OutboxMessage.send_failures + 1)
)


class Relay:
    def __init__(
        self,
        engine: Engine,
        broker: dramatiq.Broker,
        *,
        poll_seconds: float = 1.0,
        sweep_every_seconds: float | None = None,
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.poll_seconds = poll_seconds
        #: How often this relay asks for the cluster's sweep (None: it does not).
        self.sweep_every_seconds = sweep_every_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop_listening: Callable[[], None] | None = None
        self._users = 0
        self._users_lock = threading.Lock()
        self._broker_was_down = False
        #: When this process last deleted old sent messages (monotonic seconds; None: not yet).
        self._forgot_at: float | None = None
        #: Messages this process's commits handed to this relay (see sentinel.outbox.store.handoff_claim).
        self._handed: list[Handed] = []
        #: Ids of handed messages enqueued by the committing thread, whose rows this relay's thread deletes.
        self._handed_out: list[int] = []
        #: When the rows of _handed_out are to be deleted (monotonic seconds; see FORGET_HANDED_SECONDS).
        self._forget_handed_at = 0.0
        #: Whether committing threads enqueue their handed messages themselves (see _receive): not after the broker
        #: refused or was slow for one, until this relay's thread has sent a message again.
        self._inline = True
        self._handed_lock = threading.Lock()
        self._stop_receiving: Callable[[], None] | None = None
        #: Set by a commit that wrote messages that were not handed over: they need a round's claim.
        self._round_wanted = threading.Event()

    # -- one round ----------------------------------------------------------------------------------

    def send_pending(self) -> int:
        """Send what is committed and unsent (one batch); returns how many went out."""
        now = utcnow()
        until = now + timedelta(seconds=CLAIM_SECONDS)
        # Core on a connection, not an ORM session: a round runs after every commit that wrote messages, and the
        # session's bookkeeping around these two statements cost more CPU than the statements. Each statement is a
        # transaction of its own (the claim is one UPDATE; forgetting what went out and releasing are independent):
        # BEGIN and COMMIT around them were round trips that bought nothing.
        with autocommit(self.engine).connect() as connection:
            claimed = connection.execute(_claim_statement(), {"now": now, "until": until}).all()
        if not claimed:
            return 0
        messages = [Handed(*row[:5]) for row in sorted(claimed, key=lambda row: row[0])]
        once_only = {row[0] for row in claimed if row[5] is not None}
        went, error = self._enqueue_in_order(messages)
        sent = [message.id for message in messages[:went] if message.id not in once_only]
        kept = [message.id for message in messages[:went] if message.id in once_only]
        failed = [message.id for message in messages[went:]]
        with autocommit(self.engine).connect() as connection:
            if sent:
                connection.execute(_FORGET_SENT, {"ids": sent, "until": until})
            if kept:
                connection.execute(_MARK_SENT, {"ids": kept, "sent_at": utcnow()})
            if failed:
                connection.execute(_RELEASE_FAILED, {"ids": failed})
        self._note_broker(error, len(failed), went > 0)
        return went

    def send_handed(self) -> int:
        """Send the messages handed to this relay by this process's commits that are not out yet, and delete those
        that went out (here or in the committing thread, see :meth:`_receive`); returns how many went out here.
        Written with their claim (sentinel.outbox.store.handoff_claim), they need no claim statement: one DELETE a
        round. What the broker refuses is released for the next poll round."""
        with self._handed_lock:
            handed, self._handed = self._handed, []
            sent, self._handed_out = self._handed_out, []
        if not handed and not sent:
            return 0
        out, left, error = self._enqueue_spread(handed)
        went = len(out)
        sent.extend(message.id for message in out)
        failed = [message.id for message in left]
        with autocommit(self.engine).connect() as connection:
            if sent:
                connection.execute(_FORGET_HANDED, {"ids": sent})
            if failed:
                connection.execute(_RELEASE_FAILED, {"ids": failed})
        self._note_broker(error, len(failed), went > 0)
        return went

    def _receive(self, messages: list[Handed]) -> None:
        """Messages a commit of this process handed over, in the committing thread: each is enqueued here and now,
        and this relay's thread deletes its row. Waking the relay's thread to enqueue them was a hand-off that,
        in a busy API, waited for the interpreter behind the requests (0.3-0.6 s in a burst of uploads). Once the
        broker has refused one, or taken longer than SLOW_ENQUEUE_SECONDS over one, they wait for the relay's
        thread, which keeps trying, until it has sent one again: a broker that is away or stalls holds the requests
        that met it, not every request after them."""
        out, left, error = self._enqueue_spread(messages, inline=True)
        if error is not None:  # the relay's thread tries again, and says so if the broker is away
            self._inline = False
        with self._handed_lock:
            # The relay's thread is woken for messages left to it, and for the first row to delete (it then waits
            # FORGET_HANDED_SECONDS for more), not for every commit.
            wake = bool(left) or not self._handed_out
            if not self._handed_out:
                self._forget_handed_at = time.monotonic() + FORGET_HANDED_SECONDS
            self._handed_out.extend(message.id for message in out)
            self._handed.extend(left)
        if wake:
            self._wake.set()

    def _handed_due(self) -> float | None:
        """When :meth:`send_handed` is due in the relay's thread: now (0.0) for messages left to it, at the time
        set for deleting the rows of those that went out, None when there is neither."""
        with self._handed_lock:
            if self._handed:
                return 0.0
            return self._forget_handed_at if self._handed_out else None

    def _enqueue_spread(
        self, messages: Sequence[Handed], *, inline: bool = False
    ) -> tuple[list[Handed], list[Handed], Exception | None]:
        """:meth:`_enqueue_in_order` in up to ENQUEUE_THREADS slices at once (a few messages: in this thread): the
        messages that went out, those left (after a refusal in their slice), and a refusal (None when none)."""
        if len(messages) < SPREAD_FROM:
            went, error = self._enqueue_in_order(messages, inline=inline)
            return list(messages[:went]), list(messages[went:]), error
        size = -(-len(messages) // ENQUEUE_THREADS)
        slices = [messages[start : start + size] for start in range(0, len(messages), size)]
        # The threads a hand-off's slices are enqueued in, shared by the process's relays.
        pool = shared_pool("outbox-enqueue", ENQUEUE_THREADS)
        outcomes = list(pool.map(lambda part: self._enqueue_in_order(part, inline=inline), slices))
        out: list[Handed] = []
        left: list[Handed] = []
        error: Exception | None = None
        for part, (went, refused) in zip(slices, outcomes, strict=True):
            out.extend(part[:went])
            left.extend(part[went:])
            error = error or refused
        return out, left, error

    def _enqueue_in_order(self, messages: Sequence[Handed], *, inline: bool = False) -> tuple[int, Exception | None]:
        """Enqueue ``messages`` in order until the broker refuses one: how many went out (the first ones), and the
        refusal that stopped the rest (None when none did). ``inline``: in a committing thread (see :meth:`_receive`),
        which also stops before a message once messages are no longer enqueued inline, and stops enqueueing inline
        after an enqueue that took longer than SLOW_ENQUEUE_SECONDS."""
        for went, message in enumerate(messages):
            if inline and not self._inline:
                return went, None
            started = time.monotonic()
            try:
                self._enqueue(message.actor, message.queue, message.args, message.options)
            except Exception as exc:  # the broker is away: the rest waits for the relay's next try
                return went, exc
            if inline and time.monotonic() - started > SLOW_ENQUEUE_SECONDS:
                # A broker that stalls (rather than refuses) would hold each request up to its socket timeout:
                # the next ones leave their messages to the relay's thread until it has sent one again.
                self._inline = False
        return len(messages), None

    def _want_round(self) -> None:
        self._round_wanted.set()
        self._wake.set()

    def _note_broker(self, error: Exception | None, failed: int, sent: bool) -> None:
        """Say once that the broker is away (and once that it is back)."""
        if error is not None:
            if not self._broker_was_down:
                logger.warning("broker unreachable (%s); %d message(s) wait in the outbox", error, failed)
            self._broker_was_down = True
        if error is None and sent:
            self._inline = True
        if error is None and self._broker_was_down and sent:
            logger.info("broker reachable again; sending waiting messages")
            self._broker_was_down = False

    def _enqueue(self, actor: str, queue: str, args: list[Any], options: dict[str, Any]) -> None:
        if queue not in self.broker.get_declared_queues():
            self.broker.declare_queue(queue)
        message = dramatiq.Message(queue_name=queue, actor_name=actor, args=tuple(args), kwargs={}, options=options)
        self.broker.enqueue(message)

    def request_sweep(self) -> bool:
        """Ask for this period's sweep; of every process asking, one writes the period's row (its period is its
        key), and that one enqueues the sweep itself. Returns whether this call did.

        One statement on a connection of its own, committed alone: a session's BEGIN and COMMIT were two more round
        trips. The row is written already sent, only to keep the period's other askers from writing it: a claim
        round to find it and an UPDATE to mark it sent were two more statements every period, for a message that
        needs no outbox. A sweep the broker refuses (or that this process dies before enqueueing) is not sent
        later: the next period's, a few seconds on, does the same work, and the stale sweeps of an outage, sent
        when the broker came back, only repeated one another."""
        assert self.sweep_every_seconds is not None
        message = steps.sweep(int(time.time() // self.sweep_every_seconds))
        row = message_values(message) | UNSENT | {"sent_at": utcnow()}
        with autocommit(self.engine).connect() as connection:
            written = connection.execute(_request_insert(connection.dialect.name), row).first()
        if written is None:  # another process asked first: it sends the sweep
            return False
        went, error = self._enqueue_in_order(
            [Handed(written.id, message.actor, message.queue, row["args"], row["options"])]
        )
        self._note_broker(error, 1 - went, went > 0)
        return went > 0

    def forget_sent(
        self, older_than_seconds: float = KEEP_SENT_SECONDS, *, every_seconds: float = FORGET_EVERY_SECONDS
    ) -> int:
        """Delete the once-only messages sent more than ``older_than_seconds`` ago (the others went when sent);
        nothing when this process did so less than ``every_seconds`` ago. Returns how many it deleted."""
        now = time.monotonic()
        if self._forgot_at is not None and now - self._forgot_at < every_seconds:
            return 0
        self._forgot_at = now
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        # One statement committed alone, as a round's: a session's BEGIN and COMMIT were two more round trips.
        with autocommit(self.engine).connect() as connection:
            result = connection.execute(_FORGET_SENT_BEFORE, {"cutoff": cutoff})
        return int(result.rowcount or 0)

    # -- running in the background ------------------------------------------------------------------

    def start(self) -> None:
        """Send in a thread of its own: at once after a commit that wrote messages, else every poll period.

        Each part of a process that needs the relay (the API, the embedded worker) starts it and stops it; the
        thread runs while any of them still needs it."""
        with self._users_lock:
            self._users += 1
            if self._thread is not None:
                return
            self._stop.clear()
            self._stop_listening = on_commit(self._want_round)
            # Only on PostgreSQL: a handed message is deleted by id, and SQLite gives a new row the id of a
            # deleted last one (the claim rounds guard against that with their claim's time).
            if self.engine.dialect.name == "postgresql":
                self._stop_receiving = receive_handoffs(self.engine, self._receive)
            self._thread = threading.Thread(target=self._run, name="sentinel-outbox-relay", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._users_lock:
            self._users = max(0, self._users - 1)
            if self._users or self._thread is None:
                return
            thread, self._thread = self._thread, None
            if self._stop_listening is not None:
                self._stop_listening()
            if self._stop_receiving is not None:
                self._stop_receiving()
                self._stop_receiving = None
            self._stop.set()
            self._wake.set()
        thread.join(timeout)

    def _run(self) -> None:
        next_sweep = 0.0
        # A claim round (the poll) is due every poll period, and after a commit that wrote messages it was not
        # handed; messages handed over are sent without one, so a busy API's relay runs one DELETE per few requests.
        next_round = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            handed_due = self._handed_due()
            if handed_due is not None and handed_due <= time.monotonic():
                self._step(self.send_handed)
                handed_due = None
            if self.sweep_every_seconds is not None and time.monotonic() >= next_sweep:
                self._step(self.request_sweep)
                next_sweep = time.monotonic() + self.sweep_every_seconds
            if self._round_wanted.is_set() or time.monotonic() >= next_round:
                self._round_wanted.clear()
                next_round = time.monotonic() + self.poll_seconds
                self._step(self._drain)
            wake_at = next_round if handed_due is None else min(next_round, handed_due)
            self._wake.wait(max(0.0, wake_at - time.monotonic()))
        # Handed over just before the stop: sent now rather than after their claim runs out.
        self._step(self.send_handed)

    def _drain(self) -> None:
        while self.send_pending() == BATCH and not self._stop.is_set():
            pass

    @staticmethod
    def _step(step: Callable[[], object]) -> None:
        try:
            step()
        except OperationalError as exc:
            logger.warning("outbox relay: database unreachable (%s); trying again", type(exc.orig).__name__)
        except Exception:
            logger.exception("outbox relay round failed; trying again")
