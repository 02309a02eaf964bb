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


class FailingOut(BaseModel):
    """One thing a judge found wrong, worst first on an item: what the reviewer checks by eye."""

    judge: str
    criterion: str | None = Field(description="the failed criterion's id; null when the judge objected as a whole")
    severity: Literal["mild", "moderate", "severe"] | None
    critical: bool = Field(description="a critical criterion: its failure is severe on its own")
    detail: str


class ItemClaimOut(BaseModel):
    reviewer: str = Field(description="who holds the item")
    expires_at: str
    mine: bool = Field(description="held by the key asking")


class ReviewItemOut(EvaluationOut):
    """An amber evaluation waiting for a person; ``job`` is set when a job generated the image."""

    job_id: str | None
    job: ReviewJobOut | None
    failing: list[FailingOut]
    provider_model: str | None = Field(description="provider:model of the job attempt that made the image")
    claim: ItemClaimOut | None = Field(description="an unexpired claim on the item, whoever holds it")


class ClaimOut(BaseModel):
    evaluation_id: str
    reviewer: str
    claimed_at: str
    expires_at: str
    mine: bool = Field(description="false: another reviewer holds the item; ask for the next one")


class BulkResultOut(BaseModel):
    evaluation_id: str
    status: Literal["decided", "already_decided", "claimed_by_other", "not_awaiting_review", "not_found"]
    message: str


class UndoneDecisionOut(BaseModel):
    decision: Literal["approve", "reject"]
    reviewer: str
    note: str | None
    decided_at: str


class UndoOut(BaseModel):
    evaluation_id: str
    job_id: str | None
    undone: UndoneDecisionOut
    review: dict[str, Any] = Field(description="the item waits for review again")
    undone_at: str


class ReviewerProgressOut(BaseModel):
    reviewer: str
    decided_today: int = Field(description="decisions since midnight UTC")
    decided_total: int
    median_seconds_per_item: float | None = Field(
        description="median time from claiming an item to deciding it; null without claimed decisions"
    )


class FacetsOut(BaseModel):
    """Values present among waiting items, for filter drop-downs."""

    task: list[str]
    judge: list[str]
    criterion: list[str]
    provider_model: list[str]


class DecisionOut(BaseModel):
    evaluation_id: str
    job_id: str | None
    decision: Literal["approve", "reject"]
    final_verdict: Literal["green", "red"]
    reviewer: str
    note: str | None
    regenerating: bool = Field(description="a rejected job image is being generated again")
    decided_at: str
    opened_at: str | None = Field(default=None, description="when the reviewer's claim on the item began")


class JudgeAgreementOut(BaseModel):
    decisions: int
    agreement: float | None = Field(description="share of decisions the judge's vote matched")
    kappa: float | None = Field(description="Cohen's kappa, once there are enough decisions")


class ReviewStatsOut(BaseModel):
    decisions: int
    judges: dict[str, JudgeAgreementOut]


class ReviewPage(BaseModel):
    """A page of ``GET /v1/review``, oldest first."""

    object: Literal["list"] = "list"
    data: list[ReviewItemOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
