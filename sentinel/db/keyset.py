"""Keyset pagination, newest first: a page ends at the last row it showed and the next one starts strictly after
that row's (created_at, id), so rows that arrive meanwhile (newer, above the first page) neither repeat rows nor
push older ones out of sight, as an OFFSET would. Each page is one indexed range scan, however deep it is.

The cursor a caller holds is opaque: base64url of a small JSON array, the position and a check of it. One that does
not decode to exactly what this module wrote (an altered character, a hand-made position) is refused with a 400
naming ``cursor``, never a 500 and never a silently wrong page. The check is not a secret: a forged cursor could
only point elsewhere in the caller's own list, which every query keeps to the caller's tenant anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, tuple_
from sqlmodel import Session

from sentinel.errors import InvalidInput
from sentinel.models import as_utc

#: The query parameter a cursor comes in, named by its errors.
CURSOR_FIELD = "cursor"
#: Longer than any cursor this module writes (a timestamp and an id of at most 40 characters).
MAX_CURSOR_CHARS = 200
#: Ids are at most this long (see the tables in :mod:`sentinel.models`).
MAX_ID_CHARS = 40


def _check(stamp: str, row_id: str | int) -> str:
    return hashlib.blake2b(orjson.dumps([stamp, row_id]), digest_size=6, person=b"sentinel-cursor").hexdigest()


def encode(created_at: datetime, row_id: str | int) -> str:
    """The cursor pointing just past a row: base64url without padding (safe in a query string as it is)."""
    stamp = as_utc(created_at).isoformat()
    raw = orjson.dumps([stamp, row_id, _check(stamp, row_id)])
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _refuse() -> InvalidInput:
    return InvalidInput(
        "'cursor' is not a cursor this API gave out: pass the previous page's next_cursor unchanged, or leave it "
        "out for the first page",
        field=CURSOR_FIELD,
    )


def decode(token: str, id_type: type[str] | type[int]) -> tuple[datetime, str | int]:
    """The (created_at, id) a cursor points past; :class:`InvalidInput` naming ``cursor`` for anything else."""
    if not token or len(token) > MAX_CURSOR_CHARS:
        raise _refuse()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value: Any = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise _refuse() from None
    if not isinstance(value, list) or len(value) != 3 or not isinstance(value[0], str):
        raise _refuse()
    stamp, row_id, check = value
    if not isinstance(row_id, str | int) or check != _check(stamp, row_id):
        raise _refuse()
    try:
        created_at = datetime.fromisoformat(stamp)
    except ValueError:
        raise _refuse() from None
    if created_at.tzinfo is None:
        raise _refuse()
    if id_type is int:
        # bool is an int to Python, never an id.
        if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id < 2**63:
            raise _refuse()
    elif not isinstance(row_id, str) or not 0 < len(row_id) <= MAX_ID_CHARS or "\x00" in row_id:
        raise _refuse()
    return created_at.astimezone(UTC), row_id


def older_than(created_column: Any, id_column: Any, position: tuple[datetime, str | int]) -> ColumnElement[bool]:
    """Rows after ``position`` in newest-first order: older, or as old with a smaller id (ties are common: many
    rows are written in one millisecond). A row-value comparison, which the (created_at, id) index serves."""
    return tuple_(created_column, id_column) < tuple_(*position)  # type: ignore[no-any-return]


def read_page(
    session: Session,
    query: Any,
    columns: tuple[Any, Any],
    cursor: str | None,
    id_type: type[str] | type[int],
    limit: int,
    position: Callable[[Any], Any] = lambda row: row,
) -> tuple[list[Any], str | None]:
    """Up to ``limit`` rows of ``query`` (ordered newest first by ``columns``, its created_at and id) after
    ``cursor``, and the cursor of the page after them: None on the last page. ``position`` picks, from a row, the
    object whose ``created_at`` and ``id`` the cursor holds (a row of several entities names its first)."""
    if cursor:
        query = query.where(older_than(*columns, decode(cursor, id_type)))
    # One row more than asked tells whether another page follows, without a count.
    rows = list(session.exec(query.limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    last = position(rows[limit - 1])
    return rows[:limit], encode(last.created_at, last.id)
