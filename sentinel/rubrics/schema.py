"""The shape of a rubric file, and validation of the params a caller passes for it."""

from __future__ import annotations

import re
from typing import Any, Literal

from PIL import ImageColor
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sentinel.errors import InvalidInput

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
#: The criterion owner answered by vision-language models (judges of kind `vision-llm`) instead of a check.
VISION = "vision"
InputName = Literal["image", "source", "mask"]


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["string", "integer", "number", "boolean", "color"]
    required: bool = False
    default: Any = None
    description: str = ""
    min: float | None = None
    max: float | None = None
    max_length: int = Field(1000, ge=1, le=10000)


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SLUG)
    must: str = Field(min_length=3, description="what must hold, as a sentence a user reads")
    judge: str = Field(description="the judge kind that owns this criterion")
    #: The offline check that measures it (every judge kind but `vision`).
    check: str | None = None
    #: For `vision` criteria: a yes/no question, with what counts as passing, that each vision judge answers.
    ask: str | None = Field(default=None, min_length=10, max_length=2000)
    critical: bool = False
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_or_ask(self) -> Criterion:
        if self.judge == VISION:
            if not self.ask:
                raise ValueError(f"criterion '{self.id}' is judged by vision models: give it an 'ask' (a question)")
            if self.check or self.settings:
                raise ValueError(f"criterion '{self.id}' is judged by vision models: it takes 'ask', not 'check'")
        else:
            if not self.check:
                raise ValueError(f"criterion '{self.id}' needs a 'check' of judge kind '{self.judge}'")
            if self.ask:
                raise ValueError(f"criterion '{self.id}': only 'judge: vision' criteria take an 'ask'")
        return self


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SLUG)
    title: str = Field(min_length=1)
    description: str = ""
    inputs: list[InputName] = Field(default_factory=lambda: ["image"])
    #: The model (from the routing config) generation for this task prefers, e.g. one good at typography.
    preferred_model: str | None = Field(default=None, max_length=200)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    criteria: list[Criterion] = Field(min_length=1)
    #: Whether the panel's escalation judges (`escalate: true`) wait for the others to disagree before being
    #: asked. `false` asks them on every image, like any other judge.
    escalate: bool = True

    @field_validator("inputs")
    @classmethod
    def _image_first(cls, inputs: list[str]) -> list[str]:
        if "image" not in inputs:
            raise ValueError("inputs must include 'image'")
        if len(set(inputs)) != len(inputs):
            raise ValueError("inputs are listed twice")
        return inputs

    @model_validator(mode="after")
    def _unique_criteria(self) -> Rubric:
        seen: set[str] = set()
        for criterion in self.criteria:
            if criterion.id in seen:
                raise ValueError(f"criterion id '{criterion.id}' is used twice")
            seen.add(criterion.id)
        for name in self.params:
            if not re.match(r"^[a-z_][a-z0-9_]{0,40}$", name):
                raise ValueError(f"param name '{name}' must be lower_snake_case")
        return self

    def judge_kinds(self) -> list[str]:
        return list(dict.fromkeys(c.judge for c in self.criteria))

    def public(self) -> dict[str, Any]:
        """What the API shows a caller about a task."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "inputs": self.inputs,
            "params": {name: spec.model_dump(exclude_none=True) for name, spec in self.params.items()},
            "criteria": [
                {"id": c.id, "must": c.must, "judge": c.judge, "critical": c.critical}
                | ({"ask": c.ask} if c.ask else {})
                for c in self.criteria
            ],
        }


def _coerce(name: str, spec: ParamSpec, value: Any) -> Any:
    field = f"params.{name}"
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise InvalidInput(f"param '{name}' must be true or false, got {value!r}", field=field)
    if spec.type in ("integer", "number"):
        if isinstance(value, bool):
            raise InvalidInput(f"param '{name}' must be a number, got {value!r}", field=field)
        try:
            number: float = float(value) if spec.type == "number" else int(str(value).strip())
        except (TypeError, ValueError):
            wanted = "a whole number" if spec.type == "integer" else "a number"
            raise InvalidInput(f"param '{name}' must be {wanted}, got {value!r}", field=field) from None
        if spec.min is not None and number < spec.min:
            raise InvalidInput(f"param '{name}' must be ≥ {spec.min:g}, got {number:g}", field=field)
        if spec.max is not None and number > spec.max:
            raise InvalidInput(f"param '{name}' must be ≤ {spec.max:g}, got {number:g}", field=field)
        return number
    if not isinstance(value, str):
        raise InvalidInput(f"param '{name}' must be a string, got {type(value).__name__}", field=field)
    if len(value) > spec.max_length:
        raise InvalidInput(f"param '{name}' is {len(value)} characters; at most {spec.max_length}", field=field)
    if spec.type == "color":
        try:
            red, green, blue = ImageColor.getrgb(value.strip())[:3]
        except ValueError:
            raise InvalidInput(
                f"param '{name}' must be a colour like '#ffffff' or 'white', got {value!r}", field=field
            ) from None
        return f"#{red:02x}{green:02x}{blue:02x}"
    return value


def validate_params(rubric: Rubric, raw: dict[str, Any] | None) -> dict[str, Any]:
    """Check and coerce a caller's params against the rubric; errors name the param."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(rubric.params))
    if unknown:
        accepted = ", ".join(rubric.params) or "none"
        raise InvalidInput(
            f"unknown param '{unknown[0]}' for task '{rubric.id}'; accepted params: {accepted}",
            field=f"params.{unknown[0]}",
        )
    clean: dict[str, Any] = {}
    for name, spec in rubric.params.items():
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                about = f" ({spec.description})" if spec.description else ""
                raise InvalidInput(f"task '{rubric.id}' needs param '{name}'{about}", field=f"params.{name}")
            if spec.default is not None:
                clean[name] = _coerce(name, spec, spec.default)
            continue
        clean[name] = _coerce(name, spec, value)
    return clean
