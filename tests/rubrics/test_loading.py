"""Rubrics are data: validated on load, with errors naming the file, the line and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sentinel.errors import ConfigError, InvalidInput
from sentinel.evaluation.rubric import validate_params
from sentinel.rubrics.loader import RubricRegistry, load_rubric
from sentinel.settings import get_settings

GOOD = """\
id: my-task
title: My task
params:
  text:
    type: string
    required: true
criteria:
  - id: decodes
    must: The image decodes.
    judge: pixels
    check: decodes
    critical: true
  - id: white
    must: Border is white.
    judge: layout
    check: white_background
    settings:
      min_white_fraction: 0.9
"""


def write(tmp_path: Path, text: str, name: str = "my-task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_builtin_rubrics_all_load() -> None:
    registry = RubricRegistry.from_dirs(get_settings().builtin_rubrics_dir)
    assert [r.id for r in registry.all()] == [
        "background-replace",
        "object-removal",
        "product-white-background",
        "text-render",
        "text-to-image",
    ]


def test_good_rubric_loads(tmp_path) -> None:
    rubric = load_rubric(write(tmp_path, GOOD))
    assert rubric.id == "my-task"
    assert rubric.judge_kinds() == ["pixels", "layout"]


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (("min_white_fraction: 0.9", "min_white_fraction: 1.5"), 18, ("criteria[1].settings.min_white_fraction", "1")),
        (("judge: layout", "judge: vibes"), 15, ("criteria[1].judge", "unknown judge kind 'vibes'")),
        (("check: white_background", "check: whiteness"), 16, ("criteria[1].check", "no check 'whiteness'")),
        (
            ("min_white_fraction: 0.9", "min_white: 0.9"),
            18,
            (
                "criteria[1].settings.min_white",
                "has no setting 'min_white'; its settings are: tolerance, min_white_fraction",
            ),
        ),
        (("    type: string\n", "    type: text\n"), 5, ("params.text.type", "string")),
        (("title: My task\n", ""), None, ("title", "Field required")),
        (("id: my-task", "id: other-task"), 1, ("id", "must match the file name")),
        (("    must: Border is white.\n", ""), 13, ("criteria[1].must", "Field required")),
    ],
)
def test_broken_rubric_names_file_line_and_field(tmp_path, change, line, words) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_rubric(path)
    message = caught.value.message
    assert message.startswith(str(path)), message
    if line is not None:
        assert f"{path}:{line}:" in message, message
    for word in words:
        assert word in message, message


def test_yaml_syntax_error_names_the_line(tmp_path) -> None:
    path = write(tmp_path, GOOD.replace("criteria:\n", "criteria: [\n"))
    with pytest.raises(ConfigError, match=rf"{path}:\d+: invalid YAML"):
        load_rubric(path)


def test_duplicate_key_is_an_error(tmp_path) -> None:
    path = write(tmp_path, GOOD.replace("title: My task\n", "title: My task\ntitle: Again\n"))
    with pytest.raises(ConfigError, match=r"key 'title' appears twice \(first on line 2\)"):
        load_rubric(path)


def test_edit_check_without_edit_inputs_is_refused(tmp_path) -> None:
    text = GOOD.replace("check: white_background", "check: white_background").replace(
        "    judge: layout\n    check: white_background\n    settings:\n      min_white_fraction: 0.9\n",
        "    judge: edit\n    check: changed_in_mask\n",
    )
    with pytest.raises(ConfigError, match="needs input"):
        load_rubric(write(tmp_path, text))


def test_user_folder_adds_and_overrides_tasks(tmp_path) -> None:
    write(tmp_path, GOOD)
    registry = RubricRegistry.from_dirs(get_settings().builtin_rubrics_dir, tmp_path)
    assert registry.get("my-task").title == "My task"
    assert registry.get("text-to-image").id == "text-to-image"


def test_params_are_validated_and_coerced() -> None:
    registry = RubricRegistry.from_dirs(get_settings().builtin_rubrics_dir)
    t2i = registry.get("text-to-image")
    assert validate_params(t2i, {"width": "1024", "height": 768}) == {"width": 1024, "height": 768}
    with pytest.raises(InvalidInput, match="must be ≥ 16"):
        validate_params(t2i, {"width": 0})
    replace = registry.get("background-replace")
    assert validate_params(replace, {"color": "white"}) == {"color": "#ffffff"}
    with pytest.raises(InvalidInput, match="colour like"):
        validate_params(replace, {"color": "not-a-colour"})
    render = registry.get("text-render")
    with pytest.raises(InvalidInput, match="needs param 'text'") as caught:
        validate_params(render, {"text": "   "})
    assert caught.value.field == "params.text"


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        (
            "    judge: vision\n",
            "my-task.yaml:19: criteria[2]: criterion 'looks' is judged by vision models: give it an 'ask'",
        ),
        (
            "    judge: vision\n    ask: Does it look right? Pass if yes.\n    check: decodes\n",
            "criterion 'looks' is judged by vision models: it takes 'ask', not 'check'",
        ),
        (
            "    judge: pixels\n    check: decodes\n    ask: Does it look right? Pass if yes.\n",
            "criterion 'looks': only 'judge: vision' criteria take an 'ask'",
        ),
    ],
)
def test_vision_criteria_take_an_ask_and_nothing_else(tmp_path, criterion, message) -> None:
    text = GOOD + "  - id: looks\n    must: It looks right.\n" + criterion
    with pytest.raises(ConfigError) as error:
        load_rubric(write(tmp_path, text))
    assert message in error.value.message


def test_a_vision_criterion_loads_and_shows_its_question(tmp_path) -> None:
    text = (
        GOOD
        + "  - id: looks\n    must: It looks right.\n    judge: vision\n    ask: Does it look right? Pass if yes.\n"
    )
    rubric = load_rubric(write(tmp_path, text))
    assert rubric.judge_kinds() == ["pixels", "layout", "vision"]
    assert rubric.public()["criteria"][2]["ask"] == "Does it look right? Pass if yes."


def test_every_criterions_problem_is_named_in_one_run(tmp_path) -> None:
    # A new author fixing a file one error per run needed five runs: all of them come at once, each with its line.
    path = write(
        tmp_path,
        """\
        id: not-my-task
        title: Several mistakes
        criteria:
          - id: one
            must: It is sharp.
            judge: pixel
            check: sharp
          - id: two
            must: It is sharp.
            judge: pixels
            check: sharpp
          - id: three
            must: It is sharp.
            judge: pixels
            check: sharp
            fix: "Make it {{ params.missing }}"
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_rubric(path)
    lines = caught.value.message.splitlines()
    assert len(lines) == 4, caught.value.message
    assert "id 'not-my-task' must match the file name" in lines[0]
    assert ":6: criteria[0].judge: unknown judge kind 'pixel'" in lines[1]
    assert ":11: criteria[1].check: judge 'pixels' has no check 'sharpp'" in lines[2]
    assert ":16: criteria[2].fix:" in lines[3]
