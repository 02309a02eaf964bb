"""What endpoints read of the authenticated caller."""

from __future__ import annotations

from fastapi import Request

from sentinel.keys.service import Caller


def caller_of(request: Request) -> Caller | None:
    """The key the request came with; None on an open server (loopback, no keys yet)."""
    return getattr(request.state, "caller", None)


def scope_of(request: Request) -> str:
    """Whose Idempotency-Keys these are: one namespace per API key."""
    caller = caller_of(request)
    return caller.id if caller else "anonymous"
