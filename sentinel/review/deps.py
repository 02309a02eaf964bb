"""The review domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.review.service import ReviewService


async def review_service(request: Request) -> ReviewService:
    return request.app.state.review


Reviews = Annotated[ReviewService, Depends(review_service)]
