"""``GET /v1/rubrics``: the tasks a caller can ask for, with their params and criteria."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sentinel.errors import UnknownTask
from sentinel.http.deps import AppServices
from sentinel.http.responses import JSONResponse
from sentinel.http.schemas import V1_ERRORS, ListOut, errors

router = APIRouter(tags=["rubrics"])


class CriterionSpecOut(BaseModel):
    id: str
    must: str = Field(description="what the image must do, in words")
    judge: str = Field(description="the judge kind that owns it")
    critical: bool
    ask: str | None = None
    severity: Any = None
    fix: str | None = None


class RubricOut(BaseModel):
    """A task: what the caller may pass (``params``, as JSON-schema-like specs) and what is judged."""

    id: str
    title: str
    description: str | None
    inputs: list[str] = Field(description="the images it takes: `image`, and `source`, `mask` for edit tasks")
    params: dict[str, dict[str, Any]]
    red_when: Any = None
    criteria: list[CriterionSpecOut]


@router.get("/v1/rubrics", summary="List tasks", response_model=ListOut[RubricOut], responses=V1_ERRORS)
async def list_rubrics(services: AppServices) -> JSONResponse:
    rubrics = services.rubrics.all()
    return JSONResponse({"object": "list", "data": [r.public() for r in rubrics]})


@router.get(
    "/v1/rubrics/{task}", summary="Describe one task", response_model=RubricOut, responses=V1_ERRORS | errors(404, 422)
)
async def get_rubric(task: str, services: AppServices) -> JSONResponse:
    try:
        rubric = services.rubrics.get(task)
    except UnknownTask as exc:
        exc.status_code = 404  # the path names no resource here
        raise
    return JSONResponse(rubric.public())
