"""YAML aliases in operator files: anchors that share settings load; a file whose aliases multiply (a few hundred
bytes that spell out millions of values) or contain themselves is refused with the line, before anything walks it.
Every YAML file the service reads (rubrics, judges, routes, compare suites) goes through the same reader."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sentinel.errors import ConfigError
from sentinel.rubrics.loader import load_rubric
from sentinel.yamlfile import MAX_YAML_VALUES, read_yaml


def multiplying(levels: int) -> str:
    """Each level a list of nine aliases of the one before: 9**levels values once spelled out."""
    lines = ["id: lol", "title: T", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\ncriteria: []\n"


def test_aliases_that_multiply_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "lol.yaml"
    path.write_text(multiplying(6))  # 531,441 values, past the cap: the old reader loaded it without a word
    with pytest.raises(ConfigError, match=rf"lol.yaml:8: this value expands to more than {MAX_YAML_VALUES} values"):
        read_yaml(path)


def test_a_billion_laughs_is_refused_by_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "lol.yaml"
    path.write_text(multiplying(9))  # 387 million: the old reader's duplicate-key walk never finished
    done = subprocess.run(
        [sys.executable, "-m", "sentinel.cli", "rubrics", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "expands to more than" in done.stdout + done.stderr


def test_a_value_that_contains_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("id: loop\ntitle: T\nloop: &me [1, *me]\ncriteria: []\n")
    with pytest.raises(ConfigError, match=r"loop.yaml:3: this value contains itself through a YAML alias"):
        read_yaml(path)


def test_anchors_that_share_settings_load(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            id: shared
            title: Shared settings
            criteria:
              - id: white
                must: Border is white.
                judge: layout
                check: white_background
                settings: &white {min_white_fraction: 0.9}
              - id: white-again
                must: Border is white, checked twice.
                judge: layout
                check: white_background
                settings: *white
            """
        )
    )
    rubric = load_rubric(path)
    assert [c.settings for c in rubric.criteria] == [{"min_white_fraction": 0.9}] * 2


def test_a_key_named_twice_is_still_refused_inside_an_anchor(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("id: twice\ntitle: T\nbase: &b\n  x: 1\n  x: 2\nother: *b\ncriteria: []\n")
    with pytest.raises(ConfigError, match=r"twice.yaml:5: key 'x' appears twice \(first on line 4\)"):
        read_yaml(path)
