"""Bulk decisions: one decision and note for many selected items, each item in its own transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentinel.errors import InvalidInput, NotFound, SentinelError
from sentinel.keys.caller import Caller
from sentinel.review.errors import AlreadyDecided, ClaimedByOther, NotAwaitingReview

if TYPE_CHECKING:
    from sentinel.review.service import ReviewService

#: One bulk request decides at most this many items.
MAX_BULK = 200

#: What each refusal is reported as; any other refusal (a bad decision) stops the whole request before any item.
STATUSES: tuple[tuple[type[SentinelError], str], ...] = (
    (AlreadyDecided, "already_decided"),
    (ClaimedByOther, "claimed_by_other"),
    (NotAwaitingReview, "not_awaiting_review"),
    (NotFound, "not_found"),
)


def decide_many(
    service: ReviewService,
    evaluation_ids: list[str],
    decision: str,
    reviewer: str,
    note: str | None,
    caller: Caller | None = None,
) -> list[dict[str, Any]]:
    """Decide each item in turn: an item someone else decided meanwhile is reported (with who and when), not a
    reason to drop the rest. Each id is decided once, in the order given."""
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be 'approve' or 'reject'", field="decision")
    if not evaluation_ids:
        raise InvalidInput("evaluation_ids is empty: select at least one item", field="evaluation_ids")
    if len(evaluation_ids) > MAX_BULK:
        raise InvalidInput(f"at most {MAX_BULK} items per request, not {len(evaluation_ids)}", field="evaluation_ids")
    verb = "approved" if decision == "approve" else "rejected"
    results = []
    for evaluation_id in dict.fromkeys(evaluation_ids):
        try:
            service.decide(evaluation_id, decision, reviewer, note, caller=caller)
        except (AlreadyDecided, ClaimedByOther, NotAwaitingReview, NotFound) as exc:
            status = next(name for kind, name in STATUSES if isinstance(exc, kind))
            results.append({"evaluation_id": evaluation_id, "status": status, "message": exc.message})
        else:
            results.append({"evaluation_id": evaluation_id, "status": "decided", "message": f"{verb} by {reviewer}"})
    return results
