"""Durations in the environment must be finite: `inf` would silently switch a safeguard off (a sweep that never
runs again, so no job ever expires; a fetch without a time limit) instead of being refused at start-up."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import SENTINEL, clean_env


@pytest.mark.parametrize(
    "variable",
    ["SENTINEL_SWEEP_INTERVAL_SECONDS", "SENTINEL_FETCH_TIMEOUT_SECONDS", "SENTINEL_EVALUATION_STALLED_SECONDS"],
)
def test_an_infinite_duration_is_refused_naming_the_variable(tmp_path, variable) -> None:
    ran = subprocess.run(
        [SENTINEL, "doctor", "--json"],
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path), **{variable: "inf"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 2, (ran.returncode, ran.stdout[-1000:], ran.stderr[-1000:])
    assert variable in ran.stderr, ran.stderr[-2000:]
