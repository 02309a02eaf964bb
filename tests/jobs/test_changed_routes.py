"""A job whose model the routing file no longer has (the server restarted with another one while the job ran) can
never get an image: its attempt fails at once, saying so, rather than being retried until the budget runs out."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import yaml

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server, write_fake_routes


def test_a_job_whose_model_was_removed_fails_naming_it(tmp_path: Path) -> None:
    script = Script(default="slow", slow_seconds=30)
    with serve(create_app(script)) as fake:
        routes = write_fake_routes(tmp_path / "routes.yaml", fake.url)
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp_path / "data"),
            SENTINEL_ROUTES=str(routes),
            SENTINEL_GENERATION_LEASE_SECONDS="3",
            SENTINEL_SWEEP_INTERVAL_SECONDS="1",
            FAKE_KEY="sk-fake",
        )
        server, base = start_server(env, tmp_path / "first.log")
        try:
            body = {"task": "text-to-image", "prompt": "a red ball", "max_attempts": 3, "budget_seconds": 240}
            created = httpx.post(f"{base}/v1/jobs", json=body, timeout=30)
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            deadline = time.monotonic() + 30
            while not script.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert script.requests, server.output()
        finally:
            server.kill()  # mid-call: the attempt is left generating

        # The routing file renames the model: the job's `house` is gone.
        renamed = yaml.safe_load(routes.read_text())
        renamed["models"] = {"home": renamed["models"]["house"]}
        renamed["default_model"] = "home"
        routes.write_text(yaml.safe_dump(renamed))
        server, base = start_server(env, tmp_path / "second.log")
        try:
            job = httpx.get(f"{base}/v1/jobs/{job_id}?wait=60", timeout=70).json()
            assert job["state"] == "failed", (job, server.output())
            assert "house" in job["reason"], job["reason"]
            assert len(script.requests) == 1  # nothing was asked of the provider again
        finally:
            server.stop()
