"""`sentinel keys list` piped (CI, `| grep`): the ids people copy into `--tenant` and `keys revoke` come out whole."""

from __future__ import annotations

import subprocess

from tests.conftest import SENTINEL, clean_env


def test_piped_key_list_shows_whole_ids_and_tenants(tmp_path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path), COLUMNS="80")
    made = subprocess.run(
        [SENTINEL, "keys", "create", "--name", "ci-bot-with-a-long-name", "--scopes", "generate,evaluate,review,admin"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    listed = subprocess.run([SENTINEL, "keys", "list"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    key_id = made.stderr.split("(", 1)[1].split(";", 1)[0]
    assert key_id.startswith("key_")
    # The id appears whole twice (its own id, and the tenant it makes), never cut to 'key_ab…'.
    assert listed.stdout.count(key_id) == 2, listed.stdout
    assert "ci-bot-with-a-long-name" in listed.stdout, listed.stdout
    assert subprocess.run([SENTINEL, "keys", "revoke", key_id], env=env, capture_output=True).returncode == 0
