"""The evaluation domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.evaluation.listing import EvaluationListing
from sentinel.evaluation.service import EvaluationService


async def evaluation_service(request: Request) -> EvaluationService:
    return request.app.state.evaluations


Evaluations = Annotated[EvaluationService, Depends(evaluation_service)]


async def evaluation_listing(request: Request) -> EvaluationListing:
    return request.app.state.evaluation_listing


EvaluationListings = Annotated[EvaluationListing, Depends(evaluation_listing)]
