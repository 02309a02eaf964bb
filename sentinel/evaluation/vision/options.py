"""What a `vision-llm` judge's YAML may say under `options`, validated when the panel loads."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

#: Anthropic's current API version header; a judge may pin another.
ANTHROPIC_VERSION = "2023-06-01"
#: OpenAI's reasoning models, by name (after any "provider/" prefix a gateway adds): the o-series and GPT-5 and
#: later (gpt-5.1, gpt-6-luna, which "reasons by default"). Their chat endpoint refuses `max_tokens` (it wants
#: `max_completion_tokens`) and any `temperature` but the default; the "-chat" snapshots (gpt-5-chat-latest) are
#: not reasoning models. https://platform.openai.com/docs/guides/reasoning
REASONING_MODEL = re.compile(r"^(?!.*-chat)(?:o\d+(?:-.*)?|gpt-(?:[5-9]|[1-9]\d+)(?:[.-].*)?)$")
#: Anthropic's Claude 5 family and later (claude-sonnet-5-5, claude-opus-5, claude-fable-5-1): adaptive thinking
#: is always on and non-default sampling parameters (`temperature`) are refused.
#: https://platform.claude.com/docs/en/about-claude/models/overview
CLAUDE_WITHOUT_SAMPLING = re.compile(r"^claude-(?:[a-z]+-)?(?:[5-9]|[1-9]\d+)(?:[.-].*)?$")


class VisionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Which wire API the endpoint speaks: OpenAI chat completions (OpenAI, Gemini's compatible endpoint,
    #: Ollama, vLLM, LM Studio, most gateways) or Anthropic's Messages API.
    api: Literal["openai", "anthropic"] = "openai"
    base_url: str = Field(description="e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1")
    model: str = Field(min_length=1, max_length=200)
    #: The environment variable holding the API key (the key itself never goes in a file). None: no key
    #: (a local Ollama or vLLM).
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    #: How an `openai` endpoint takes the key: `authorization` (`Authorization: Bearer <key>`: OpenAI, Gemini's
    #: compatible endpoint, most gateways) or `api-key` (`api-key: <key>`: Azure OpenAI, which answers 401 to a Bearer
    #: key). An `anthropic` endpoint always takes `x-api-key`.
    auth_header: Literal["authorization", "api-key"] = "authorization"
    max_tokens: int = Field(default=1024, ge=16, le=32_000)
    #: The name `max_tokens` goes by on an OpenAI-style wire. Unset: `max_completion_tokens` for OpenAI's reasoning
    #: models (which refuse `max_tokens`), `max_tokens` for every other model and server.
    token_limit_param: Literal["max_tokens", "max_completion_tokens"] | None = None
    #: Unset: 0 (the steadiest votes), left out for the families that refuse it (OpenAI's reasoning models, Claude 5
    #: and later). `null` leaves it out for any model (an Azure deployment whose name does not say what it runs).
    temperature: float | None = Field(default=None, ge=0, le=2)
    #: A jinja2 file, relative to the judges folder; the built-in prompt if unset.
    prompt_template: str | None = None
    #: How to ask for JSON: OpenAI-style `json_schema` or `json_object`, Anthropic's forced `tool` use, or `none`
    #: (prompt only). Unset: json_schema for openai, tool for anthropic.
    structured_output: Literal["json_schema", "json_object", "tool", "none"] | None = None
    #: OpenAI's image detail level; unset sends none (the endpoint's default).
    image_detail: Literal["auto", "low", "high"] | None = None
    #: Larger images are scaled down before sending: models see no more than this, and tokens cost money.
    image_max_side: int = Field(default=1568, ge=256, le=4096)
    #: Send Sentinel image URLs (this base + /v1/images/{id}) instead of data URLs; the endpoint must reach it.
    image_url_base: str | None = None
    input_cost_per_mtok: float = Field(default=0.0, ge=0, description="USD per million input tokens")
    output_cost_per_mtok: float = Field(default=0.0, ge=0, description="USD per million output tokens")
    #: Retries after 429 / 5xx / connection errors, with backoff, all inside the judge's time limit.
    max_retries: int = Field(default=2, ge=0, le=6)
    anthropic_version: str = ANTHROPIC_VERSION

    @field_validator("base_url", "image_url_base")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if parts.username is not None or parts.password is not None:
            # The HTTP client refuses a URL's credentials beside an API key's header, and a URL is quoted in errors
            # and logs where a password must never be; image URLs are handed to the model itself.
            remedy = (
                "put the key in an environment variable and name it in options.api_key_env"
                if info.field_name == "base_url"
                else "the model is sent every image URL made from it"
            )
            raise ValueError(f"credentials in the URL (user:password@) are not supported; {remedy}")
        try:
            _ = parts.port  # read for its check: a port that is not a number raises
        except ValueError:
            raise ValueError(f"has a port that is not a number: {parts.netloc!r}") from None
        if parts.fragment:
            raise ValueError("must not have a #fragment")
        return urlunsplit(parts._replace(path=parts.path.rstrip("/")))

    @field_validator("auth_header")
    @classmethod
    def _auth_header(cls, value: str, info: ValidationInfo) -> str:
        if value != "authorization" and info.data.get("api") != "openai":
            raise ValueError("is for an `openai` endpoint (Azure OpenAI's `api-key`); Anthropic's takes `x-api-key`")
        return value

    @field_validator("image_url_base")
    @classmethod
    def _no_query(cls, value: str | None) -> str | None:
        # Image paths are appended to it, and a signed image path brings a query of its own.
        if value is not None and urlsplit(value).query:
            raise ValueError("must not have a ?query: image paths are appended to it")
        return value

    def endpoint(self, path: str) -> str:
        """The URL of the API's ``path`` (``/chat/completions``) under ``base_url``: a query the base carries (Azure's
        ``?api-version=…``) is kept after the path, not left with the path inside its value."""
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path=parts.path + path))

    @property
    def is_openai_reasoning_model(self) -> bool:
        return self.api == "openai" and REASONING_MODEL.match(self.model.rsplit("/", 1)[-1]) is not None

    @property
    def refuses_temperature(self) -> bool:
        """Whether the model's family refuses a temperature other than its default (see the patterns above)."""
        name = self.model.rsplit("/", 1)[-1]
        if self.api == "anthropic":
            return CLAUDE_WITHOUT_SAMPLING.match(name) is not None
        return self.is_openai_reasoning_model

    @property
    def token_limit(self) -> str:
        """The name the token limit is sent under on an OpenAI-style wire."""
        if self.token_limit_param is not None:
            return self.token_limit_param
        return "max_completion_tokens" if self.is_openai_reasoning_model else "max_tokens"

    @property
    def sent_temperature(self) -> float | None:
        """The temperature to send; None: send none (the model's default)."""
        if "temperature" in self.model_fields_set:
            return self.temperature
        return None if self.refuses_temperature else 0.0

    @property
    def output_mode(self) -> str:
        if self.structured_output is not None:
            return self.structured_output
        return "tool" if self.api == "anthropic" else "json_schema"

    def cost(self, input_tokens: int | None, output_tokens: int | None) -> float | None:
        """USD for the tokens; None (unknown) when a priced count is unknown: never a guess of $0."""
        if (input_tokens is None and self.input_cost_per_mtok) or (output_tokens is None and self.output_cost_per_mtok):
            return None
        spent = (input_tokens or 0) * self.input_cost_per_mtok + (output_tokens or 0) * self.output_cost_per_mtok
        return spent / 1_000_000
