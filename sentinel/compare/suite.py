"""The suite file: which task, which models, which prompts, how often and how hard, validated with the file's line
and field named in every error (as rubric files are)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from sentinel.yamlfile import read_yaml

#: Jobs one suite may ask for (models × prompts × repeats or seeds): a bigger one is a typo that would cost real
#: money.
MAX_RUNS = 5000
#: As POST /v1/jobs takes it.
MAX_SEED = 2**31 - 1


class PromptEntry(BaseModel):
    """A prompt with task params of its own (merged over the suite's ``params``)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=4000)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, prompt: str) -> str:
        if not prompt.strip():
            raise ValueError("the prompt is blank")
        return prompt


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Shown as the report's title; the file name when unset.
    name: str | None = Field(default=None, max_length=200)
    task: str = Field(min_length=1, max_length=100)
    #: Public model names from the routing file (each with its own fallbacks), or one candidate pinned as
    #: ``provider:model`` (exactly that candidate, no fallback): a comparison of providers wants the pins.
    models: list[str] = Field(min_length=1, max_length=50)
    #: Each a prompt, or {prompt, params} with task params of its own.
    prompts: list[PromptEntry] = Field(min_length=1, max_length=1000)
    #: Task params every prompt is sent with (a prompt's own params win).
    params: dict[str, Any] = Field(default_factory=dict)
    #: Runs of each prompt on each model: the verdicts of one run are a sample of one.
    repeats: int = Field(default=1, ge=1, le=50)
    #: Attempts per job (red ones are regenerated with guidance), as ``max_attempts`` of POST /v1/jobs.
    max_attempts: int = Field(default=3, ge=1, le=10)
    #: Jobs in flight at once.
    concurrency: int = Field(default=4, ge=1, le=64)

    #: One job of each prompt on each model per seed, generated with that seed (a regeneration with the next ones):
    #: a rerun of the suite redraws the same images where the providers honour seeds. Instead of ``repeats``.
    seeds: list[int] | None = Field(default=None, min_length=1, max_length=50)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if seeds is None:
            return None
        out_of_range = [seed for seed in seeds if not 0 <= seed <= MAX_SEED]
        if out_of_range:
            raise ValueError(f"seed {out_of_range[0]} is not in 0..{MAX_SEED}")
        twice = sorted({seed for seed in seeds if seeds.count(seed) > 1})
        if twice:
            raise ValueError(f"listed twice: {', '.join(map(str, twice))} (the same seed draws the same image)")
        # Repeats of one seed would redraw the same images: the runs per prompt are either the seeds or repeats.
        if info.data.get("repeats", 1) != 1:
            raise ValueError(
                "give either seeds (one run per seed) or repeats (runs with random seeds), not both; "
                "for more runs list more seeds"
            )
        return seeds

    @field_validator("models")
    @classmethod
    def _models(cls, models: list[str]) -> list[str]:
        for model in models:
            if not model.strip() or len(model) > 200:
                raise ValueError(f"model {model!r}: a model name or provider:model of 1 to 200 characters")
        twice = sorted({m for m in models if models.count(m) > 1})
        if twice:
            raise ValueError(f"listed twice: {', '.join(twice)}")
        return models

    @field_validator("prompts", mode="before")
    @classmethod
    def _bare_prompts(cls, prompts: Any) -> Any:
        # A bare string is the short form of {prompt: ...}: one shape to validate, so errors name the field.
        if isinstance(prompts, list):
            return [{"prompt": p} if isinstance(p, str) else p for p in prompts]
        return prompts

    @field_validator("prompts")
    @classmethod
    def _prompts_once(cls, prompts: list[PromptEntry]) -> list[PromptEntry]:
        # As a model or seed listed twice is: a second copy is more runs of one prompt, which repeats or seeds ask for
        # and count, and the report would show two rows it cannot tell apart.
        first_of: dict[str, int] = {}
        for index, entry in enumerate(prompts):
            key = json.dumps([entry.prompt, entry.params], sort_keys=True, default=str)
            earlier = first_of.setdefault(key, index)
            if earlier != index:
                raise ValueError(
                    f"prompts[{index}] is prompts[{earlier}] again (the same text and params); "
                    "for more runs of one prompt use repeats or seeds"
                )
        return prompts

    @model_validator(mode="after")
    def _size(self) -> Suite:
        runs = len(self.models) * len(self.prompts) * self.rounds
        if runs > MAX_RUNS:
            what = "seeds" if self.seeds else "repeats"
            raise ValueError(
                f"models × prompts × {what} = {runs} jobs; a suite may ask for at most {MAX_RUNS} (split it)"
            )
        return self

    @property
    def rounds(self) -> int:
        """Runs of each prompt on each model: one per seed, or ``repeats``."""
        return len(self.seeds) if self.seeds else self.repeats

    def cases(self) -> list[Case]:
        """Every prompt as sent: its text and the suite's params under its own."""
        return [Case(index, p.prompt, self.params | p.params) for index, p in enumerate(self.prompts)]

    def runs(self) -> list[Run]:
        """Every job of the suite, models interleaved so that each column fills at the same pace."""
        seeds: list[int | None] = list(self.seeds) if self.seeds else [None] * self.repeats
        return [
            Run(case, model, repeat, seed)
            for case in self.cases()
            for repeat, seed in enumerate(seeds)
            for model in self.models
        ]


@dataclass(frozen=True)
class Case:
    """One row of the matrix: a prompt and the params it is sent with."""

    index: int
    prompt: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Run:
    """One job: a case on a model, the ``repeat``-th time (with the ``repeat``-th seed, when the suite lists seeds)."""

    case: Case
    model: str
    repeat: int
    seed: int | None = None


def load_suite(path: Path) -> Suite:
    """The suite in ``path``; a ConfigError naming the file, line and field of each problem."""
    return read_yaml(path).validate(Suite)
