"""Response shapes of the review API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from sentinel.evaluation.schemas import EvaluationOut


class ReviewJobOut(BaseModel):
    """The job an amber image came from: what was asked, and which attempt it is."""

    id: str
    prompt: str
    params: dict[str, Any]
    slot: int
    attempt: int
    max_attempts: int
    provider: str | None
    model: str | None


class ReviewItemOut(EvaluationOut):
    """An amber evaluation waiting for a person; ``job`` is set when a job generated the image."""

    job_id: str | None
    job: ReviewJobOut | None


class DecisionOut(BaseModel):
    evaluation_id: str
    job_id: str | None
    decision: Literal["approve", "reject"]
    final_verdict: Literal["green", "red"]
    reviewer: str
    note: str | None
    regenerating: bool = Field(description="a rejected job image is being generated again")
    decided_at: str


class JudgeAgreementOut(BaseModel):
    decisions: int
    agreement: float | None = Field(description="share of decisions the judge's vote matched")
    kappa: float | None = Field(description="Cohen's kappa, once there are enough decisions")


class ReviewStatsOut(BaseModel):
    decisions: int
    judges: dict[str, JudgeAgreementOut]
