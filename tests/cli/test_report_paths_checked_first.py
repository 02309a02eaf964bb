"""A report path that cannot be written (`sentinel eval --output/--junit/--html`, `sentinel compare --json/--html`)
is a usage error, exit 2 naming the option, before any image is judged or any job is run: never a traceback after
the (possibly paid) work, with its results lost."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import FIXTURES, SENTINEL, clean_env


def blocked(tmp_path: Path) -> Path:
    """A path whose folder cannot be made: a regular file stands where the folder would be."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "report"


@pytest.mark.parametrize("option", ["--output", "--junit", "--html"])
def test_eval_refuses_an_unwritable_report_before_judging(tmp_path, option) -> None:
    image = FIXTURES / "product-white-background" / "good.jpg"
    ran = subprocess.run(
        [SENTINEL, "eval", str(image), "--task", "product-white-background", option, str(blocked(tmp_path))],
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 2, (ran.returncode, ran.stderr[-2000:])
    assert option in ran.stderr and "Traceback" not in ran.stderr, ran.stderr[-2000:]
    assert ran.stdout == "", ran.stdout  # no image was judged


@pytest.mark.parametrize("option", ["--json", "--html"])
def test_compare_refuses_an_unwritable_report_before_running_jobs(tmp_path, option) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "task": "text-to-image",
                "models": ["sentinel-local"],
                "params": {"width": 256, "height": 256},
                "prompts": ["a red ball"],
                "max_attempts": 1,
            }
        )
    )
    data = tmp_path / "data"
    ran = subprocess.run(
        [SENTINEL, "compare", str(suite), option, str(blocked(tmp_path))],
        env=clean_env(SENTINEL_DATA_DIR=str(data)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 2, (ran.returncode, ran.stderr[-2000:])
    assert option in ran.stderr and "Traceback" not in ran.stderr, ran.stderr[-2000:]
    database = data / "sentinel.db"
    if database.exists():
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
