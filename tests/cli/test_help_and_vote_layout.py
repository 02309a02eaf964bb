"""What the CLI shows a person at a terminal: ``--help`` names what to type after an option (nothing after a flag,
one value for a repeatable option), and a single image's vote stays readable in an 80-column terminal."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import click
import pytest
import typer.main
from typer.testing import CliRunner

from sentinel.cli import app
from tests.conftest import REPO, SENTINEL, clean_env


def _command_paths(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*path, name))


def test_no_command_labels_a_flag_bool_or_a_repeatable_option_a_list() -> None:
    runner = CliRunner()
    checked = 0
    for path in _command_paths(typer.main.get_command(app)):
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "160"})
        assert shown.exit_code == 0, (path, shown.output)
        assert "<bool>" not in shown.output, (path, shown.output)
        assert "list[" not in shown.output, (path, shown.output)
        checked += 1
    assert checked > 30  # every command and group, not only the top


def test_a_repeatable_option_and_a_value_option_keep_their_value_label() -> None:
    shown = CliRunner().invoke(app, ["eval", "--help"], env={"COLUMNS": "160"})
    param_line = next(line for line in shown.output.splitlines() if "--param" in line)
    task_line = next(line for line in shown.output.splitlines() if "--task" in line)
    json_line = next(line for line in shown.output.splitlines() if "--json" in line)
    assert "<str>" in param_line and "<str>" in task_line
    assert "<" not in json_line.split("--json", 1)[1].split("print", 1)[0]


@pytest.mark.parametrize("columns", [80, 100])
def test_a_vote_in_a_narrow_terminal_keeps_each_detail_whole(columns: int) -> None:
    done = subprocess.run(
        [SENTINEL, "eval", "fixtures/text-to-image/good-astronaut.jpg", "--task", "text-to-image"],
        env=clean_env(COLUMNS=str(columns)),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line) <= columns for line in lines), [line for line in lines if len(line) > columns]
    # The detail reads as a sentence under its criterion, not a word a line in a squeezed column.
    at = next(i for i, line in enumerate(lines) if line.startswith("pixels  not-blank"))
    assert "measured 77.18" in lines[at] and "threshold 4.0" in lines[at]
    assert lines[at + 1].strip() == "image has content (luminance varies by 77.2)"


def test_a_vote_in_a_wide_terminal_is_a_table() -> None:
    done = subprocess.run(
        [SENTINEL, "eval", "fixtures/text-to-image/good-astronaut.jpg", "--task", "text-to-image"],
        env=clean_env(COLUMNS="160"),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if line.startswith("judge"))
    assert header.split() == ["judge", "criterion", "result", "measured", "threshold", "detail"]
