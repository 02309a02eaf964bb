"""The judge panel: one YAML file per judge in ``judges/``. Offline kinds own the criteria of their own name;
`vision-llm` judges (each a model on an endpoint) all vote on the rubric's `vision` criteria."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sentinel.errors import ConfigError, InvalidInput
from sentinel.evaluation.judges import KINDS
from sentinel.evaluation.rubric import SLUG, VISION, Rubric
from sentinel.evaluation.vision.judge import VisionJudge, load_template
from sentinel.evaluation.vision.options import VisionOptions
from sentinel.settings import DATA_ROOT
from sentinel.yamlfile import YamlDocument, read_yaml

#: The judge kind that asks a vision-language model.
VISION_LLM = "vision-llm"


class JudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=SLUG)
    kind: str
    description: str = ""
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="past this the judge abstains")
    #: An escalation judge is asked only when the other judges disagree (unless the rubric says escalate: false).
    escalate: bool = False
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def owns(self) -> str:
        """The criterion `judge:` name this judge votes on."""
        return VISION if self.kind == VISION_LLM else self.kind


class Panel:
    def __init__(self, judges: list[JudgeConfig], vision: dict[str, VisionJudge] | None = None) -> None:
        self.judges = judges
        self._by_name = {j.name: j for j in judges}
        #: The vision judges, ready to call, by name.
        self.vision = vision or {}

    @classmethod
    def from_dir(cls, directory: Path) -> Panel:
        return cls.from_dirs([directory])

    @classmethod
    def from_dirs(cls, directories: list[Path]) -> Panel:
        """Every judge file of the folders; judge names are unique across all of them."""
        for directory in directories:
            if not directory.is_dir():
                raise ConfigError(f"judges folder {directory} does not exist")
        judges: list[JudgeConfig] = []
        vision: dict[str, VisionJudge] = {}
        files = [
            (directory, path)
            for directory in directories
            for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
        ]
        for directory, path in files:
            doc = read_yaml(path)
            judge = doc.validate(JudgeConfig)
            if judge.kind not in KINDS and judge.kind != VISION_LLM:
                known = ", ".join([*KINDS, VISION_LLM])
                raise doc.error(["kind"], f"unknown judge kind '{judge.kind}'; known: {known}")
            if judge.name in {j.name for j in judges}:
                raise doc.error(["name"], f"another judge is already named '{judge.name}'")
            if judge.kind == VISION_LLM:
                vision[judge.name] = _vision_judge(doc, judge, directory)
            judges.append(judge)
        if not judges:
            raise ConfigError(f"no judges defined in {', '.join(map(str, directories))}")
        return cls(judges, vision)

    def get(self, name: str) -> JudgeConfig:
        return self._by_name[name]

    def find(self, name: str) -> JudgeConfig | None:
        """The judge of that name; None when the panel no longer has one (a vote outlives its judge's file)."""
        return self._by_name.get(name)

    def for_rubric(self, rubric: Rubric) -> list[JudgeConfig]:
        """The judges that vote on this task: those owning at least one of its criteria."""
        kinds = set(rubric.judge_kinds())
        return [j for j in self.judges if j.owns in kinds]

    def split(self, rubric: Rubric) -> tuple[list[JudgeConfig], list[JudgeConfig]]:
        """The judges asked first, and the escalation judges asked only if those disagree."""
        judges = self.for_rubric(rubric)
        if not rubric.escalate:
            return judges, []
        first = [j for j in judges if not j.escalate]
        return first, [j for j in judges if j.escalate]

    def missing_kinds(self, rubric: Rubric) -> list[str]:
        present = {j.owns for j in self.judges}
        return [k for k in rubric.judge_kinds() if k not in present]

    def check_can_judge(self, rubric: Rubric) -> None:
        """Refuse a task some of whose criteria no judge of this panel owns: judged without them, its verdict would
        say every criterion passed while those were never asked."""
        missing = self.missing_kinds(rubric)
        if not missing:
            return
        unjudged = [c.id for c in rubric.criteria if c.judge in missing]
        kinds = ", ".join(f"'{kind}'" for kind in missing)
        raise InvalidInput(
            f"task '{rubric.id}' has criteria no judge of this panel can judge ({', '.join(unjudged)}: judge "
            f"{kinds}); add a judge of that kind to the judges folder (SENTINEL_JUDGES_DIR; `sentinel judges list` "
            "shows the panel), or remove those criteria"
        )


def _vision_judge(doc: YamlDocument, judge: JudgeConfig, directory: Path) -> VisionJudge:
    """A vision judge from its YAML, every option checked now so a typo stops start-up with file and line."""
    try:
        options = VisionOptions.model_validate(judge.options)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise doc.error(["options", *error["loc"]], error["msg"]) from exc
    if options.api_key_env and not os.environ.get(options.api_key_env):
        raise doc.error(
            ["options", "api_key_env"],
            f"judge '{judge.name}' reads its API key from {options.api_key_env}, which is not set",
        )
    try:
        template = load_template(directory, options.prompt_template, DATA_ROOT / "judges")
    except jinja2.TemplateError as exc:
        raise doc.error(["options", "prompt_template"], f"cannot load the prompt template: {exc}") from exc
    return VisionJudge(judge.name, options, template, judge.timeout_seconds)
