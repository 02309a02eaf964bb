"""Request shapes of the jobs API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sentinel.evaluation.schemas import ImageRef, ReviewOut

#: The budget is a promise to the caller: no job runs longer than this.
MAX_BUDGET_SECONDS = 300
#: Seeds are 31-bit: the range every provider that takes a seed accepts.
MAX_SEED = 2**31 - 1


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(max_length=100, examples=["product-white-background"])
    prompt: str = Field(min_length=1, max_length=4000)
    params: dict[str, Any] = Field(default_factory=dict)
    model: str | None = Field(default=None, max_length=200, description="a model or alias; default: the task's")
    n: int = Field(default=1, ge=1, le=4, description="images, each judged and regenerated on its own")
    max_attempts: int = Field(default=3, ge=1, le=10)
    budget_seconds: float = Field(default=300, gt=0, le=MAX_BUDGET_SECONDS)
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="the first attempt's seed (a regeneration uses seed + attempt - 1); default: random per attempt",
    )
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description=(
            "POSTed the job when it is final. Refused now only when it can never be delivered to (not http(s), a "
            "non-public address, a name resolving to one); a name that does not resolve yet is accepted, and each "
            "delivery checks the address again and is retried"
        ),
    )
    source_url: str | None = Field(
        default=None, max_length=2048, description="edit tasks: the image to edit (public http(s) URL)"
    )
    mask_url: str | None = Field(
        default=None, max_length=2048, description="edit tasks: the mask, the source's size (white marks the region)"
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        """``null`` for an optional field is the field left out, for every one alike (``"n": null`` was refused
        while ``"model": null`` was taken as unset); a required field's null is still refused, naming it."""
        if not isinstance(data, dict):
            return data
        required = {name for name, field in cls.model_fields.items() if field.is_required()}
        return {name: value for name, value in data.items() if value is not None or name in required}


#: The job fields a multipart request sends as form fields, beside its `source` and `mask` files.
FORM_FIELDS = ("task", "prompt", "params", "model", "n", "max_attempts", "budget_seconds", "seed", "callback_url")


class AttemptOut(BaseModel):
    slot: int
    number: int
    state: str
    provider: str | None
    model: str | None
    image: ImageRef | None
    evaluation_id: str | None
    evaluation_url: str | None
    verdict: Literal["green", "amber", "red"] | None
    failed_judges: int | None
    summary: str | None
    prompt: str | None
    guidance: str | None
    review: ReviewOut | None
    error: str | None
    failure: str | None = Field(
        default=None,
        description=(
            "why a failed attempt got no image, as a code: the provider's outcome (invalid_request and auth are not "
            "attempted again; rate_limited, unavailable, timeout, content_filtered, model_not_found, "
            "unrecognised_answer, output_refused), spend_cap_reached, or cancelled (not started: the job was "
            "cancelled first)"
        ),
    )
    unchanging: bool = Field(
        default=False,
        description=(
            "the set-up refused this attempt (no candidate's provider has a key here, or every one refused its key "
            "or has its model parked or gone or its paid image refused by our checks, or every one left was paid for "
            "images it could not deliver or given up on after its request went out): no retry "
            "can change it until an operator does, so the job stops and "
            "a judged request answers with x-should-retry: false"
        ),
    )
    generation_ms: float | None
    started_at: str
    finished_at: str | None


class ChosenImageOut(BaseModel):
    slot: int
    attempt: int | None
    image: ImageRef | None
    verdict: Literal["green", "amber", "red"] | None
    summary: str | None
    passing: bool


class JobResultOut(BaseModel):
    images: list[ChosenImageOut]


class JobOut(BaseModel):
    id: str
    object: Literal["job"] = "job"
    task: str
    prompt: str
    params: dict[str, Any]
    model: str | None
    n: int
    max_attempts: int
    budget_seconds: float
    seed: int | None = Field(default=None, description="the first attempt's seed; null: random per attempt")
    source: ImageRef | None = Field(default=None, description="edit tasks: the image edited")
    mask: ImageRef | None = Field(default=None, description="edit tasks: the mask (white marks the region)")
    state: Literal["queued", "generating", "judging", "regenerating", "done", "failed", "expired", "cancelled"]
    verdict: Literal["green", "amber", "red"] | None
    reason: str | None
    created_at: str
    deadline_at: str
    finished_at: str | None
    attempts: list[AttemptOut] | None = Field(description="every attempt; null in lists")
    result: JobResultOut | None = Field(description="the image chosen per slot, once the job is final")


class JobList(BaseModel):
    """A page of ``GET /v1/jobs``, newest first."""

    object: Literal["list"] = "list"
    data: list[JobOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
