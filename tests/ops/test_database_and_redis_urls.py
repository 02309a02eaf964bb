"""SENTINEL_DATABASE_URL and SENTINEL_REDIS_URL: a malformed value, or a database that cannot be reached, is one line
naming the variable (never a driver's traceback, never the password), and the SQLite file is private."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from sentinel.db import engine_for
from sentinel.settings import Settings
from tests.conftest import SENTINEL, clean_env, free_port


@pytest.mark.parametrize(
    ("variable", "url", "problem"),
    [
        ("SENTINEL_DATABASE_URL", "mysql://sentinel:hunter2hunter2@db/prod", "has the scheme 'mysql://'"),
        ("SENTINEL_DATABASE_URL", " postgresql://sentinel:hunter2hunter2@db/prod", "starts or ends with a space"),
        ("SENTINEL_DATABASE_URL", "db.internal:5432/prod", "has no scheme"),
        ("SENTINEL_DATABASE_URL", "postgresql://sentinel:hunter2hunter2@/prod", "names no host"),
        ("SENTINEL_REDIS_URL", "http://:hunter2hunter2@cache:6379/0", "has the scheme 'http://'"),
        ("SENTINEL_REDIS_URL", "127.0.0.1:6379", "has no scheme"),
        (
            "SENTINEL_REDIS_URL",
            "redis://:hunter2hunter2@cache:6379/sessions",
            "names the database 'sessions', which is not a number",
        ),
    ],
)
def test_a_malformed_url_stops_doctor_with_one_line(variable: str, url: str, problem: str, tmp_path: Path) -> None:
    # `sentinel doctor` is the command meant to say what is wrong: it must not end in a traceback.
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path), **{variable: url})
    result = subprocess.run([SENTINEL, "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {variable} {problem}; it must be"), result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_the_postgres_scheme_hosting_platforms_give_is_read_as_postgresql() -> None:
    settings = Settings(database_url="postgres://sentinel@db.internal:5432/prod")
    assert settings.database_url == "postgresql://sentinel@db.internal:5432/prod"


def test_a_database_that_cannot_be_reached_stops_serve_with_one_line(tmp_path: Path) -> None:
    url = f"postgresql://sentinel:hunter2hunter2@127.0.0.1:{free_port()}/prod"
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path), SENTINEL_DATABASE_URL=url)
    result = subprocess.run(
        [SENTINEL, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: SENTINEL_DATABASE_URL postgresql://sentinel:***@127.0.0.1"), result.stderr
    assert "Connection refused" in lines[0] and "hunter2" not in result.stderr


def test_the_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    # A data folder that exists already keeps the mode its owner gave it (here 0755): the database file inside must
    # still not be readable by other users, as the keys and secrets beside it are not.
    served, migrated = tmp_path / "served", tmp_path / "migrated"
    for folder in (served, migrated):
        folder.mkdir(mode=0o755)
    engine_for(Settings(data_dir=served)).dispose()
    env = clean_env(SENTINEL_DATA_DIR=str(migrated))
    subprocess.run([SENTINEL, "migrate"], env=env, capture_output=True, text=True, timeout=120, check=True)
    for folder in (served, migrated):
        files = sorted(folder.glob("sentinel.db*"))
        assert folder / "sentinel.db" in files
        assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files), [
            (path.name, oct(path.stat().st_mode)) for path in files
        ]
