"""Finding, loading and validating rubric files."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from jinja2 import meta, nodes
from pydantic import ValidationError

from sentinel.errors import ConfigError, UnknownTask
from sentinel.evaluation.guidance import FIX_CONTEXT
from sentinel.evaluation.judges import KINDS
from sentinel.evaluation.rubric import FIX_TEMPLATES, VISION, Criterion, Rubric, SeverityBands
from sentinel.yamlfile import YamlDocument, read_yaml


def _fix_names_problem(rubric: Rubric, criterion: Criterion) -> str | None:
    """What a criterion's fix template names that no render can give it: a name outside the context, or a param the
    task does not declare. Either renders as nothing or fails, and a regeneration then goes out without its fix."""
    if not criterion.fix:
        return None
    tree = FIX_TEMPLATES.parse(criterion.fix)
    unknown = sorted(meta.find_undeclared_variables(tree) - set(FIX_CONTEXT) - set(FIX_TEMPLATES.globals))
    if unknown:
        return f"the fix template uses '{unknown[0]}'; it can use {', '.join(FIX_CONTEXT)}"
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == "params"):
            continue
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            name = node.arg.value
        else:
            continue  # computed at render time: nothing to check here
        if name not in rubric.params:
            declared = ", ".join(rubric.params) or "none"
            return f"the fix template uses params.{name}, a param this task does not declare (declared: {declared})"
    return None


def _criteria_problems(doc: YamlDocument, rubric: Rubric) -> list[ConfigError]:
    """Every criterion's problems at once (its first with its judge and check, and its fix's), so an author fixes a
    file in one pass rather than one error per run."""
    problems: list[ConfigError] = []
    first_of: dict[str, int] = {}
    for index, criterion in enumerate(rubric.criteria):
        loc: list[int | str] = ["criteria", index]
        if criterion.id in first_of:
            problems.append(
                doc.error(
                    [*loc, "id"],
                    f"criterion id '{criterion.id}' is used twice (first by criteria[{first_of[criterion.id]}]); "
                    "give each criterion its own id",
                )
            )
        first_of.setdefault(criterion.id, index)
        try:
            _check_criterion(doc, rubric, loc, criterion)
        except ConfigError as exc:
            problems.append(exc)
        problem = _fix_names_problem(rubric, criterion)
        if problem:
            problems.append(doc.error([*loc, "fix"], problem))
    return problems


def _check_criterion(doc: YamlDocument, rubric: Rubric, loc: list[int | str], criterion: Criterion) -> None:
    """A criterion's judge, check, inputs, settings and severity, against what the judges offer."""
    if criterion.judge == VISION:
        if isinstance(criterion.severity, SeverityBands):
            raise doc.error(
                [*loc, "severity"],
                "vision criteria have no measure to set bands on; give one level: mild, moderate or severe",
            )
        return  # answered by vision judges from its 'ask'; nothing else to check
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
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = ", ".join(check.settings_model.model_fields) or "none"
            message = f"check '{check.name}' has no setting '{err['loc'][-1]}'; its settings are: {known}"
        raise doc.error([*loc, "settings", *err["loc"]], message) from exc
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


def _non_finite(value: Any, loc: list[int | str]) -> Iterator[tuple[list[int | str], float]]:
    """Every NaN or infinity in a parsed document (YAML's ``.nan``, ``.inf``), with where it is."""
    if isinstance(value, float) and not math.isfinite(value):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, [*loc, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, [*loc, index])


def _mask_marks_problem(doc: YamlDocument, rubric: Rubric) -> ConfigError | None:
    """``mask_marks`` written on a task without a mask: it means nothing there, so the author expected a mask."""
    if "mask_marks" in rubric.model_fields_set and "mask" not in rubric.inputs:
        return doc.error(
            ["mask_marks"],
            "only a task with a 'mask' input uses mask_marks: add 'mask' to 'inputs', or remove mask_marks",
        )
    return None


def load_rubric(path: Path) -> Rubric:
    """Load and fully validate one rubric file; ConfigError names file, line, field and problem."""
    doc = read_yaml(path)
    # Before the models see them: a NaN passes no bound check and fails every comparison, so a model's message for
    # it would talk of the bound ("must be ≥ 0") or of an order ("severe must be lower than moderate").
    non_finite = [doc.error(loc, f"must be a finite number, not {value}") for loc, value in _non_finite(doc.data, [])]
    if non_finite:
        raise ConfigError("\n".join(p.message for p in non_finite), field=non_finite[0].field)
    rubric = doc.validate(Rubric)
    problems = _criteria_problems(doc, rubric)
    mask_marks = _mask_marks_problem(doc, rubric)
    if mask_marks is not None:
        problems.append(mask_marks)
    if path.stem != rubric.id:
        problems.insert(0, doc.error(["id"], f"id '{rubric.id}' must match the file name '{path.stem}'"))
    if problems:
        raise ConfigError("\n".join(p.message for p in problems), field=problems[0].field)
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
