"""n images where one fails: the others are returned, the failure is reported, only delivered images cost."""

from __future__ import annotations

import httpx
import pytest
import yaml
from sqlalchemy import create_engine
from sqlmodel import Session, select

from sentinel.models import ProviderCall
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server


def test_partial_success_returns_what_was_delivered(tmp_path) -> None:
    script = Script()
    with serve(create_app(script)) as fake:
        routes = {
            "providers": {"only": {"kind": "openai", "base_url": f"{fake.url}/v1", "api_key_env": "ONLY_KEY"}},
            "models": {"solo": {"candidates": [{"target": "only:dall-e-3"}], "cost_per_image": 0.04}},
            "default_model": "solo",
            "max_passes": 1,
        }
        (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
        data = tmp_path / "data"
        env = clean_env(SENTINEL_DATA_DIR=str(data), SENTINEL_ROUTES=str(tmp_path / "routes.yaml"), ONLY_KEY="k")
        server, base = start_server(env, tmp_path / "serve.log")
        try:
            script.push("content_filter")
            response = httpx.post(f"{base}/v1/images/generations", json={"prompt": "two cats", "n": 3}, timeout=30)
            # The call log is part of the request's one commit: it is there as soon as the answer is.
            with Session(create_engine(f"sqlite:///{data / 'sentinel.db'}")) as session:
                calls = list(session.exec(select(ProviderCall)))
        finally:
            server.stop()
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["data"]) == 2
    [failed] = body["sentinel"]["failed"]
    assert failed["outcome"] == "content_filtered"
    assert "content_policy_violation" in failed["message"]
    assert sorted(c.outcome for c in calls) == ["content_filtered", "ok", "ok"]
    assert sum(c.cost_estimate for c in calls) == pytest.approx(0.08)
    assert {c.image_id for c in calls if c.outcome == "ok"} == {i["id"] for i in body["sentinel"]["images"]}
