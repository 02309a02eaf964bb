"""What the review queue refuses, with what a reviewer needs to know to carry on (who decided, and when)."""

from __future__ import annotations

from sentinel.errors import InvalidInput, SentinelError


class AlreadyDecided(SentinelError):
    """Someone decided the item first: the answer names them, when, and what they decided."""

    status_code = 409
    error_type = "already_decided"

    def __init__(self, reviewer: str, decided_at: str, decision: str) -> None:
        super().__init__(f"already decided by {reviewer} at {decided_at[:19].replace('T', ' ')} UTC ({decision})")
        self.reviewer = reviewer
        self.decided_at = decided_at
        self.decision = decision
        self.details = {"decided_by": reviewer, "decided_at": decided_at, "decision": decision}


class ClaimedByOther(SentinelError):
    """Another reviewer holds the item (claimed, not expired): deciding it under them would waste their look, and
    the decision sent with ``force`` says the reviewer means to."""

    status_code = 409
    error_type = "claimed_by_other"

    def __init__(self, reviewer: str, expires_at: str) -> None:
        super().__init__(
            f"{reviewer} is reviewing this item (claimed until {expires_at[:19].replace('T', ' ')} UTC); take another "
            "one, or send the decision with force: true to decide it anyway"
        )
        self.details = {"claimed_by": reviewer, "claimed_until": expires_at}


class NotAwaitingReview(SentinelError):
    status_code = 409
    error_type = "not_awaiting_review"


class CannotUndo(SentinelError):
    """Undo refused: not one's own decision, too late, nothing to undo, or its regeneration already exists."""

    status_code = 409
    error_type = "cannot_undo"


def check_id(evaluation_id: str) -> None:
    """No id holds a NUL, and PostgreSQL refuses to even compare one: the same 400 on every database."""
    if "\x00" in evaluation_id:
        raise InvalidInput("an evaluation id may not contain NUL characters (\\u0000)", field="id")
