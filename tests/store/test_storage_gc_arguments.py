"""`sentinel storage gc` with durations out of range: exit 2 naming the option, never a traceback (and never a
deletion decided on a nonsense cut-off)."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import SENTINEL, clean_env


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--retention-days", "99999999999"], "--retention-days"),
        (["--retention-days", "1000000"], "--retention-days"),  # a cut-off before the year 1
        (["--retention-days", "nan"], "--retention-days"),
        (["--retention-days", "inf"], "--retention-days"),
        (["--grace-minutes", "nan"], "--grace-minutes"),
        (["--grace-minutes", "inf"], "--grace-minutes"),
        (["--grace-minutes", "1e300"], "--grace-minutes"),
    ],
)
def test_gc_durations_out_of_range_are_refused_naming_the_option(tmp_path, options, words) -> None:
    ran = subprocess.run(
        [SENTINEL, "storage", "gc", "--dry-run", *options],
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 2, (ran.returncode, ran.stderr[-2000:])
    assert words in ran.stderr and "Traceback" not in ran.stderr, ran.stderr[-2000:]


def test_a_retention_setting_past_a_century_is_refused_naming_it(tmp_path) -> None:
    ran = subprocess.run(
        [SENTINEL, "storage", "gc", "--dry-run"],
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path), SENTINEL_IMAGE_RETENTION_DAYS="1000000"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 2, (ran.returncode, ran.stderr[-2000:])
    assert "SENTINEL_IMAGE_RETENTION_DAYS" in ran.stderr and "Traceback" not in ran.stderr, ran.stderr[-2000:]
