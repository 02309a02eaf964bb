"""Writing messages into the outbox inside the caller's transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from sentinel.db import insert_unless_present
from sentinel.models import OutboxMessage, utcnow
from sentinel.telemetry.logging import request_id

#: Key in ``Session.info`` marking a transaction that wrote outbox messages.
_WROTE = "sentinel.outbox.wrote"


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


_wake_lock = threading.Lock()
_wake_relays: list[Callable[[], None]] = []


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


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(_WROTE, False):
        with _wake_lock:
            wakers = list(_wake_relays)
        for wake in wakers:
            wake()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_WROTE, None)
