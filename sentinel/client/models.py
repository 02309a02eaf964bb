"""Typed results: what the API answers, as pydantic models, each keeping the JSON it came from in ``.raw``.

These mirror the server's response shapes on purpose rather than importing them: a client user installs no server
code. Unknown fields are kept (``extra="allow"``), so a newer server never breaks an older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from sentinel.client.errors import SentinelUnexpectedAnswer, answer_json

Verdict = Literal["green", "amber", "red"]
Severity = Literal["mild", "moderate", "severe"]
#: Job states after which nothing changes unless a person decides.
FINAL_JOB_STATES = frozenset({"done", "failed", "expired", "cancelled"})

ModelT = TypeVar("ModelT", bound="Result")


class _Shape(BaseModel):
    # Schemas are built on first use, not at import: a client user pays for the models they read.
    model_config = ConfigDict(extra="allow", defer_build=True)


class Result(_Shape):
    """A top-level answer; ``raw`` is its JSON exactly as the API sent it."""

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def raw(self) -> dict[str, Any]:
        return self._raw

    @classmethod
    def from_api(cls: type[ModelT], data: dict[str, Any]) -> ModelT:
        result = cls.model_validate(data)
        result._raw = data
        return result

    @classmethod
    def from_response(cls: type[ModelT], response: httpx.Response, row: Any = None) -> ModelT:
        """The answer (or ``row``, one row of its page) read as this shape, or :class:`SentinelUnexpectedAnswer`
        when it is not one."""
        try:
            return cls.from_api(answer_json(response) if row is None else row)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first.get("loc", ())) or "the answer"
            problem = f"it is not {cls.__name__.lower()} JSON ({field}: {first.get('msg')})"
            raise SentinelUnexpectedAnswer.of(response, problem) from None


class ImageRef(_Shape):
    id: str
    url: str


class Criterion(_Shape):
    id: str
    passed: bool
    measured: float | str | None = None
    threshold: float | str | None = None
    detail: str = ""
    critical: bool = False
    severity: Severity | None = None
    facts: dict[str, Any] | None = None


class Issue(_Shape):
    criterion: str
    judge: str
    severity: Severity
    critical: bool
    detail: str


class JudgeVote(_Shape):
    judge: str
    #: None when the judge abstained; ``reasoning`` says why.
    passed: bool | None
    reasoning: str
    criteria: list[Criterion] = []
    duration_ms: float | None = None
    #: A vision judge that abstained: the rubric's questions it left unanswered, for a person to check by eye.
    questions: list[dict[str, Any]] | None = None


class Review(_Shape):
    state: Literal["waiting", "decided"]
    final_verdict: Literal["green", "red"] | None = None
    decision: Literal["approve", "reject"] | None = None
    reviewer: str | None = None
    note: str | None = None
    decided_at: datetime | None = None
    #: True once a person decided (the verdict is a human's, not the panel's).
    human: bool | None = None


class Evaluation(Result):
    """An image judged against a task's rubric. ``verdict`` is the panel's; ``final_verdict`` the one to act on: the
    panel's green or red, a reviewer's decision on an amber result, and None while that result waits for review."""

    id: str
    task: str
    #: The job whose attempt this evaluation judges; None for one sent in to be judged (``evaluate``).
    job_id: str | None = None
    params: dict[str, Any] = {}
    status: str
    created_at: datetime
    deadline_at: datetime | None = None
    finished_at: datetime | None = None
    image: ImageRef
    source: ImageRef | None = None
    mask: ImageRef | None = None
    judges_expected: list[str] = []
    votes_in: int = 0
    verdict: Verdict | None = None
    summary: str | None = None
    failed_judges: int | None = None
    quorum: dict[str, Any] | None = None
    critical_failures: list[str] | None = None
    issues: list[Issue] | None = None
    judges: list[JudgeVote] = []
    review: Review | None = None
    final_verdict: Verdict | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"


class JobAttempt(_Shape):
    slot: int
    number: int
    state: str
    provider: str | None = None
    model: str | None = None
    image: ImageRef | None = None
    evaluation_id: str | None = None
    evaluation_url: str | None = None
    verdict: Verdict | None = None
    failed_judges: int | None = None
    summary: str | None = None
    prompt: str | None = None
    guidance: str | None = None
    review: Review | None = None
    error: str | None = None
    #: Why the attempt got no image, as a code: a provider outcome (`rate_limited`, `timeout`…; `invalid_request` and
    #: `auth` are not tried again) or `spend_cap_reached`.
    failure: str | None = None
    #: The set-up refused the attempt (no provider key, a refused key, a parked or gone model): no retry changes it
    #: until an operator does, so the job stopped there.
    unchanging: bool = False
    generation_ms: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ChosenImage(_Shape):
    """The attempt picked for one slot of a finished job."""

    slot: int
    attempt: int | None = None
    image: ImageRef | None = None
    verdict: Verdict | None = None
    summary: str | None = None
    passing: bool = False


class JobResult(_Shape):
    images: list[ChosenImage] = []


class Job(Result):
    """Images generated for a task, each judged and regenerated while red, within a budget. ``verdict`` follows a
    reviewer's decision on an amber image, so it is also the ``final_verdict``."""

    id: str
    task: str
    prompt: str
    params: dict[str, Any] = {}
    model: str | None = None
    n: int = 1
    max_attempts: int | None = None
    budget_seconds: float | None = None
    #: The seed of the first attempt, as given; None: each attempt drew its own.
    seed: int | None = None
    source: ImageRef | None = None
    mask: ImageRef | None = None
    state: str
    verdict: Verdict | None = None
    reason: str | None = None
    created_at: datetime
    deadline_at: datetime | None = None
    finished_at: datetime | None = None
    #: Every attempt; None in lists.
    attempts: list[JobAttempt] | None = None
    result: JobResult | None = None

    @property
    def done(self) -> bool:
        return self.state in FINAL_JOB_STATES

    @property
    def final_verdict(self) -> Verdict | None:
        return self.verdict

    @property
    def images(self) -> list[ChosenImage]:
        """The image chosen per slot (empty until the job is final)."""
        return self.result.images if self.result else []

    @property
    def summary(self) -> str | None:
        """Why the job ended as it did (``reason``), else its chosen images' summaries."""
        if self.reason:
            return self.reason
        summaries = [image.summary for image in self.images if image.summary]
        return "; ".join(summaries) or None


class ReviewJob(_Shape):
    id: str
    prompt: str
    params: dict[str, Any] = {}
    slot: int
    attempt: int
    max_attempts: int
    provider: str | None = None
    model: str | None = None


class Failing(_Shape):
    judge: str
    criterion: str | None = None
    severity: Severity | None = None
    critical: bool = False
    detail: str


class ReviewClaim(_Shape):
    reviewer: str
    expires_at: datetime
    mine: bool


class ReviewItem(Evaluation):
    """An amber evaluation waiting for a person; ``job`` is set when a job generated the image."""

    job_id: str | None = None
    job: ReviewJob | None = None
    failing: list[Failing] = []
    provider_model: str | None = None
    claim: ReviewClaim | None = None


class Decision(Result):
    """A person's approval (green) or rejection (red) of an amber result."""

    evaluation_id: str
    job_id: str | None = None
    decision: Literal["approve", "reject"]
    final_verdict: Literal["green", "red"]
    reviewer: str
    note: str | None = None
    #: A rejected job image is being generated again.
    regenerating: bool = False
    decided_at: datetime
    #: When the reviewer's claim on the item began.
    opened_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.evaluation_id

    @property
    def verdict(self) -> Literal["green", "red"]:
        return self.final_verdict

    @property
    def summary(self) -> str:
        said = f": {self.note}" if self.note else ""
        return f"{self.decision} by {self.reviewer}{said}"
