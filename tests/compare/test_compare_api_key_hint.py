"""`sentinel compare` on an installation that has API keys, without one: told to pass --api-key, not only that an
HTTP request lacked an Authorization header."""

from __future__ import annotations

import subprocess

import yaml

from tests.conftest import SENTINEL, clean_env


def test_compare_without_a_key_where_keys_exist_says_to_pass_one(tmp_path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    made = subprocess.run([SENTINEL, "keys", "create", "--name", "ci"], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"task": "text-to-image", "models": ["sentinel-local"], "prompts": ["a red ball"]}))
    # A wrong command (a key is missing), exit 2 as for a bad suite, run or --check alike.
    for extra in ([], ["--check"]):
        ran = subprocess.run(
            [SENTINEL, "compare", str(suite), *extra], env=env, capture_output=True, text=True, timeout=300
        )
        assert ran.returncode == 2, (extra, ran.returncode, ran.stderr[-2000:])
        assert "--api-key" in ran.stderr and "SENTINEL_API_KEY" in ran.stderr, ran.stderr[-2000:]
