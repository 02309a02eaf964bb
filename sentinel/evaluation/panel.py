"""The judge panel: one YAML file per judge in ``judges/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sentinel.errors import ConfigError
from sentinel.rubrics.schema import SLUG, Rubric
from sentinel.yamlfile import read_yaml


class JudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=SLUG)
    kind: str
    description: str = ""
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="past this the judge abstains")
    options: dict[str, Any] = Field(default_factory=dict)


class Panel:
    def __init__(self, judges: list[JudgeConfig]) -> None:
        self.judges = judges
        self._by_name = {j.name: j for j in judges}

    @classmethod
    def from_dir(cls, directory: Path) -> Panel:
        from sentinel.evaluation.judges import KINDS

        if not directory.is_dir():
            raise ConfigError(f"judges folder {directory} does not exist")
        judges: list[JudgeConfig] = []
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            doc = read_yaml(path)
            judge = doc.validate(JudgeConfig)
            if judge.kind not in KINDS:
                raise doc.error(["kind"], f"unknown judge kind '{judge.kind}'; known: {', '.join(KINDS)}")
            if judge.name in {j.name for j in judges}:
                raise doc.error(["name"], f"another judge is already named '{judge.name}'")
            judges.append(judge)
        if not judges:
            raise ConfigError(f"no judges defined in {directory}")
        return cls(judges)

    def get(self, name: str) -> JudgeConfig:
        return self._by_name[name]

    def for_rubric(self, rubric: Rubric) -> list[JudgeConfig]:
        """The judges that vote on this task: those owning at least one of its criteria."""
        kinds = set(rubric.judge_kinds())
        return [j for j in self.judges if j.kind in kinds]

    def missing_kinds(self, rubric: Rubric) -> list[str]:
        present = {j.kind for j in self.judges}
        return [k for k in rubric.judge_kinds() if k not in present]
