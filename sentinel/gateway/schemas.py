"""The OpenAI Images API request, as Sentinel accepts it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SentinelOptions(BaseModel):
    """``extra_body={"sentinel": {...}}``: with a ``task``, judge every image against it and regenerate red ones
    first; in any case, bound the request's time (``deadline_seconds``)."""

    model_config = ConfigDict(extra="forbid")

    task: str | None = Field(default=None, max_length=100, examples=["product-white-background"])
    #: The most the request may take, every pass over every candidate included; the route's own deadline (if
    #: shorter) still applies. A judged request's job gets the shorter of this and ``budget_seconds``.
    deadline_seconds: float | None = Field(default=None, gt=0, le=600)
    #: Models (from GET /v1/models) to fall back to, in order, when the requested model's candidates all fail.
    models: list[str] | None = Field(default=None, max_length=5)
    params: dict[str, Any] = Field(default_factory=dict)
    max_attempts: int = Field(default=3, ge=1, le=10)
    budget_seconds: float = Field(default=300, gt=0, le=300)


class ImagesGenerationRequest(BaseModel):
    """``POST /v1/images/generations``: OpenAI's fields plus a few Sentinel extensions."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=32000)
    model: str | None = Field(default=None, max_length=200, description="a model or alias from GET /v1/models")
    n: int = Field(default=1, ge=1, le=4, description="1 when null, as OpenAI's default")
    size: str | None = Field(default=None, max_length=20, examples=["1024x1024"])
    quality: str | None = Field(default=None, max_length=20)
    response_format: Literal["url", "b64_json"] | None = Field(
        default=None, description="as OpenAI: `b64_json` for the GPT image models, `url` for the others"
    )
    user: str | None = Field(default=None, max_length=256)
    # OpenAI's output fields: passed to the candidates whose model takes them; a route none of whose candidates
    # can honour one answers 400 naming it (see GatewayService.prepare).
    style: Literal["vivid", "natural"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(default=None, ge=0, le=100)
    moderation: Literal["low", "auto"] | None = None
    #: Streaming partial images is not offered: ``stream=true`` is refused (400 naming ``stream``), as on edits;
    #: ``false`` (what wrappers copying OpenAI's defaults send) is the answer there always is. Left out of the
    #: request's meaning (the Idempotency-Key fingerprint): it changes nothing.
    stream: bool | None = Field(default=None, exclude=True)
    #: Only meaningful while streaming: without ``stream`` the answer is the final image, as OpenAI's is.
    partial_images: int | None = Field(default=None, ge=0, le=3, exclude=True)
    # Sentinel extensions.
    task: str | None = Field(default=None, max_length=100, description="pick the task's preferred route")
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    negative_prompt: str | None = Field(default=None, max_length=4000)
    sentinel: SentinelOptions | None = Field(default=None, description="judge and regenerate, as a job does")

    @field_validator("n", mode="before")
    @classmethod
    def _n_null_is_one(cls, value: object) -> object:
        # OpenAI documents ``n`` as nullable (null: its default, 1); SDK wrappers send it so.
        return 1 if value is None else value


class ImageDatum(BaseModel):
    """One image: ``url`` or ``b64_json``, as ``response_format`` asked."""

    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    """OpenAI's Images API answer; ``sentinel`` says who served (or, for a judged request, the verdicts)."""

    created: int
    data: list[ImageDatum]
    sentinel: dict[str, Any] | None = None


class ModelOut(BaseModel):
    """A model, an alias of one (``alias_of``), or a parked model (``parked`` says why, not available)."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    available: bool
    description: str | None = None
    candidates: list[str] | None = None
    #: Per candidate: provider, model, the sizes and quality tiers it takes (as mapped), its prices, weight, parking.
    candidate_details: list[dict[str, Any]] | None = None
    #: Candidates whose provider answered that the model does not exist: skipped until the routing file changes.
    parked_candidates: list[dict[str, str]] | None = None
    aliases: list[str] | None = None
    alias_of: str | None = None
    parked: str | None = None
    parameters: dict[str, Any] | None = Field(default=None, description="JSON schema of each request field")
    output: dict[str, Any] | None = None
    #: ``configured`` or ``quality`` (the route's ``order:``).
    order: str | None = None
    #: ``order: quality`` only: per task with recorded verdicts, the order its requests take (``order``), each
    #: candidate's green share, sample and why (``candidates``), and why (``reason``); ``other_tasks`` and
    #: ``without_task`` say what every other request takes.
    quality: dict[str, Any] | None = None


class ImagesEditRequest(BaseModel):
    """``POST /v1/images/edits`` (multipart): OpenAI's text fields; the files are ``image`` (or ``image[]``, up to 16,
    all sent to candidates that take several) and the optional ``mask`` (transparent, or white, where the first image
    is to change; its size)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=32000)
    model: str | None = Field(default=None, max_length=200, description="a model or alias from GET /v1/models")
    n: int = Field(default=1, ge=1, le=4)
    size: str | None = Field(default=None, max_length=20, description="the source's own size when left out")
    quality: str | None = Field(default=None, max_length=20)
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = Field(default=None, max_length=256)
    background: Literal["transparent", "opaque", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(default=None, ge=0, le=100)
    moderation: Literal["low", "auto"] | None = None
    #: How much of the input images' features (faces, logos) the model keeps: OpenAI's GPT image models that take it
    #: (GET /v1/models lists them per candidate); a route none of whose candidates does answers 400 naming it.
    input_fidelity: Literal["high", "low"] | None = None
    #: Streaming partial images is not offered: ``stream=true`` is refused (400 naming ``stream``) rather than
    #: answered all at once to a client waiting for events.
    stream: bool | None = None
    #: Only meaningful while streaming: without ``stream`` the answer is the final image, as OpenAI's is.
    partial_images: int | None = Field(default=None, ge=0, le=3)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    negative_prompt: str | None = Field(default=None, max_length=4000)
    sentinel: SentinelOptions | None = None


class ImagesVariationRequest(BaseModel):
    """``POST /v1/images/variations`` (multipart): OpenAI's text fields; the file is ``image``."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, max_length=200, description="a model or alias from GET /v1/models")
    n: int = Field(default=1, ge=1, le=4)
    size: str | None = Field(default=None, max_length=20, description="the source's own size when left out")
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = Field(default=None, max_length=256)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    sentinel: SentinelOptions | None = None
