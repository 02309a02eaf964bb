"""The API process moves what start-up made out of the cyclic garbage collector's reach, as a worker does
(tests/worker/test_startup_objects_frozen.py): a full collection in a burst of uploads walked all of it, a pause of
every request on the event loop."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests.conftest import REDIS_URL, delete_redis_keys

#: In a fresh interpreter: freezing is for the whole process, and a test process's objects are not the API's.
PROBE = """
import gc
from fastapi.testclient import TestClient

before = gc.get_freeze_count()
from sentinel.api.app import create_app

with TestClient(create_app()) as client:
    assert client.get("/healthz").status_code == 200
    print(before, gc.get_freeze_count())
"""


def test_a_started_api_freezes_what_start_up_made(tmp_path) -> None:
    # With a broker of its own (Redis), the API runs no worker threads, whose start freezes the process as well.
    namespace = f"sentinel-test-{uuid.uuid4().hex[:8]}"
    env = {
        "PATH": "/usr/bin:/bin",
        "SENTINEL_DATA_DIR": str(tmp_path / "data"),
        "SENTINEL_REDIS_URL": REDIS_URL,
        "SENTINEL_REDIS_NAMESPACE": namespace,
    }
    try:
        shown = subprocess.run(
            [sys.executable, "-c", PROBE],
            capture_output=True,
            text=True,
            check=True,
            env=env | {k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        ).stdout.split()
    finally:
        delete_redis_keys(namespace)
    before, after = map(int, shown[-2:])
    assert before == 0
    # The modules the API imports (FastAPI, SQLAlchemy, the services) are well over 50,000 objects.
    assert after > 50_000
