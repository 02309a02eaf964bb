"""Request shapes of the jobs API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: The budget is a promise to the caller: no job runs longer than this.
MAX_BUDGET_SECONDS = 300


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(max_length=100, examples=["product-white-background"])
    prompt: str = Field(min_length=1, max_length=4000)
    params: dict[str, Any] = Field(default_factory=dict)
    model: str | None = Field(default=None, max_length=200, description="a model or alias; default: the task's")
    n: int = Field(default=1, ge=1, le=4, description="images, each judged and regenerated on its own")
    max_attempts: int = Field(default=3, ge=1, le=10)
    budget_seconds: float = Field(default=300, gt=0, le=MAX_BUDGET_SECONDS)
    callback_url: str | None = Field(default=None, max_length=2048)
