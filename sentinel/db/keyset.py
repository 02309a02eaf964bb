"""Keyset pagination, newest first: a page ends at the last row it showed and the next one starts strictly after
that row's (created_at, id), so rows that arrive meanwhile (newer, above the first page) neither repeat rows nor
push older ones out of sight, as an OFFSET would. Each page is one indexed range scan, however deep it is.

The cursor a caller holds is opaque: base64url of a small JSON array, the position, what it pages (which list, and
a digest of the filters that narrowed it) and a check of all that. A position only means something in the list it
came from: an evaluation's place among jobs, or a place in the red evaluations applied to the green ones, pages
wrongly without any error. So a cursor given to another list, or with other filters, is refused with a 400 naming
``cursor`` that says which; one that does not decode to exactly what this module wrote (an altered character, a
hand-made position) is refused the same way, never a 500 and never a silently wrong page. The check is not a
secret: a forged cursor could only point elsewhere in the caller's own list, which every query keeps to the
caller's tenant anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, tuple_
from sqlmodel import Session

from sentinel.errors import InvalidInput
from sentinel.models import as_utc

#: The query parameter a cursor comes in, named by its errors.
CURSOR_FIELD = "cursor"
#: Longer than any cursor this module writes (a timestamp, an id of at most 40 characters, a list's name and two
#: 12-character digests: at most 170).
MAX_CURSOR_CHARS = 200
#: Ids are at most this long (see the tables in :mod:`sentinel.models`).
MAX_ID_CHARS = 40

#: The lists that page by cursor, as a cursor names them (kept short: the name travels in every cursor) and as an
#: error names them to a person.
KINDS: dict[str, str] = {
    "evaluations": "GET /v1/evaluations",
    "jobs": "GET /v1/jobs",
    "deliveries": "GET /v1/webhooks/deliveries",
}


@dataclass(frozen=True)
class Listing:
    """What a cursor pages: one of :data:`KINDS`, narrowed by ``filters`` (name → value as parsed, so two spellings
    of one filter, ``2026-12-05`` and ``2026-12-05T00:00:00Z``, are the same list; None: not narrowed by it)."""

    kind: str
    filters: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown list kind {self.kind!r}; add it to KINDS")

    def digest(self) -> str:
        """The filters in 12 characters: equal for equal filters, whatever order they were given in."""
        given = {name: value for name, value in self.filters.items() if value is not None}
        text = orjson.dumps(given, option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(text, digest_size=6, person=b"sentinel-filter").hexdigest()

    def filter_names(self) -> str:
        """``task, verdict and key``: the filters a caller must repeat with every page."""
        names = list(self.filters)
        return " and ".join(filter(None, [", ".join(names[:-1]), *names[-1:]]))


def _check(stamp: str, row_id: str | int, kind: str, filters: str) -> str:
    text = orjson.dumps([stamp, row_id, kind, filters])
    return hashlib.blake2b(text, digest_size=6, person=b"sentinel-cursor").hexdigest()


def encode(created_at: datetime, row_id: str | int, listing: Listing) -> str:
    """The cursor pointing just past a row of ``listing``: base64url without padding (safe in a query string as it
    is)."""
    stamp = as_utc(created_at).isoformat()
    filters = listing.digest()
    raw = orjson.dumps([stamp, row_id, listing.kind, filters, _check(stamp, row_id, listing.kind, filters)])
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _refuse() -> InvalidInput:
    return InvalidInput(
        "'cursor' is not a cursor this API gave out: pass the previous page's next_cursor unchanged, or leave it "
        "out for the first page",
        field=CURSOR_FIELD,
    )


def _another_list(kind: str, listing: Listing) -> InvalidInput:
    return InvalidInput(
        f"'cursor' is a next_cursor of {KINDS[kind]}, not of {KINDS[listing.kind]}: a cursor pages only the list "
        "that gave it out; leave it out for this list's first page",
        field=CURSOR_FIELD,
    )


def _other_filters(listing: Listing) -> InvalidInput:
    filters = f"the same {listing.filter_names()} as" if listing.filters else "the filters of"
    return InvalidInput(
        f"'cursor' was given out for {KINDS[listing.kind]} with other filters than this request's: a cursor marks a "
        f"place in one filtered list, so pass {filters} the page that gave it out, or leave cursor out to start "
        "again with these filters",
        field=CURSOR_FIELD,
    )


def decode(token: str, id_type: type[str] | type[int], listing: Listing) -> tuple[datetime, str | int]:
    """The (created_at, id) a cursor of ``listing`` points past; :class:`InvalidInput` naming ``cursor`` for
    anything else (a cursor of another list, or of this list with other filters, says so)."""
    if not token or len(token) > MAX_CURSOR_CHARS:
        raise _refuse()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value: Any = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise _refuse() from None
    if not isinstance(value, list) or len(value) != 5 or not all(isinstance(part, str) for part in value[::2]):
        raise _refuse()
    stamp, row_id, kind, filters, check = value
    if not isinstance(row_id, str | int) or not isinstance(filters, str):
        raise _refuse()
    if check != _check(stamp, row_id, kind, filters) or kind not in KINDS:
        raise _refuse()
    # What it pages is checked before what it points at: that is the mistake a caller can correct.
    if kind != listing.kind:
        raise _another_list(kind, listing)
    if filters != listing.digest():
        raise _other_filters(listing)
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
    listing: Listing,
    cursor: str | None,
    id_type: type[str] | type[int],
    limit: int,
    position: Callable[[Any], Any] = lambda row: row,
) -> tuple[list[Any], str | None]:
    """Up to ``limit`` rows of ``query`` (``listing``'s rows, ordered newest first by ``columns``, its created_at and
    id) after ``cursor``, and the cursor of the page after them: None on the last page. ``position`` picks, from a
    row, the object whose ``created_at`` and ``id`` the cursor holds (a row of several entities names its first)."""
    if cursor:
        query = query.where(older_than(*columns, decode(cursor, id_type, listing)))
    # One row more than asked tells whether another page follows, without a count.
    rows = list(session.exec(query.limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    last = position(rows[limit - 1])
    return rows[:limit], encode(last.created_at, last.id, listing)
