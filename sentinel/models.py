"""Every SQLModel table of Sentinel, in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

# The verdicts live where the verdict rule can use them without this module's database layer; re-exported here.
from sentinel.verdicts import VERDICT_ORDER as VERDICT_ORDER
from sentinel.verdicts import Verdict


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A stored timestamp with its zone: SQLite hands them back naive, and they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class StoredImage(SQLModel, table=True):
    """An image kept in the blob store; its id is the sha256 of its bytes."""

    __tablename__ = "images"

    id: str = Field(primary_key=True, max_length=64)
    mime: str = Field(max_length=32)
    width: int
    height: int
    size_bytes: int
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))
    #: The last time a writer stored these bytes; `sentinel storage gc` leaves recently stored images alone,
    #: because their referencing rows may be written a moment later (the gateway logs its calls after answering).
    stored_at: datetime | None = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow, index=True)
    )
    #: When `sentinel storage gc` deleted the bytes under the retention policy; the row stays for the
    #: finished jobs and evaluations that name it.
    purged_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class ImageOwner(SQLModel, table=True):
    """A key that stored these bytes. Images are shared by content hash, so one image may have several owners;
    a key reads an image by id only when a key of its tenant stored it."""

    __tablename__ = "image_owners"
    __table_args__ = (UniqueConstraint("image_id", "key_id", name="uq_image_owner_image_key"),)

    id: int | None = Field(default=None, primary_key=True)
    # No foreign key: `sentinel storage gc` deletes unnamed image rows, and deletes their owners with them.
    image_id: str = Field(max_length=64)
    key_id: str = Field(index=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))


class Blob(SQLModel, table=True):
    """Image bytes kept in PostgreSQL (``SENTINEL_BLOB_URL=database``): one dependency fewer than an object store."""

    __tablename__ = "blobs"

    id: str = Field(primary_key=True, max_length=64)
    mime: str = Field(max_length=32)
    size_bytes: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))


class EvaluationStatus(StrEnum):
    JUDGING = "judging"
    DONE = "done"


class Evaluation(SQLModel, table=True):
    __tablename__ = "evaluations"
    #: Lists and exports read newest first, a page after a (created_at, id) position.
    __table_args__ = (Index("ix_evaluations_created_at_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=40)
    task: str = Field(index=True, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    image_id: str = Field(foreign_key="images.id", max_length=64)
    source_image_id: str | None = Field(default=None, foreign_key="images.id", max_length=64)
    mask_image_id: str | None = Field(default=None, foreign_key="images.id", max_length=64)
    status: str = Field(default=EvaluationStatus.JUDGING, index=True, max_length=16)
    #: The rubric as it was when the evaluation was submitted, so every worker judges the same criteria.
    rubric: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    #: Names of the judges expected to vote (escalation judges join it when they are asked).
    panel: list[str] = Field(sa_column=Column(JSON, nullable=False))
    #: Judges asked only if the others disagree.
    escalation_judges: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    #: Who was asked beyond the first round, and why; set once, by the finaliser that decided it.
    escalation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    escalated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    #: When judge messages were last re-sent by the sweep (a stalled evaluation is not re-sent again for a while).
    judges_resent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    quorum: int
    verdict: str | None = Field(default=None, index=True, max_length=8)
    summary: str | None = None
    failed_judges: int | None = None
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: Where the result is POSTed when the verdict is written.
    callback_url: str | None = None
    #: The API key that submitted it (a job's evaluations: the job's key); its tenant alone may read it.
    #: None: made while the server ran open, before any key existed.
    key_id: str | None = Field(default=None, index=True, max_length=40)
    # Indexed as the leading column of the (created_at, id) index: an index of its own only cost every insert.
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))
    deadline_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class Vote(SQLModel, table=True):
    """One judge's vote on one evaluation; a redelivered message cannot add a second."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("evaluation_id", "judge", name="uq_vote_evaluation_judge"),)

    id: int | None = Field(default=None, primary_key=True)
    # Looked up through uq_vote_evaluation_judge, whose leading column it is.
    evaluation_id: str = Field(foreign_key="evaluations.id", max_length=40)
    judge: str = Field(max_length=100)
    #: None when the judge abstained (error or deadline); reasoning then says why.
    passed: bool | None = None
    reasoning: str
    criteria: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    duration_ms: float = 0.0
    #: Model judges: model, calls, input/output tokens and estimated cost (USD).
    usage: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))


class ProviderCall(SQLModel, table=True):
    """Every call to a provider (or candidate skipped), for the dashboard and for routing decisions."""

    __tablename__ = "provider_calls"

    id: int | None = Field(default=None, primary_key=True)
    #: ``gen_<hex>`` (a gateway request) or ``<job id>:<slot>:<number>`` (a job's attempt).
    request_id: str = Field(index=True, max_length=64)
    model: str = Field(max_length=200, description="the public model the caller asked for")
    provider: str = Field(index=True, max_length=100)
    provider_model: str = Field(max_length=200)
    outcome: str = Field(index=True, max_length=32)
    latency_ms: float = 0.0
    status_code: int | None = None
    bytes: int = 0
    cost_estimate: float = 0.0
    message: str = ""
    image_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), index=True, default=utcnow)
    )
    #: Where the provider's own task for this call can be read (a Replicate prediction's ``urls.get``), recorded once
    #: the provider created it: a worker that takes over a call whose worker died polls it rather than buy the image
    #: again (see :mod:`sentinel.jobs.in_flight`). None: a provider that answers in the request itself, or not yet.
    provider_task: str | None = Field(default=None, max_length=1000)


class JobState(StrEnum):
    QUEUED = "queued"
    GENERATING = "generating"
    JUDGING = "judging"
    REGENERATING = "regenerating"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"
    #: Its caller stopped it: no further attempt starts; one already under way finishes and is kept.
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL_JOB_STATES


#: A job in one of these states is closed: nothing moves it again (a reviewer's regeneration reopens it).
FINAL_JOB_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.EXPIRED, JobState.CANCELLED})


class AttemptState(StrEnum):
    """One attempt: generating → judging → judged, or failed (no image could be generated)."""

    GENERATING = "generating"
    JUDGING = "judging"
    JUDGED = "judged"
    FAILED = "failed"


class Job(SQLModel, table=True):
    """Generate-and-evaluate: images for a task, judged, regenerated while red, within a budget."""

    __tablename__ = "jobs"
    #: Lists and exports read newest first, a page after a (created_at, id) position.
    __table_args__ = (Index("ix_jobs_created_at_id", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=40)
    task: str = Field(index=True, max_length=100)
    prompt: str
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    model: str | None = Field(default=None, max_length=200)
    n: int = 1
    max_attempts: int = 3
    budget_seconds: float = 300.0
    #: The seed of the first attempt (regenerations step from it, see sentinel.jobs.attempts.attempt_seed); None:
    #: every attempt draws a fresh random one.
    seed: int | None = None
    callback_url: str | None = None
    #: An edit task's inputs, in the image store (ids are content hashes): each attempt edits the source where
    #: the mask is white, and the panel judges the result against both.
    source_image_id: str | None = Field(default=None, max_length=64)
    mask_image_id: str | None = Field(default=None, max_length=64)
    #: The API key that created the job: its attempts spend against that key's cap, and its tenant alone may
    #: read the job.
    key_id: str | None = Field(default=None, index=True, max_length=40)
    state: str = Field(default=JobState.QUEUED, index=True, max_length=16)
    #: The final verdict: the worst verdict among the images chosen for each slot.
    verdict: str | None = Field(default=None, index=True, max_length=8)
    reason: str | None = None
    # Indexed as the leading column of the (created_at, id) index: an index of its own only cost every insert.
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))
    deadline_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class JobAttempt(SQLModel, table=True):
    """One generation of one image slot of a job, and its judgement; a redelivery cannot add a second."""

    __tablename__ = "job_attempts"
    __table_args__ = (UniqueConstraint("job_id", "slot", "number", name="uq_attempt_job_slot_number"),)

    id: int | None = Field(default=None, primary_key=True)
    # Looked up through uq_attempt_job_slot_number, whose leading column it is.
    job_id: str = Field(foreign_key="jobs.id", max_length=40)
    slot: int = 0
    number: int = 1
    state: str = Field(default=AttemptState.GENERATING, max_length=16)
    prompt: str = ""
    guidance: str | None = None
    provider: str | None = Field(default=None, max_length=100)
    provider_model: str | None = Field(default=None, max_length=200)
    image_id: str | None = Field(default=None, max_length=64)
    evaluation_id: str | None = Field(default=None, index=True, max_length=40)
    verdict: str | None = Field(default=None, max_length=8)
    failed_judges: int | None = None
    passed_criteria: int | None = None
    #: A judged attempt's failed criteria counted: how many critical, severe, moderate, mild. The attempt a red slot
    #: hands back is the one whose failures are least bad, not the one fewest judges objected to. NULL: judged
    #: before this was kept.
    issue_counts: dict[str, int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    summary: str | None = None
    error: str | None = None
    #: Why a failed attempt got no image, as a code (a provider Outcome such as ``invalid_request`` or ``auth``, or
    #: ``spend_cap_reached``): it decides whether another attempt could help, and what a judged request answers.
    failure: str | None = Field(default=None, max_length=32)
    #: What the provider said of a failed attempt, for a judged request to answer as a plain one does: the field
    #: it refused (OpenAI's ``param``), its own error code, and how many seconds it asked to wait.
    failure_param: str | None = Field(default=None, max_length=100)
    failure_code: str | None = Field(default=None, max_length=64)
    retry_after: float | None = None
    #: A failed attempt the set-up refused, so that no retry can change it until an operator does: every candidate
    #: unconfigured (no key here), refusing its key, or with its model parked or gone. The job stops there, and a
    #: judged request says so (``x-should-retry: false``). NULL: recorded before this was kept.
    unchanging: bool | None = None
    generation_ms: float | None = None
    #: While a worker generates this attempt; a duplicate delivery does not call the provider again.
    lease_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a request carrying an Idempotency-Key, replayed for every retry of it."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "endpoint", "key", name="uq_idempotency_scope_endpoint_key"),)

    id: int | None = Field(default=None, primary_key=True)
    #: Whose key this is (the API key's id once keys exist; "anonymous" on an open server).
    scope: str = Field(max_length=100)
    endpoint: str = Field(max_length=100)
    key: str = Field(max_length=255)
    #: sha256 of the request's content; the same key with other content is refused.
    fingerprint: str = Field(max_length=64)
    status_code: int | None = None
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    headers: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))
    #: The job a request that answers with a job's result (a judged image request) started, written with the job:
    #: a retry that takes over the claim of a request that died waits for that job instead of buying its images again.
    job_id: str | None = Field(default=None, max_length=64)


class OutboxMessage(SQLModel, table=True):
    """A message that a committed change implies, written in the same transaction as the change; the relay sends
    it to the broker and marks it sent, so a broker that is away delays the work and never loses it."""

    __tablename__ = "outbox_messages"

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=100)
    queue: str = Field(max_length=50)
    args: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: dramatiq message options (time limit, retries, the request id for logs).
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: Names the message when a step that may run twice writes it: the second write adds nothing.
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), index=True))
    #: A relay sending it holds it until then; another relay takes over a claim that ran out.
    claimed_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    send_failures: int = 0


class WebhookDelivery(SQLModel, table=True):
    """One try at delivering a finished job's or evaluation's result to its callback_url."""

    __tablename__ = "webhook_deliveries"
    #: The deliveries listing reads newest first, a page after a (created_at, id) position.
    __table_args__ = (Index("ix_webhook_deliveries_created_at_id", "created_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    #: The delivery this try belongs to (the ``Sentinel-Delivery`` header): the same for every retry and replay of
    #: one event's delivery. None: a try recorded before delivery ids were kept.
    delivery_id: str | None = Field(default=None, index=True, max_length=40)
    kind: str = Field(max_length=16, description="job or evaluation")
    resource_id: str = Field(index=True, max_length=40)
    #: What happened to the resource: finished, decided or undone (None before events were kept).
    event: str | None = Field(default=None, max_length=16)
    url: str
    attempt: int = 1
    status_code: int | None = None
    error: str | None = None
    delivered: bool = False
    duration_ms: float = 0.0
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))


class ReviewDecision(SQLModel, table=True):
    """A person's decision on an amber result; one per evaluation, so two reviewers cannot both decide."""

    __tablename__ = "review_decisions"

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: str = Field(foreign_key="evaluations.id", unique=True, max_length=40)
    #: "approve" (the result becomes green) or "reject" (it becomes red).
    decision: str = Field(max_length=8)
    reviewer: str = Field(max_length=200)
    note: str | None = Field(default=None, max_length=4000)
    #: When the deciding reviewer's claim on the item began (time spent on it); None without a claim.
    opened_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), index=True, default=utcnow)
    )


class ReviewClaim(SQLModel, table=True):
    """A reviewer holding an amber item for a few minutes, so the others are shown another one. One per
    evaluation: a conditional insert or update decides who gets it; an expired claim is anyone's. Tenant scoping
    comes from the evaluation, as for decisions."""

    __tablename__ = "review_claims"

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: str = Field(foreign_key="evaluations.id", unique=True, max_length=40)
    reviewer: str = Field(max_length=200)
    #: When this reviewer started holding it (kept while the claim is extended).
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))


class ReviewerSession(SQLModel, table=True):
    """A reviewer's login to the pages. The cookie names a row here, so logging out (deleting the row) ends the
    session in every API process at once, and a copied cookie is worth nothing afterwards."""

    __tablename__ = "reviewer_sessions"

    #: SHA-256 of the secret in the cookie: a database leak gives no usable session.
    id: str = Field(primary_key=True, max_length=64)
    reviewer: str = Field(max_length=200)
    #: What the login was made from (a reviewer key's fingerprint, or ``api:<key id>``): removing it ends the session.
    binding: str = Field(max_length=100)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))


class ApiKey(SQLModel, table=True):
    """A caller's key. Only a hash of the secret is stored; the secret is shown once, when created."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(index=True, max_length=100)
    #: The secret's first characters, to tell keys apart in lists and logs.
    prefix: str = Field(max_length=16)
    secret_hash: str = Field(unique=True, max_length=64)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    #: USD per period; None: no cap.
    spend_cap: float | None = None
    spend_period: str | None = Field(default=None, max_length=8, description="day or month")
    #: Requests per minute; None: the server's default.
    rpm: int | None = None
    #: Keys of one tenant see each other's jobs, evaluations, review items and images; None (keys made before
    #: tenants existed): the key is a tenant of its own, named by its id.
    tenant: str | None = Field(default=None, index=True, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class SpendPeriod(SQLModel, table=True):
    """A key's spending in one period: reserved before provider calls, spent once they are settled."""

    __tablename__ = "spend_periods"
    __table_args__ = (UniqueConstraint("key_id", "period", name="uq_spend_key_period"),)

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(foreign_key="api_keys.id", max_length=40)
    #: "2026-11-22" for a daily cap, "2026-11" for a monthly one (UTC).
    period: str = Field(max_length=10)
    reserved: float = 0.0
    spent: float = 0.0


class SpendEntry(SQLModel, table=True):
    """The ledger: every reservation and its settlement, so a period's totals can be re-added from rows."""

    __tablename__ = "spend_entries"

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(index=True, max_length=40)
    period: str = Field(max_length=10)
    request_id: str = Field(index=True, max_length=64)
    #: reserve (before the provider call) or settle (after: the actual cost, the rest released).
    kind: str = Field(max_length=8)
    reserved: float = 0.0
    spent: float = 0.0
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), default=utcnow))


def review_view(decision: ReviewDecision) -> dict[str, Any]:
    """A decision as the evaluation and job APIs show it."""
    return {
        "state": "decided",
        "decision": decision.decision,
        "final_verdict": Verdict.GREEN if decision.decision == "approve" else Verdict.RED,
        "reviewer": decision.reviewer,
        "note": decision.note,
        "decided_at": as_utc(decision.created_at).isoformat(),
        "human": True,
    }
