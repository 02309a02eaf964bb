"""`/v1/models` as a client choosing a model reads it: each candidate's provider, model, mapped sizes and quality
tiers, and prices; and only the quality tiers some candidate maps, which are also the only ones a request may ask."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sentinel.errors import ConfigError
from sentinel.providers.config import load_routing
from tests.conftest import clean_env, start_server

ROUTES: dict[str, Any] = {
    "providers": {
        "local": {"kind": "local"},
        "openai": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "CATALOG_TEST_OPENAI_KEY"},
        "google": {"kind": "google", "base_url": "http://127.0.0.1:9", "api_key_env": "CATALOG_TEST_GOOGLE_KEY"},
    },
    "models": {
        "plain": {"candidates": [{"target": "local:procedural"}], "sizes": ["1024x1024", "512x512"]},
        "tiered": {
            "sizes": ["1024x1024", "1792x1024"],
            "cost_per_image": 0.03,
            "candidates": [
                {
                    "target": "openai:gpt-image-2.6-flare",
                    "sizes": {"1024x1024": "1024x1024", "1792x1024": "1536x1024"},
                    "quality": {"standard": {"quality": "medium"}, "hd": {"quality": "high"}},
                    "prices": {"1792x1024/hd": 0.25, "*/hd": 0.17},
                    "cost_per_image": 0.04,
                    "weight": 3,
                },
                {"target": "google:gemini-nano-banana-2.1", "sizes": {"1024x1024": {"aspect_ratio": "1:1"}}},
            ],
        },
    },
    "default_model": "plain",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """`sentinel serve` on this routing file, with the OpenAI key set and the Google key not."""
    tmp = tmp_path_factory.mktemp("catalog")
    (tmp / "routes.yaml").write_text(yaml.safe_dump(ROUTES, sort_keys=False))
    env = clean_env(
        SENTINEL_ROUTES=str(tmp / "routes.yaml"), SENTINEL_DATA_DIR=str(tmp / "data"), CATALOG_TEST_OPENAI_KEY="sk-t"
    )
    env.pop("CATALOG_TEST_GOOGLE_KEY", None)
    server, base = start_server(env, tmp / "serve.log")
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            yield http
    finally:
        server.stop()


def models(client: httpx.Client) -> dict[str, dict[str, Any]]:
    answer = client.get("/v1/models")
    assert answer.status_code == 200, answer.text
    return {entry["id"]: entry for entry in answer.json()["data"]}


def test_a_route_whose_candidates_map_no_quality_advertises_none_and_refuses_one(client) -> None:
    plain = models(client)["plain"]
    assert "quality" not in plain["parameters"]
    answer = client.post("/v1/images/generations", json={"prompt": "a lighthouse", "model": "plain", "quality": "hd"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "quality"
    assert "supported: none" in answer.json()["error"]["message"]


def test_a_route_advertises_exactly_the_tiers_its_candidates_map(client) -> None:
    assert models(client)["tiered"]["parameters"]["quality"]["enum"] == ["standard", "hd"]


def test_each_candidate_shows_provider_model_mapping_and_prices(client) -> None:
    openai, google = models(client)["tiered"]["candidate_details"]
    assert (openai["provider"], openai["model"], openai["kind"]) == ("openai", "gpt-image-2.6-flare", "openai")
    assert openai["configured"] is True and openai["weight"] == 3 and openai["parked"] is None
    assert openai["sizes"] == {"1024x1024": "1024x1024", "1792x1024": "1536x1024"}
    assert openai["qualities"] == {"standard": {"quality": "medium"}, "hd": {"quality": "high"}}
    prices = {(row["size"], row["quality"]): row["usd_per_image"] for row in openai["prices"]}
    assert prices == {
        ("1024x1024", "standard"): 0.04,
        ("1024x1024", "hd"): 0.17,
        ("1792x1024", "standard"): 0.04,
        ("1792x1024", "hd"): 0.25,
    }
    # Google maps no tier and only one size, and its key is not set here.
    assert google["configured"] is False
    assert google["sizes"] == {"1024x1024": {"aspect_ratio": "1:1"}} and google["qualities"] == {}
    assert {(row["size"], row["quality"]): row["usd_per_image"] for row in google["prices"]} == {
        ("1024x1024", "standard"): 0.03,
        ("1024x1024", "hd"): 0.03,
    }
    plain = models(client)["plain"]["candidate_details"][0]
    assert plain["sizes"] == {"1024x1024": "1024x1024", "512x512": "512x512"}
    assert [row["quality"] for row in plain["prices"]] == [None, None]


def test_a_routing_file_listing_a_tier_no_candidate_maps_is_refused(tmp_path: Path) -> None:
    routes = yaml.safe_load(yaml.safe_dump(ROUTES))
    routes["models"]["plain"]["qualities"] = ["standard", "hd"]
    (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
    with pytest.raises(ConfigError, match="mapped by no candidate"):
        load_routing(tmp_path / "routes.yaml")


def test_the_shipped_routes_advertise_only_mapped_tiers() -> None:
    for name, route in load_routing().models.items():
        mapped = {tier for candidate in route.candidates for tier in (candidate.quality or {})}
        assert set(route.qualities) <= mapped, name
