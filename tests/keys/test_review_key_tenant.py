"""`keys create --scopes review` without `--tenant` makes a key that is a tenant of its own, whose review queue stays
empty (outside probe P2-F7): the command says so, naming `--tenant` and `admin`; keys that can see items do not."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import SENTINEL, clean_env


def create(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([SENTINEL, "keys", "create", *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    return result


def test_a_review_only_key_without_a_tenant_is_warned_about(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    warned = create(env, "--name", "reviewer", "--scopes", "review").stderr
    assert "warning: a review-only key without --tenant" in warned
    assert "--tenant" in warned and "admin" in warned


def test_keys_that_can_see_review_items_are_not_warned_about(tmp_path: Path) -> None:
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"))
    maker = create(env, "--name", "maker")
    assert "warning" not in maker.stderr
    tenant = create(env, "--name", "tenant-reviewer", "--scopes", "review", "--tenant", "acme").stderr
    admin = create(env, "--name", "all-reviewer", "--scopes", "review,admin").stderr
    both = create(env, "--name", "own-reviewer", "--scopes", "review,generate").stderr
    assert all("warning" not in said for said in (tenant, admin, both))
