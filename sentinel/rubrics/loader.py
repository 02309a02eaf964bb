"""Finding, loading and validating rubric files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from sentinel.errors import ConfigError, UnknownTask
from sentinel.evaluation.judges import KINDS
from sentinel.evaluation.rubric import VISION, Rubric, SeverityBands
from sentinel.yamlfile import YamlDocument, read_yaml


def _validate_criteria(doc: YamlDocument, rubric: Rubric) -> None:
    for index, criterion in enumerate(rubric.criteria):
        loc: list[int | str] = ["criteria", index]
        if criterion.judge == VISION:
            if isinstance(criterion.severity, SeverityBands):
                raise doc.error(
                    [*loc, "severity"],
                    "vision criteria have no measure to set bands on; give one level: mild, moderate or severe",
                )
            continue  # answered by vision judges from its 'ask'; nothing else to check
        kind = KINDS.get(criterion.judge)
        if kind is None:
            known = ", ".join([*KINDS, VISION])
            raise doc.error([*loc, "judge"], f"unknown judge kind '{criterion.judge}'; known: {known}")
        check = kind.checks.get(criterion.check or "")
        if check is None:
            known = ", ".join(kind.checks)
            raise doc.error([*loc, "check"], f"judge '{kind.name}' has no check '{criterion.check}'; it has: {known}")
        missing = [need for need in check.needs if need not in rubric.inputs]
        if missing:
            raise doc.error([*loc, "check"], f"check '{check.name}' needs input(s) {missing}; add them to 'inputs'")
        try:
            check.settings_model.model_validate(criterion.settings)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise doc.error([*loc, "settings", *err["loc"]], err["msg"]) from exc
        if isinstance(criterion.severity, SeverityBands):
            if check.bands is None:
                raise doc.error(
                    [*loc, "severity"],
                    f"check '{check.name}' has no graded measure to set bands on; "
                    "give one level instead: mild, moderate or severe",
                )
            bands = check.bands.with_overrides(criterion.severity.moderate, criterion.severity.severe)
            if not bands.ordered():
                worse = "lower" if bands.higher_is_better else "higher"
                raise doc.error(
                    [*loc, "severity"],
                    f"for check '{check.name}' a {worse} {bands.measure or 'value'} is worse, so 'severe' "
                    f"({bands.severe:g}) must be {worse} than 'moderate' ({bands.moderate:g})",
                )


def load_rubric(path: Path) -> Rubric:
    """Load and fully validate one rubric file; ConfigError names file, line, field and problem."""
    doc = read_yaml(path)
    rubric = doc.validate(Rubric)
    _validate_criteria(doc, rubric)
    if path.stem != rubric.id:
        raise doc.error(["id"], f"id '{rubric.id}' must match the file name '{path.stem}'")
    return rubric


def _rubric_files(directory: Path) -> Iterable[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


class RubricRegistry:
    """Every task Sentinel knows: the built-in rubrics, overridden by id from the user's folder."""

    def __init__(self, rubrics: dict[str, Rubric]) -> None:
        self._rubrics = rubrics

    @classmethod
    def from_dirs(cls, *directories: Path | None) -> RubricRegistry:
        rubrics: dict[str, Rubric] = {}
        for directory in directories:
            if directory is None:
                continue
            if not directory.is_dir():
                raise ConfigError(f"rubrics folder {directory} does not exist")
            for path in _rubric_files(directory):
                rubric = load_rubric(path)
                rubrics[rubric.id] = rubric
        return cls(rubrics)

    def get(self, task: str) -> Rubric:
        rubric = self._rubrics.get(task)
        if rubric is None:
            known = ", ".join(sorted(self._rubrics)) or "none"
            raise UnknownTask(f"unknown task '{task}'; known tasks: {known}", field="task")
        return rubric

    def all(self) -> list[Rubric]:
        return [self._rubrics[k] for k in sorted(self._rubrics)]
