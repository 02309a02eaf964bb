"""Request and response shapes of the evaluation API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EvaluationByURL(BaseModel):
    """JSON body of ``POST /v1/evaluations``: images given by http(s) URL."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(max_length=100, examples=["text-to-image"])
    image_url: str = Field(max_length=4096)
    source_url: str | None = Field(default=None, max_length=4096)
    mask_url: str | None = Field(default=None, max_length=4096)
    params: dict[str, Any] = Field(default_factory=dict)
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description=(
            "POSTed the result when done. Refused now only when it can never be delivered to (not http(s), a "
            "non-public address, a name resolving to one); a name that does not resolve yet is accepted, and each "
            "delivery checks the address again and is retried"
        ),
    )

    @field_validator("params", mode="before")
    @classmethod
    def _null_params_are_empty(cls, value: Any) -> Any:
        """``"params": null`` is params left out, as ``null`` is for every other optional field (and for a job's)."""
        return {} if value is None else value


class CriterionOut(BaseModel):
    id: str
    passed: bool
    measured: float | str | None
    threshold: float | str | None
    detail: str
    critical: bool = False
    severity: Literal["mild", "moderate", "severe"] | None = Field(
        default=None, description="how bad a failure is (null when the criterion passed)"
    )
    facts: dict[str, Any] | None = Field(default=None, description="named measurements the criterion's fix uses")


class IssueOut(BaseModel):
    criterion: str
    judge: str
    severity: Literal["mild", "moderate", "severe"]
    critical: bool
    detail: str


class QuestionOut(BaseModel):
    id: str = Field(description="the rubric's vision criterion")
    ask: str = Field(description="the question every vision judge answers about the image")
    critical: bool = False


class JudgeVoteOut(BaseModel):
    judge: str
    passed: bool | None = Field(description="null when the judge abstained; reasoning says why")
    reasoning: str
    criteria: list[CriterionOut]
    duration_ms: float | None = None
    questions: list[QuestionOut] | None = Field(
        default=None,
        description="a vision judge that abstained: the rubric's questions it left unanswered, for a person to "
        "check by eye (absent for other votes)",
    )


class ImageRef(BaseModel):
    id: str = Field(description="the image's sha256")
    url: str


class ReviewOut(BaseModel):
    """A person's decision on an amber result (``state: waiting`` until one is made)."""

    state: Literal["waiting", "decided"]
    final_verdict: Literal["green", "red"] | None
    decision: Literal["approve", "reject"] | None = None
    reviewer: str | None = None
    note: str | None = None
    decided_at: str | None = None
    human: bool | None = None


class EvaluationOut(BaseModel):
    id: str
    object: Literal["evaluation"] = "evaluation"
    task: str
    job_id: str | None = Field(
        description="the job whose attempt this evaluation judges (`GET /v1/jobs/{job_id}`); null for an evaluation "
        "sent in through `POST /v1/evaluations`"
    )
    params: dict[str, Any]
    status: Literal["judging", "done"]
    created_at: str
    deadline_at: str
    finished_at: str | None
    image: ImageRef
    source: ImageRef | None
    mask: ImageRef | None
    judges_expected: list[str]
    votes_in: int
    verdict: Literal["green", "amber", "red"] | None = Field(
        description="green: no judge failed; amber: one judge failed (not severely) or quorum not met; "
        "red: two or more judges failed, or a failure severe enough for the task's red_when (by default a severe "
        "one; a critical criterion's failure is severe)"
    )
    summary: str | None
    failed_judges: int | None
    quorum: dict[str, Any] | None = None
    critical_failures: list[str] | None = None
    issues: list[IssueOut] | None = Field(default=None, description="every failed criterion once, worst first")
    judges: list[JudgeVoteOut]
    review: ReviewOut | None = Field(default=None, description="amber results only: the person's decision")
    final_verdict: Literal["green", "amber", "red"] | None = Field(
        default=None,
        description="the judges' verdict, or for an amber result the reviewer's once decided (null while it waits)",
    )


#: The filters a listing and an export share, as the API description explains them.
VERDICT_FILTER = (
    "the final verdict: a reviewer's decision on an amber result (approve: green, reject: red), else the judges'"
)
SINCE_FILTER = "created at or after this ISO 8601 time (no zone: UTC; a date alone: its midnight)"
UNTIL_FILTER = "created before this ISO 8601 time"
KEY_FILTER = "only those made with this key (id or name); a key that is not an admin's narrows its own tenant's"


class EvaluationList(BaseModel):
    """A page of ``GET /v1/evaluations``, newest first."""

    object: Literal["list"] = "list"
    data: list[EvaluationOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
