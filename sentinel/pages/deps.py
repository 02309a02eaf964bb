"""The pages domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.pages.auth import ReviewerAuth


async def reviewer_auth(request: Request) -> ReviewerAuth:
    """Reviewer keys, login forms and sessions of the operator pages."""
    return request.app.state.reviewer_auth


ReviewerLogin = Annotated[ReviewerAuth, Depends(reviewer_auth)]
