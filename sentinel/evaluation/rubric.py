"""The shape of a rubric file, and validation of the params a caller passes for it."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from PIL import ImageColor
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, field_validator, model_validator

from sentinel.errors import InvalidInput, SentinelError

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
#: The criterion owner answered by vision-language models (judges of kind `vision-llm`) instead of a check.
VISION = "vision"
InputName = Literal["image", "source", "mask"]
#: How bad a failed criterion is, from least to most.
Severity = Literal["mild", "moderate", "severe"]
SEVERITIES: tuple[Severity, ...] = ("mild", "moderate", "severe")
#: When a task's verdict is red besides two or more failing judges: a severe failure (the default; a critical
#: criterion's failure is severe), any failure from moderate up, or any failure at all.
RedWhen = Literal["any_severe", "any_moderate", "any_failed"]
#: Fix templates are written by rubric authors and rendered with callers' params: sandboxed, and plain text.
FIX_TEMPLATES = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def _percent(value: Any) -> str:
    """0.85 → '85%' in fix templates."""
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return str(value)


FIX_TEMPLATES.filters["pct"] = _percent


class SeverityBands(BaseModel):
    """Where a failure of a criterion turns moderate and severe, on its check's graded measure (the same unit as
    its threshold). A failure short of the moderate band is mild."""

    model_config = ConfigDict(extra="forbid")

    moderate: StrictFloat | None = None
    severe: StrictFloat | None = None


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["string", "integer", "number", "boolean", "color"]
    required: StrictBool = False
    default: Any = None
    description: str = ""
    min: float | None = Field(None, allow_inf_nan=False)
    max: float | None = Field(None, allow_inf_nan=False)
    max_length: int = Field(1000, ge=1, le=10000)

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        # Caught here, `rubrics validate` names the line; left to the first caller, a rubric that validated would
        # refuse every evaluation and job of its task (a default its own type refuses, a range nothing fits).
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}: no value would be accepted")
        if self.required and self.default is not None:
            # A required param's default is never used (a caller who leaves it out is refused), so the author who
            # wrote one expected a behaviour the task does not have: refused, rather than guessing which was meant.
            raise ValueError(
                "a required param has a default, which is never used: drop 'default', or drop 'required' "
                "to use the default when a caller leaves the param out"
            )
        if self.default is not None:
            try:
                _coerce("default", self, self.default)
            except InvalidInput as exc:
                raise ValueError(f"the default does not fit the param: {exc.message}") from None
        return self


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SLUG)
    must: str = Field(min_length=3, description="what must hold, as a sentence a user reads")
    judge: str = Field(description="the judge kind that owns this criterion")
    #: The offline check that measures it (every judge kind but `vision`).
    check: str | None = None
    #: For `vision` criteria: a yes/no question, with what counts as passing, that each vision judge answers.
    ask: str | None = Field(default=None, min_length=10, max_length=2000)
    #: A failure makes the verdict red on its own: it is severe unless its check grades it milder itself
    #: (expected text that differs only in letter case is mild).
    critical: StrictBool = False
    settings: dict[str, Any] = Field(default_factory=dict)
    #: How bad a failure is: one level for every failure, or bands on the check's graded measure (overriding the
    #: check's own). Unset: the check's bands decide.
    severity: Severity | SeverityBands | None = None
    #: What the next generation must do instead (jinja2 over ``params``, ``measured``, ``threshold``,
    #: ``settings``, ``facts``, ``severity``): the guidance a regeneration's prompt carries.
    fix: str | None = Field(default=None, min_length=3, max_length=1000)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_shape(cls, value: Any) -> Any:
        """One clear message for either shape, instead of one per member of the union."""
        example = "one of mild, moderate or severe, or bands such as {moderate: 0.9, severe: 0.8}"
        if value is None or isinstance(value, SeverityBands):
            return value
        if isinstance(value, str):
            if value not in SEVERITIES:
                raise ValueError(f"severity must be {example}; got {value!r}")
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"moderate", "severe"})
            if unknown:
                raise ValueError(
                    f"severity bands take only 'moderate' and 'severe'; got {', '.join(map(str, unknown))}"
                )
            for name, limit in value.items():
                if isinstance(limit, bool) or not isinstance(limit, int | float):
                    raise ValueError(f"severity band '{name}' must be a number on the check's measure; got {limit!r}")
            return SeverityBands(**value)
        raise ValueError(f"severity must be {example}; got {value!r}")

    @field_validator("fix")
    @classmethod
    def _fix_compiles(cls, fix: str | None) -> str | None:
        if fix is not None:
            try:
                FIX_TEMPLATES.from_string(fix)
            except TemplateSyntaxError as exc:
                problem = f"{exc.message} (template line {exc.lineno})"
                raise ValueError(f"the fix template does not parse: {problem}") from exc
        return fix

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
    #: Edit tasks: what the white of the mask marks, the region to change (object removal) or the one to keep
    #: (the subject whose background is replaced). A job hands providers the region to change.
    mask_marks: Literal["change", "keep"] = "change"
    #: The model (from the routing config) generation for this task prefers, e.g. one good at typography.
    preferred_model: str | None = Field(default=None, max_length=200)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    criteria: list[Criterion] = Field(min_length=1)
    #: Whether the panel's escalation judges (`escalate: true`) wait for the others to disagree before being
    #: asked. `false` asks them on every image, like any other judge.
    escalate: StrictBool = True
    #: Which single failure makes the verdict red (two or more failing judges always do).
    red_when: RedWhen = "any_severe"

    @field_validator("inputs")
    @classmethod
    def _image_first(cls, inputs: list[str]) -> list[str]:
        if "image" not in inputs:
            raise ValueError("inputs must include 'image'")
        if len(set(inputs)) != len(inputs):
            raise ValueError("inputs are listed twice")
        return inputs

    @model_validator(mode="after")
    def _param_names(self) -> Rubric:
        # A criterion id used twice is the loader's to refuse (sentinel.rubrics.loader), where the line and field
        # of the second one are known; here it could only name the file's first line.
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
            "red_when": self.red_when,
            "criteria": [
                {"id": c.id, "must": c.must, "judge": c.judge, "critical": c.critical}
                | ({"ask": c.ask} if c.ask else {})
                | ({"severity": _severity_view(c.severity)} if c.severity else {})
                | ({"fix": c.fix} if c.fix else {})
                for c in self.criteria
            ],
        }


def _severity_view(severity: Severity | SeverityBands) -> Any:
    return severity if isinstance(severity, str) else severity.model_dump(exclude_none=True)


#: C0 and C1 controls and DEL, but tab and line breaks, which a sign's text may hold.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _as_sent(value: Any) -> str:
    """A caller's value as JSON writes it (``true``, ``null``, ``"abc"``), the way most callers sent it."""
    try:
        return json.dumps(value, ensure_ascii=False)[:80]
    except (TypeError, ValueError):
        return repr(value)[:80]


def _coerce(name: str, spec: ParamSpec, value: Any) -> Any:
    field = f"params.{name}"
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise InvalidInput(f"param '{name}' must be true or false, got {_as_sent(value)}", field=field)
    if spec.type in ("integer", "number"):
        if isinstance(value, bool):
            raise InvalidInput(f"param '{name}' must be a number, got {_as_sent(value)}", field=field)
        if spec.type == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)  # 1024.0, as clients that compute sizes send them, is the whole number 1024
        try:
            number: float = float(value) if spec.type == "number" else int(str(value).strip())
        except (TypeError, ValueError):
            wanted = "a whole number" if spec.type == "integer" else "a number"
            raise InvalidInput(f"param '{name}' must be {wanted}, got {_as_sent(value)}", field=field) from None
        if not math.isfinite(number):
            raise InvalidInput(f"param '{name}' must be a finite number, got {_as_sent(value)}", field=field)
        if spec.min is not None and number < spec.min:
            raise InvalidInput(f"param '{name}' must be ≥ {spec.min:g}, got {number:g}", field=field)
        if spec.max is not None and number > spec.max:
            raise InvalidInput(f"param '{name}' must be ≤ {spec.max:g}, got {number:g}", field=field)
        return number
    if not isinstance(value, str):
        raise InvalidInput(f"param '{name}' must be a string, got {type(value).__name__}", field=field)
    if len(value) > spec.max_length:
        raise InvalidInput(f"param '{name}' is {len(value)} characters; at most {spec.max_length}", field=field)
    control = CONTROL_CHARACTERS.search(value)
    if control is not None:
        # An escape sequence in a shared manifest would reach every terminal and log that prints the param.
        raise InvalidInput(
            f"param '{name}' holds the control character U+{ord(control.group()):04X} at position "
            f"{control.start()}; only tabs and line breaks are allowed",
            field=field,
        )
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
    return params_for(rubric.id, rubric.params, raw)


def specs_of_view(view: Any) -> dict[str, ParamSpec] | None:
    """The param specs a server's rubric view (``GET /v1/rubrics/{task}``) shows, or None for a view this version
    cannot read (the server then checks params itself)."""
    try:
        return {name: ParamSpec(**shape) for name, shape in view.get("params", {}).items()}
    except (ValueError, TypeError, AttributeError):
        return None


def params_for(task: str, specs: dict[str, ParamSpec], raw: dict[str, Any] | None) -> dict[str, Any]:
    """:func:`validate_params` for a task known by its id and param specs (as a server's rubric view shows them)."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        accepted = ", ".join(specs) or "none"
        raise InvalidInput(
            f"unknown param '{unknown[0]}' for task '{task}'; accepted params: {accepted}",
            field=f"params.{unknown[0]}",
        )
    clean: dict[str, Any] = {}
    for name, spec in specs.items():
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                about = f" ({spec.description})" if spec.description else ""
                raise InvalidInput(f"task '{task}' needs param '{name}'{about}", field=f"params.{name}")
            if spec.default is not None:
                clean[name] = _coerce(name, spec, spec.default)
            continue
        clean[name] = _coerce(name, spec, value)
    return clean


#: JSON's word for each param type a string stands in for.
_JSON_TYPES = {"integer": "number", "number": "number", "boolean": "true or false"}


def json_typed_params(rubrics: Any, task: str, params: dict[str, Any]) -> None:
    """A JSON body's params in JSON's own types, as the body's other fields are (``"n": "2"`` is a 400): a number or
    a boolean sent as a string is refused, naming the param, rather than read as one; one rule for the JSON bodies
    of evaluations and jobs. A form's fields, and the CLI's ``--param width=1024``, are text by nature and are read
    as the types they stand for. ``rubrics``: the registry the task is looked up in."""
    try:
        rubric = rubrics.get(task)
    except SentinelError:
        return  # an unknown task is refused by the request's own checks, in their words
    for name, value in params.items():
        spec = rubric.params.get(name)
        if spec is not None and spec.type in _JSON_TYPES and isinstance(value, str):
            quoted = json.dumps(value, ensure_ascii=False)[:50]
            raise InvalidInput(
                f"param '{name}' must be a JSON {_JSON_TYPES[spec.type]}, not a string: send {quoted} unquoted",
                field=f"params.{name}",
            )
