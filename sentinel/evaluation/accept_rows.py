"""Writing a new evaluation's rows: its images', their owners', its own and its outbox messages'.

On PostgreSQL an evaluation of one image (any task but an edit) goes in one statement (the image's upsert, its owner
and the message as data-modifying CTEs of the evaluation's INSERT): one round trip and one statement for the server
to parse, where each table took its own. Otherwise (SQLite has no INSERT in a WITH; an edit's images are upserted in
one order) each table takes its own statement, as :meth:`ImageService.store_many` and
:func:`sentinel.outbox.store.write` write them.

Evaluations that arrive together (a burst of uploads) are written together, by :func:`insert_evaluations`: one
statement per table for all of them, in one transaction (see :mod:`sentinel.evaluation.intake`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Table, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from sentinel.models import Evaluation, ImageOwner, OutboxMessage, StoredImage
from sentinel.outbox.store import UNSENT, Handed, Message, hand_off, handoff_claim, mark_written, message_values, write
from sentinel.store.images import ImageInfo
from sentinel.store.service import ImageService, image_rows


@dataclass(frozen=True)
class NewEvaluation:
    """A validated evaluation ready to be written: its object (for the answer), its row (every column by name), its
    images (info, bytes, the key that sent them) and its judges' messages."""

    evaluation: Evaluation
    row: dict[str, Any]
    inputs: list[tuple[ImageInfo, bytes, str | None]]
    messages: list[Message]


_EVALUATIONS: Table = Evaluation.__table__  # type: ignore[attr-defined]
_IMAGES: Table = StoredImage.__table__  # type: ignore[attr-defined]
_OWNERS: Table = ImageOwner.__table__  # type: ignore[attr-defined]
_OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]

#: The columns each kind of row is written with (the keys of image_rows' and message_values' dicts).
_IMAGE_COLUMNS = ("id", "mime", "width", "height", "size_bytes", "created_at", "stored_at")
_OWNER_COLUMNS = ("image_id", "key_id", "created_at")
_MESSAGE_COLUMNS = ("actor", "queue", "args", "options", "dedupe_key", "created_at", *UNSENT)


def _row(prefix: str, columns: Sequence[str]) -> dict[str, Any]:
    """A row of parameters named ``{prefix}_{column}``."""
    return {column: bindparam(f"{prefix}_{column}") for column in columns}


@lru_cache
def _insert_all(owner: bool, message: bool, handed: bool = False) -> Insert:
    """The evaluation's INSERT with its image upserted, its ``owner`` added unless present and its ``message``
    inserted, each a CTE of the one statement (PostgreSQL runs every data-modifying CTE, and checks the evaluation's
    foreign key to the image after all of them). Built once per shape, so SQLAlchemy finds it compiled (one row of
    VALUES each: a multi-row VALUES of parameters has no cache key, and was compiled afresh at every call).
    ``handed``: it returns the message's id, for this process's relay to send it by id (see
    :func:`sentinel.outbox.store.handoff_claim`)."""
    upsert = postgresql.insert(_IMAGES).values(_row("image", _IMAGE_COLUMNS))
    # As ImageService.store: a second store of an image touches its row (and locks it until the commit).
    upsert = upsert.on_conflict_do_update(
        index_elements=["id"], set_={"stored_at": upsert.excluded.stored_at, "purged_at": None}
    )
    ctes = [upsert.returning(_IMAGES.c.id).cte("stored_image")]
    if owner:
        own = postgresql.insert(_OWNERS).values(_row("owner", _OWNER_COLUMNS))
        own = own.on_conflict_do_nothing(index_elements=["image_id", "key_id"])
        ctes.append(own.returning(_OWNERS.c.id).cte("image_owner_added"))
    added = None
    if message:
        sent = _OUTBOX.insert().values(_row("message", _MESSAGE_COLUMNS))
        added = sent.returning(_OUTBOX.c.id).cte("outbox_added")
        ctes.append(added)
    evaluation = _EVALUATIONS.insert().values(_row("evaluation", [column.name for column in _EVALUATIONS.columns]))
    if handed and added is not None:
        evaluation = evaluation.returning(select(added.c.id).scalar_subquery().label("message_id"))
    return evaluation.add_cte(*ctes)


def insert_evaluation(
    session: Session,
    images: ImageService,
    evaluation: dict[str, Any],
    inputs: Sequence[tuple[ImageInfo, bytes, str | None]],
    messages: Sequence[Message],
) -> None:
    """Write an evaluation's row (``evaluation``: every column by name) with its images' rows and blobs (``inputs``:
    info, bytes, the key that sent them) and its ``messages``, in ``session``'s transaction. The images' rows are
    written, and locked, before their blobs, as :meth:`ImageService.store` does."""
    one_statement = (
        session.get_bind().dialect.name == "postgresql"
        and len(inputs) == 1
        and len(messages) <= 1
        and all(message.dedupe_key is None for message in messages)
    )
    if not one_statement:
        # Several images are upserted in one order (sorted by hash) so that two writers never deadlock, which one
        # CTE per image would not promise.
        images.store_many(session.connection(), inputs)
        session.execute(_EVALUATIONS.insert(), evaluation)
        write(session, *messages)
        return
    stored = image_rows(inputs)
    # The message claimed for this process's relay, when it has one: it sends the message by id once committed,
    # instead of claiming it in a statement of its own first (one UPDATE per evaluation).
    claim = handoff_claim(session.get_bind()) if messages else None  # type: ignore[arg-type]
    sent = [message_values(message) | UNSENT | {"claimed_until": claim} for message in messages]
    rows = [("evaluation", evaluation), ("image", stored.images[0])]
    rows += [("owner", owner) for owner in stored.owners]
    rows += [("message", message) for message in sent]
    params = {f"{prefix}_{column}": value for prefix, row in rows for column, value in row.items()}
    result = session.execute(_insert_all(bool(stored.owners), bool(messages), claim is not None), params)
    images.put_blobs(stored)
    if claim is not None:
        (message,) = sent
        handed = Handed(result.scalar_one(), message["actor"], message["queue"], message["args"], message["options"])
        hand_off(session, handed)
    elif messages:
        mark_written(session)


@lru_cache
def _group_statements() -> tuple[Insert, Insert, Insert]:
    """PostgreSQL's statements for a group of evaluations (each run once for all their rows): the images' upsert (as
    ImageService.store's, which touches a stored image's row and locks it), their owners unless present, and the
    outbox messages returning their ids in the order given."""
    upsert = postgresql.insert(_IMAGES)
    upsert = upsert.on_conflict_do_update(
        index_elements=["id"], set_={"stored_at": upsert.excluded.stored_at, "purged_at": None}
    )
    own = postgresql.insert(_OWNERS).on_conflict_do_nothing(index_elements=["image_id", "key_id"])
    messages = _OUTBOX.insert().returning(_OUTBOX.c.id, sort_by_parameter_order=True)
    return upsert, own, messages


def insert_evaluations(session: Session, images: ImageService, group: Sequence[NewEvaluation]) -> None:
    """Write the rows of several evaluations in ``session``'s transaction: on PostgreSQL one statement per table
    for all of them, the images' rows written (and locked) first, as :meth:`ImageService.store` orders them, and
    their blobs put all at once after every statement; the messages are claimed for this process's relay, which
    sends them once committed (as :func:`insert_evaluation`)."""
    if session.get_bind().dialect.name != "postgresql" or len(group) == 1:
        for new in group:
            insert_evaluation(session, images, new.row, new.inputs, new.messages)
        return
    connection = session.connection()
    stored = image_rows(input for new in group for input in new.inputs)
    upsert, own, add_messages = _group_statements()
    # The images' rows first, sorted by hash (image_rows): two writers lock them in one order and never deadlock.
    connection.execute(upsert, stored.images)
    if stored.owners:
        connection.execute(own, stored.owners)
    connection.execute(_EVALUATIONS.insert(), [new.row for new in group])
    messages = [message for new in group for message in new.messages]
    plain = [message for message in messages if message.dedupe_key is None]
    claim = handoff_claim(session.get_bind()) if plain else None  # type: ignore[arg-type]
    if claim is None:
        write(session, *messages)
    else:
        sent = [message_values(message) | UNSENT | {"claimed_until": claim} for message in plain]
        ids = connection.execute(add_messages, sent).scalars().all()
        for message_id, message in zip(ids, sent, strict=True):
            hand_off(
                session, Handed(message_id, message["actor"], message["queue"], message["args"], message["options"])
            )
        write(session, *(message for message in messages if message.dedupe_key is not None))
    images.put_blobs(stored)
