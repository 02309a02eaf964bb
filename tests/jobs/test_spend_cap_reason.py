"""A red job whose regeneration the caller's spend cap stopped says the cap stopped it (used, cap, reset), not that
max_attempts ran out: the caller then raises the right limit."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from tests.conftest import clean_env, start_server
from tests.keys.test_keys import create_key
from tests.support.never_sharp import write_never_sharp_rubric


def test_a_red_job_stopped_by_the_spend_cap_says_so(tmp_path: Path) -> None:
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    write_never_sharp_rubric(rubrics, "g6-never-sharp")
    routes = {
        "providers": {"local": {"kind": "local"}},
        "models": {"paid-local": {"candidates": [{"target": "local:procedural"}], "cost_per_image": 0.04}},
        "default_model": "paid-local",
    }
    (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp_path / "data"),
        SENTINEL_RUBRICS_DIR=str(rubrics),
        SENTINEL_ROUTES=str(tmp_path / "routes.yaml"),
        SENTINEL_API_KEY_CACHE_SECONDS="0",
    )
    token = create_key(env, "--name", "capped", "--spend-cap", "0.1", "--period", "day")
    headers = {"Authorization": f"Bearer {token}"}
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
            body = {"task": "g6-never-sharp", "prompt": "a red lighthouse", "max_attempts": 5}
            created = http.post("/v1/jobs", json=body)
            assert created.status_code == 202, created.text
            job = http.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 60}).json()
    finally:
        server.stop()
    assert [(a["verdict"], a["failure"]) for a in job["attempts"]] == [
        ("red", None),
        ("red", None),
        (None, "spend_cap_reached"),
    ], job
    assert job["verdict"] == "red"
    assert "max_attempts" not in job["reason"]
    assert job["reason"].startswith("regeneration stopped by the spend cap: key 'capped' has used $0.0800 of its $0.1")
    assert "resets at" in job["reason"] and "best attempt is returned, marked red" in job["reason"]
