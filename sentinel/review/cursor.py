"""Paging ``GET /v1/review`` by cursor: the contract of :mod:`sentinel.db.keyset` (``cursor`` in, ``next_cursor``
out, opaque, bound to the list and its filters, anything else a 400 naming ``cursor``), in the queue's own order.

The queue is oldest first by when an item joined it (its verdict's time, :func:`~sentinel.review.items.
waiting_since`), then by id, so an item that turns amber while a reviewer pages joins the end, where the walk still
reaches it, and an item decided meanwhile leaves without shifting the others: a page starts strictly after the last
item the previous one showed, where an offset would skip or repeat items. (keyset's lists are newest first by
creation; this one runs the other way on another time, so it keeps its own position and check, in keyset's shape.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, tuple_
from sqlmodel import col

from sentinel.db.keyset import CURSOR_FIELD, MAX_CURSOR_CHARS, MAX_ID_CHARS
from sentinel.errors import InvalidInput
from sentinel.models import Evaluation, as_utc
from sentinel.review.filters import QueueFilter
from sentinel.review.items import waiting_since

#: What a review cursor says it pages (a cursor of another list is refused saying so).
KIND = "review"


def _digest(filters: QueueFilter) -> str:
    given = {name: value for name, value in asdict(filters).items() if value is not None}
    text = orjson.dumps(given, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(text, digest_size=6, person=b"sentinel-filter").hexdigest()


def _check(stamp: str, row_id: str, kind: str, filters: str) -> str:
    text = orjson.dumps([stamp, row_id, kind, filters])
    return hashlib.blake2b(text, digest_size=6, person=b"sentinel-review").hexdigest()


def encode(since: datetime, evaluation_id: str, filters: QueueFilter) -> str:
    """The cursor pointing just past the item that joined the queue at ``since`` with ``evaluation_id``."""
    stamp = as_utc(since).isoformat()
    digest = _digest(filters)
    raw = orjson.dumps([stamp, evaluation_id, KIND, digest, _check(stamp, evaluation_id, KIND, digest)])
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _refuse(message: str | None = None) -> InvalidInput:
    return InvalidInput(
        message
        or "'cursor' is not a cursor this API gave out: pass the previous page's next_cursor unchanged, or leave it "
        "out for the first page",
        field=CURSOR_FIELD,
    )


def decode(token: str, filters: QueueFilter) -> tuple[datetime, str]:
    """The (joined the queue at, id) a cursor of the queue with ``filters`` points past; InvalidInput naming
    ``cursor`` for anything else."""
    if not token or len(token) > MAX_CURSOR_CHARS:
        raise _refuse()
    try:
        value: Any = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise _refuse() from None
    if not isinstance(value, list) or len(value) != 5 or not all(isinstance(part, str) for part in value):
        raise _refuse()
    stamp, evaluation_id, kind, digest, check = value
    if kind != KIND:
        # Another list's cursor (keyset's check differs from this one's: it is told apart by what it says it is).
        raise _refuse(
            "'cursor' is a next_cursor of another list, not of GET /v1/review: a cursor pages only the list that "
            "gave it out; leave it out for the queue's first page"
        )
    if check != _check(stamp, evaluation_id, kind, digest):
        raise _refuse()
    if digest != _digest(filters):
        raise _refuse(
            "'cursor' was given out for GET /v1/review with other filters than this request's: a cursor marks a "
            "place in one filtered queue, so pass the same filters as the page that gave it out, or leave cursor "
            "out to start again with these filters"
        )
    try:
        since = datetime.fromisoformat(stamp)
    except ValueError:
        raise _refuse() from None
    if since.tzinfo is None or not 0 < len(evaluation_id) <= MAX_ID_CHARS or "\x00" in evaluation_id:
        raise _refuse()
    return since.astimezone(UTC), evaluation_id


def after(position: tuple[datetime, str]) -> ColumnElement[bool]:
    """Items after ``position`` in queue order: joined later, or at the same moment with a larger id."""
    return tuple_(waiting_since(), col(Evaluation.id)) > tuple_(*position)  # type: ignore[no-any-return]


def position_of(evaluation: Evaluation) -> tuple[datetime, str]:
    """Where an item stands in queue order."""
    return as_utc(evaluation.finished_at or evaluation.created_at), evaluation.id
