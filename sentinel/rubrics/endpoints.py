"""``GET /v1/rubrics``: the tasks a caller can ask for, with their params and criteria."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(tags=["rubrics"])


@router.get("/v1/rubrics", summary="List tasks")
async def list_rubrics(request: Request) -> dict[str, Any]:
    rubrics = request.app.state.services.rubrics.all()
    return {"object": "list", "data": [r.public() for r in rubrics]}


@router.get("/v1/rubrics/{task}", summary="Describe one task")
async def get_rubric(task: str, request: Request) -> dict[str, Any]:
    return request.app.state.services.rubrics.get(task).public()
