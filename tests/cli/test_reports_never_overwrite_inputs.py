"""A report never overwrites what the command reads, nor another report: `sentinel eval -o shots/*.jpg` (the report's
name forgotten) made the first photo the report's file, replaced by JSON with exit 0."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, SENTINEL, clean_env

PHOTO = REPO / "fixtures" / "product-white-background" / "good.jpg"


def _eval(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    command = [SENTINEL, "eval", *args, "--task", "product-white-background"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("option", ["--output", "--junit", "--html"])
def test_a_report_named_like_an_image_to_judge_is_refused_before_judging(tmp_path: Path, option: str) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    first, second = shots / "a.jpg", shots / "b.jpg"
    shutil.copy(PHOTO, first)
    shutil.copy(PHOTO, second)
    # As the shell expands `-o shots/*.jpg`: the first photo becomes the report's path.
    done = _eval(tmp_path, option, str(first), str(second))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "names an image file, which the report would replace" in done.stderr
    assert first.read_bytes() == PHOTO.read_bytes()
    # One of the images judged (through its folder, under another spelling of its path), whatever its name.
    renamed = shots / "c.report"
    shutil.copy(PHOTO, renamed)
    done = _eval(tmp_path, str(shots), str(renamed), option, str(shots / ".." / "shots" / "c.report"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is one of the images or files to judge" in done.stderr
    assert renamed.read_bytes() == PHOTO.read_bytes()


def test_two_reports_on_one_file_are_refused(tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    done = _eval(tmp_path, str(PHOTO), "--output", str(report), "--junit", str(report))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--output writes that file too" in done.stderr
    assert not report.exists()
