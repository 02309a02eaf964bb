"""Writing messages into the outbox inside the caller's transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session

from sentinel.db import insert_unless_present
from sentinel.models import OutboxMessage, utcnow
from sentinel.telemetry.logging import request_id

#: Key in ``Session.info`` marking a transaction that wrote outbox messages.
_WROTE = "sentinel.outbox.wrote"
#: Key in ``Session.info`` listing the messages a transaction wrote claimed for this process's relay (see handed).
_HANDED = "sentinel.outbox.handed"
#: How long a message written for this process's own relay is held for it: another relay sends it only after
#: this, should this process die between the commit and the send (a window of milliseconds).
HANDOFF_CLAIM_SECONDS = 10.0


@dataclass(frozen=True)
class Message:
    """One step to run: an actor by name, its queue, its arguments (ids, never objects)."""

    actor: str
    queue: str
    args: tuple[Any, ...]
    options: dict[str, Any] = field(default_factory=dict)
    #: Set when the step writing it may run twice (a redelivered message): the second write adds nothing.
    dedupe_key: str | None = None


_INSERT = OutboxMessage.__table__.insert()  # type: ignore[attr-defined]
#: The columns a new message's row starts with beyond its content (an ORM object got them from the model).
UNSENT = {"sent_at": None, "claimed_until": None, "send_failures": 0}


def write(session: Session, *messages: Message) -> None:
    """Add ``messages`` to the outbox in ``session``'s transaction: they exist exactly when the change does."""
    for message in messages:
        values = message_values(message)
        if message.dedupe_key is None:
            # Core, not an ORM object: the unit of work cost more CPU than the INSERT (pending objects are flushed
            # first, so the order of the transaction's writes is kept).
            session.execute(_INSERT, values | UNSENT)
        else:
            insert_unless_present(session, OutboxMessage, values, ["dedupe_key"])
    if messages:
        mark_written(session)


def message_values(message: Message) -> dict[str, Any]:
    """The outbox row of a message, as :func:`write` inserts it, the columns of an unsent one aside (``UNSENT``)."""
    options = dict(message.options)
    rid = request_id.get()
    if rid and "request_id" not in options:
        # The relay sends from its own thread: the request id that caused the message travels with it.
        options["request_id"] = rid
    return {
        "actor": message.actor,
        "queue": message.queue,
        "args": list(message.args),
        "options": options,
        "dedupe_key": message.dedupe_key,
        "created_at": utcnow(),
    }


def mark_written(session: Session) -> None:
    """Note that ``session``'s transaction wrote outbox messages (by :func:`write`, or by a statement of the
    caller's own built on :func:`message_values`): the relay is woken when it commits."""
    session.info[_WROTE] = True


@dataclass(frozen=True)
class Handed:
    """A committed message handed to this process's relay to send, by id, without claiming it first."""

    id: int
    actor: str
    queue: str
    args: list[Any]
    options: dict[str, Any]


_wake_lock = threading.Lock()
_wake_relays: list[Callable[[], None]] = []
#: The relays that take hand-offs, by the engine whose commits they take them from: a process may hold several
#: deployments' engines (tests, in-process tools), and a message must go to a relay of its own database and broker
#: (another's would enqueue it on the wrong broker and delete a row of that id in the wrong database).
_receivers: dict[Engine, list[Callable[[list[Handed]], None]]] = {}


def handoff_claim(engine: Engine) -> datetime | None:
    """The ``claimed_until`` of a message written now through ``engine`` for this process's relay of that engine to
    send once it is committed (no other relay takes it before then): its claim, an UPDATE per round, is written
    with the row. None when no relay of this process receives that engine's messages: the message is written
    unclaimed, as usual."""
    with _wake_lock:
        receiving = bool(_receivers.get(engine))
    return utcnow() + timedelta(seconds=HANDOFF_CLAIM_SECONDS) if receiving else None


def hand_off(session: Session, message: Handed) -> None:
    """Give ``message`` (written in ``session``'s transaction with :func:`handoff_claim`) to this process's relay
    when the transaction commits."""
    session.info.setdefault(_HANDED, []).append(message)


def receive_handoffs(engine: Engine, receive: Callable[[list[Handed]], None]) -> Callable[[], None]:
    """Call ``receive`` with the messages handed off by each commit through ``engine`` in this process (one receiver
    gets each); returns a function that stops it."""
    with _wake_lock:
        _receivers.setdefault(engine, []).append(receive)

    def stop() -> None:
        with _wake_lock:
            taking = _receivers.get(engine, [])
            if receive in taking:
                taking.remove(receive)
            if not taking:
                _receivers.pop(engine, None)

    return stop


def on_commit(wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake`` after every commit in this process that wrote outbox messages (the relay sends them at once
    instead of at its next poll); returns a function that stops it."""
    with _wake_lock:
        _wake_relays.append(wake)

    def stop() -> None:
        with _wake_lock:
            if wake in _wake_relays:
                _wake_relays.remove(wake)

    return stop


def wake_relays() -> None:
    """Wake this process's relays: a statement committed alone (no session to mark) wrote outbox messages."""
    with _wake_lock:
        wakers = list(_wake_relays)
    for wake in wakers:
        wake()


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    handed = session.info.pop(_HANDED, None)
    if handed:
        with _wake_lock:
            taking = _receivers.get(session.get_bind())  # type: ignore[arg-type]
            receive = taking[0] if taking else None
        # No receiver any more (its relay stopped meanwhile): the messages wait out their claim, then any relay's
        # poll sends them.
        if receive is not None:
            receive(handed)
    if session.info.pop(_WROTE, False):
        wake_relays()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_WROTE, None)
    session.info.pop(_HANDED, None)
