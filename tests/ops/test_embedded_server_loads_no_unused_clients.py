"""An API on its defaults (SQLite, the in-process broker) loads no PostgreSQL, Redis or RabbitMQ client: each costs
a share of a second of CPU at every start of `sentinel serve` and of a CLI command that opens the database, for a
server that never speaks to one. Checked by what the process loads, not by a clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli_speed import loaded_by
from tests.conftest import clean_env

CLIENTS = ("psycopg", "redis", "pika")

#: The app as `sentinel serve` builds it (services, then the app with its embedded workers), asked what a load
#: balancer and a metrics scraper ask, then which of the watched modules the process holds.
SERVING = """
import json, sys
from fastapi.testclient import TestClient
from sentinel.api.app import create_app
from sentinel.wiring import get_services

get_services().engine
with TestClient(create_app(), base_url="http://localhost") as client:
    answers = [client.get(path).status_code for path in ("/healthz", "/readyz", "/metrics")]
loaded = sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)
print("LOADED " + json.dumps({"answers": answers, "loaded": loaded}))
"""


def test_an_api_on_sqlite_and_the_in_process_broker_loads_no_database_or_broker_client(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SERVING, json.dumps(CLIENTS)],
        capture_output=True,
        text=True,
        env=clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")),
        timeout=120,
    )
    marker = [line for line in result.stdout.splitlines() if line.startswith("LOADED ")]
    assert marker, result.stdout + result.stderr
    probe = json.loads(marker[-1].removeprefix("LOADED "))
    assert probe["answers"] == [200, 200, 200], probe
    assert probe["loaded"] == [], probe


def test_a_cli_command_on_the_sqlite_database_loads_no_database_or_broker_client(tmp_path: Path) -> None:
    probe = loaded_by(["keys", "list"], CLIENTS, clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data")))
    assert probe["code"] == 0
    assert probe["loaded"] == []
