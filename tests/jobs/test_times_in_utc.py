"""Times read back from PostgreSQL are in UTC whatever the database's TimeZone: managed databases often run in local
time, and a row's created_at then changed form (and calendar day) between the answer that made it and every read."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from tests.conftest import clean_env, own_postgres_database, start_server


def test_a_job_reads_back_in_utc_from_a_database_in_local_time(tmp_path: Path) -> None:
    with own_postgres_database() as url:
        given = make_url(url)
        admin = given.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"ALTER DATABASE \"{given.database}\" SET timezone = 'Pacific/Kiritimati'")
        env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_DATABASE_URL=url)
        server, base = start_server(env, tmp_path / "serve.log")
        try:
            body = {"task": "text-to-image", "prompt": "a red ball", "max_attempts": 1}
            created = httpx.post(f"{base}/v1/jobs", json=body, timeout=30)
            assert created.status_code == 202, created.text
            job = httpx.get(f"{base}/v1/jobs/{created.json()['id']}?wait=30", timeout=40).json()
            listed = httpx.get(f"{base}/v1/jobs", timeout=30).json()["data"]
        finally:
            server.stop()
    assert job["created_at"] == created.json()["created_at"]
    assert job["created_at"].endswith("+00:00") and job["finished_at"].endswith("+00:00"), job
    assert listed[0]["created_at"] == job["created_at"]
    assert all(a["started_at"].endswith("+00:00") for a in job["attempts"]), job["attempts"]
