"""`sentinel keys create` with limits out of range: exit 2 naming the option, never a traceback or a cap of $inf."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import SENTINEL, clean_env


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--rpm", str(2**31)], "--rpm"),
        (["--rpm", "99999999999999999999"], "--rpm"),
        (["--spend-cap", "inf", "--period", "day"], "spend cap"),
        (["--spend-cap", "1e400", "--period", "month"], "spend cap"),
    ],
)
def test_limits_out_of_range_are_refused_naming_the_option(tmp_path, options, words) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path))
    made = subprocess.run(
        [SENTINEL, "keys", "create", "--name", "ci-bot", *options], env=env, capture_output=True, text=True
    )
    assert made.returncode == 2, (made.returncode, made.stderr[-2000:])
    assert words in made.stderr and "Traceback" not in made.stderr, made.stderr[-2000:]
    assert made.stdout == ""  # no secret printed for a key that was not made
