"""An evaluation names the job it belongs to (`job_id`): a job's attempt's evaluation names its job, one a caller sent
in names none. Only the key's tenant reads either: another tenant's key never learns a job id through it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sentinel.client import Sentinel
from sentinel.keys.service import KeyService
from sentinel.settings import Settings
from sentinel.wiring import build_services
from tests.conftest import clean_env, own_postgres_database, png_bytes, start_server


@dataclass
class Served:
    base: str
    #: who (``a``, ``b``: tenants of their own) → secret.
    secrets: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[who]}"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory) -> Iterator[Served]:
    with ExitStack() as stack:
        data: Path = tmp_path_factory.mktemp(f"evaluation-job-id-{request.param}")
        database = (
            stack.enter_context(own_postgres_database())
            if request.param == "postgresql"
            else f"sqlite:///{data / 'db.sqlite'}"
        )
        # The keys are made as `sentinel keys create` makes them, in this process (a CLI start-up per key is slow).
        services = build_services(Settings(data_dir=data, database_url=database))  # type: ignore[call-arg]
        suffix = uuid.uuid4().hex[:8]
        keys = KeyService(services)
        secrets = {
            who: keys.create(f"job-id-{who}-{suffix}", ["evaluate", "generate"], tenant=f"{who}-{suffix}")[1]
            for who in ("a", "b")
        }
        services.engine.dispose()
        env = clean_env(SENTINEL_DATA_DIR=str(data), SENTINEL_DATABASE_URL=database)
        server, base = start_server(env, data / "serve.log", timeout=60)
        try:
            yield Served(base, secrets)
        finally:
            server.stop()


def test_a_jobs_evaluation_names_its_job_to_its_tenant_alone(served: Served) -> None:
    created = httpx.post(
        f"{served.base}/v1/jobs",
        json={"task": "text-to-image", "prompt": "a red ball on a table", "max_attempts": 1},
        headers=served.headers("a"),
        timeout=30,
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    job = httpx.get(f"{served.base}/v1/jobs/{job_id}?wait=30", headers=served.headers("a"), timeout=40).json()
    [evaluation_id] = [attempt["evaluation_id"] for attempt in job["attempts"] if attempt["evaluation_id"]]

    read = httpx.get(f"{served.base}/v1/evaluations/{evaluation_id}", headers=served.headers("a"), timeout=30)
    assert read.status_code == 200, read.text
    assert read.json()["job_id"] == job_id
    # The list, the JSONL export and the Python client show it too.
    listed = httpx.get(f"{served.base}/v1/evaluations", headers=served.headers("a"), timeout=30).json()["data"]
    assert {view["id"]: view["job_id"] for view in listed}[evaluation_id] == job_id
    exported = httpx.get(f"{served.base}/v1/evaluations/export", headers=served.headers("a"), timeout=30)
    assert f'"job_id":"{job_id}"' in exported.text
    with Sentinel(served.base, api_key=served.secrets["a"]) as client:
        assert client.get_evaluation(evaluation_id).job_id == job_id

    # Another tenant's key: the evaluation is not found, and its answer names no job.
    other = httpx.get(f"{served.base}/v1/evaluations/{evaluation_id}", headers=served.headers("b"), timeout=30)
    assert other.status_code == 404 and job_id not in other.text
    others_list = httpx.get(f"{served.base}/v1/evaluations", headers=served.headers("b"), timeout=30)
    others_export = httpx.get(f"{served.base}/v1/evaluations/export", headers=served.headers("b"), timeout=30)
    assert job_id not in others_list.text and job_id not in others_export.text


def test_an_evaluation_sent_in_names_no_job(served: Served) -> None:
    created = httpx.post(
        f"{served.base}/v1/evaluations",
        data={"task": "text-to-image"},
        files={"image": ("ball.png", png_bytes(256, 256))},
        headers=served.headers("a"),
        timeout=30,
    )
    assert created.status_code == 202, created.text
    assert created.json()["job_id"] is None
    read = httpx.get(f"{served.base}/v1/evaluations/{created.json()['id']}", headers=served.headers("a"), timeout=30)
    assert read.status_code == 200 and read.json()["job_id"] is None
    with Sentinel(served.base, api_key=served.secrets["a"]) as client:
        assert client.get_evaluation(created.json()["id"]).job_id is None
