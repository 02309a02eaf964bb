"""Parked candidates on the dashboard: a candidate whose provider said "no such model" is listed with the provider's
reason and the routes it is skipped in, in the JSON and on the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server
from tests.pages.login import log_in

REVIEWER_KEY = "parked-dashboard-reviewer-key"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("parked")
    script = Script(missing_models={"gpt-image-1"})
    with serve(create_app(script)) as fake:
        provider = {"kind": "openai", "base_url": f"{fake.url}/v1", "api_key_env": "FAKE_KEY", "timeout_seconds": 5}
        routes: dict[str, Any] = {
            "providers": {"old": provider, "spare": provider},
            "models": {
                "house": {"candidates": [{"target": "old:gpt-image-1"}, {"target": "spare:dall-e-3"}]},
                "legacy": {"candidates": [{"target": "old:gpt-image-1"}]},
            },
            "default_model": "house",
        }
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(tmp / "routes.yaml"),
            SENTINEL_REVIEWER_KEYS=f"admin:{REVIEWER_KEY}",
            FAKE_KEY="k",
        )
        server, base = start_server(env, tmp / "serve.log")
        try:
            body = {"prompt": "a lighthouse", "model": "house", "response_format": "b64_json"}
            answer = httpx.post(f"{base}/v1/images/generations", json=body, timeout=30)
            assert answer.status_code == 200, answer.text
            yield base
        finally:
            server.stop()


def test_the_dashboard_json_lists_parked_candidates_with_the_reason(gateway: str) -> None:
    summary = httpx.get(f"{gateway}/v1/dashboard", timeout=10).json()
    [parked] = summary["parked_candidates"]
    assert (parked["target"], parked["provider"], parked["model"]) == ("old:gpt-image-1", "old", "gpt-image-1")
    assert parked["routes"] == ["house", "legacy"]
    assert "does not exist" in parked["reason"]


def test_the_dashboard_page_shows_them(gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=10) as browser:
        assert log_in(browser, REVIEWER_KEY).status_code in (302, 303)
        page = browser.get("/dashboard").text
    assert "Parked candidates" in page
    reason = re.search(r'data-metric="parked_reason" data-key="old:gpt-image-1">([^<]*)', page)
    assert reason and "does not exist" in reason.group(1)
    assert 'data-metric="parked_routes" data-key="old:gpt-image-1">house, legacy<' in page
