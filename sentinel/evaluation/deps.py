"""The evaluation domain's FastAPI dependency (see :mod:`sentinel.http.deps`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentinel.evaluation.admission import JudgingAdmission
from sentinel.evaluation.listing import EvaluationListing
from sentinel.evaluation.service import EvaluationService
from sentinel.http.requests import SharedSafetyNet


async def evaluation_service(request: Request) -> EvaluationService:
    return request.app.state.evaluations


Evaluations = Annotated[EvaluationService, Depends(evaluation_service)]


async def judging_admission(request: Request) -> JudgingAdmission | None:
    """The API's reading of the judging queue; None in an app without the evaluation domain (operations only)."""
    evaluations = getattr(request.app.state, "evaluations", None)
    return evaluations.admission if evaluations is not None else None


JudgingAdmissions = Annotated[JudgingAdmission | None, Depends(judging_admission)]


async def evaluation_listing(request: Request) -> EvaluationListing:
    return request.app.state.evaluation_listing


EvaluationListings = Annotated[EvaluationListing, Depends(evaluation_listing)]


async def evaluation_safety_net(request: Request) -> SharedSafetyNet:
    """The safety net shared by the app's readers long-polling evaluations (see :class:`SharedSafetyNet`)."""
    return request.app.state.evaluation_safety_net


EvaluationSafetyNet = Annotated[SharedSafetyNet, Depends(evaluation_safety_net)]
