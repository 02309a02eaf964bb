"""Claims: an item a reviewer opened is theirs for a few minutes, so the others are shown another one.

One row per evaluation. Taking a claim is a single conditional statement (an INSERT … ON CONFLICT DO NOTHING,
else an UPDATE whose WHERE says "expired, or already mine"), so of two reviewers racing for an item the database
picks exactly one, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, or_, update
from sqlmodel import Session, col, select

from sentinel.db import insert_unless_present
from sentinel.models import ReviewClaim, ReviewDecision, as_utc


def claim_view(claim: ReviewClaim, reviewer: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "evaluation_id": claim.evaluation_id,
        "reviewer": claim.reviewer,
        "claimed_at": as_utc(claim.claimed_at).isoformat(),
        "expires_at": as_utc(claim.expires_at).isoformat(),
    }
    if reviewer is not None:
        body["mine"] = claim.reviewer == reviewer
    return body


def take(session: Session, evaluation_id: str, reviewer: str, now: datetime, seconds: int) -> bool:
    """Claim ``evaluation_id`` for ``reviewer`` if nobody holds it, the claim ran out, or it is theirs already
    (then it is extended, keeping when it began). True when the reviewer holds it afterwards. The caller commits."""
    expires = now + timedelta(seconds=seconds)
    values = {"evaluation_id": evaluation_id, "reviewer": reviewer, "claimed_at": now, "expires_at": expires}
    if insert_unless_present(session, ReviewClaim, values, ["evaluation_id"]):
        return True
    reviewer_column, expires_column = col(ReviewClaim.reviewer), col(ReviewClaim.expires_at)
    still_mine = and_(reviewer_column == reviewer, expires_column > now)
    # PostgreSQL re-checks this WHERE on the row it waited for: of two racing updates, the second finds the claim
    # live and someone else's, and changes nothing.
    won = session.execute(
        update(ReviewClaim)
        .where(col(ReviewClaim.evaluation_id) == evaluation_id, or_(reviewer_column == reviewer, expires_column <= now))
        .values(
            reviewer=reviewer,
            expires_at=expires,
            # Time on an item counts from when this reviewer started holding it, not from the last extension.
            claimed_at=case((still_mine, col(ReviewClaim.claimed_at)), else_=now),
        )
    ).rowcount  # type: ignore[attr-defined]
    return bool(won == 1)


def take_undecided(session: Session, evaluation_id: str, reviewer: str, now: datetime, seconds: int) -> bool:
    """:func:`take`, unless the item was decided meanwhile: a decision drops the item's claim, so a reviewer
    whose list was read a moment before could otherwise claim an item that no longer waits. Checked after the
    claim is written, so a decision committed before it is seen (and one committed after it finds the claim)."""
    if not take(session, evaluation_id, reviewer, now, seconds):
        return False
    decided = session.exec(select(ReviewDecision.id).where(ReviewDecision.evaluation_id == evaluation_id)).first()
    return decided is None


def release_others(session: Session, reviewer: str, keep: str | None) -> None:
    """A reviewer works on one item at a time: opening another frees the ones they held for the team."""
    statement = delete(ReviewClaim).where(col(ReviewClaim.reviewer) == reviewer)
    if keep is not None:
        statement = statement.where(col(ReviewClaim.evaluation_id) != keep)
    session.execute(statement)


def release(session: Session, evaluation_id: str, reviewer: str) -> None:
    """Drop the reviewer's own claim on the item (someone else's is left alone)."""
    session.execute(
        delete(ReviewClaim).where(
            col(ReviewClaim.evaluation_id) == evaluation_id, col(ReviewClaim.reviewer) == reviewer
        )
    )


def current(session: Session, evaluation_id: str) -> ReviewClaim | None:
    return session.exec(select(ReviewClaim).where(ReviewClaim.evaluation_id == evaluation_id)).first()


def live_claims(session: Session, evaluation_ids: list[str], now: datetime) -> dict[str, ReviewClaim]:
    """The unexpired claims on these items, by evaluation id."""
    if not evaluation_ids:
        return {}
    rows = session.exec(
        select(ReviewClaim).where(col(ReviewClaim.evaluation_id).in_(evaluation_ids), col(ReviewClaim.expires_at) > now)
    )
    return {claim.evaluation_id: claim for claim in rows}
