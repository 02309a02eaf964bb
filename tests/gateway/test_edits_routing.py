"""Which candidates an edit walks, as a client of `sentinel serve` sees it: only those whose adapter can edit are
called (the others are no attempts), over real HTTP to fake OpenAI and Stability servers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import pytest
import yaml

from sentinel_fakes.openai import create_app as openai_app
from sentinel_fakes.server import Script, serve
from sentinel_fakes.stability import create_app as stability_app
from tests.conftest import clean_env, start_server
from tests.gateway.test_edits import ball_mask, picture


class Gateway(NamedTuple):
    base: str
    openai: Script
    stability: Script


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("edit-routing")
    openai_script, stability_script = Script(), Script()
    with serve(openai_app(openai_script)) as oa, serve(stability_app(stability_script)) as stab:
        routes: dict[str, Any] = {
            "providers": {
                "oa": {"kind": "openai", "base_url": f"{oa.url}/v1", "api_key_env": "FAKE_KEY", "timeout_seconds": 5},
                "stab": {"kind": "stability", "base_url": stab.url, "api_key_env": "FAKE_KEY", "timeout_seconds": 5},
            },
            "models": {
                "mixed": {"candidates": [{"target": "stab:stable-image-core"}, {"target": "oa:gpt-image-1"}]},
                "inpaint": {"candidates": [{"target": "stab:inpaint"}]},
                "core": {"candidates": [{"target": "stab:stable-image-core"}]},
            },
            "default_model": "mixed",
        }
        (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
        env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"), SENTINEL_ROUTES=str(tmp / "routes.yaml"), FAKE_KEY="k")
        server, base = start_server(env, tmp / "serve.log")
        try:
            yield Gateway(base, openai_script, stability_script)
        finally:
            server.stop()


def edit(base: str, model: str, prompt: str = "remove the ball") -> httpx.Response:
    return httpx.post(
        f"{base}/v1/images/edits",
        files={"image": ("photo.png", picture(), "image/png"), "mask": ("mask.png", ball_mask(), "image/png")},
        data={"prompt": prompt, "model": model},
        timeout=30,
    )


def test_an_edit_skips_candidates_that_cannot_edit_without_counting_them(gateway: Gateway) -> None:
    stability_calls = len(gateway.stability.requests)
    answer = edit(gateway.base, "mixed")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-sentinel-provider"] == "oa"
    assert answer.headers["x-sentinel-attempts"] == "1"
    assert [a["provider"] for a in answer.json()["sentinel"]["attempts"]] == ["oa"]
    assert len(gateway.stability.requests) == stability_calls  # Stable Image Core was never asked to edit
    sent = gateway.openai.requests[-1]
    assert sent["path"] == "/v1/images/edits" and sent["body"]["files"] == ["image[]", "mask"]


def test_a_stability_inpaint_route_edits_through_the_gateway(gateway: Gateway) -> None:
    answer = edit(gateway.base, "inpaint", prompt="a small green plant")
    assert answer.status_code == 200, answer.text
    sent = gateway.stability.requests[-1]
    assert sent["path"] == "/v2beta/stable-image/edit/inpaint" and sent["files"] == ["image", "mask"]
    assert 0 < sent["mask_white"] < 0.5


def test_a_model_that_cannot_edit_is_400_naming_it_and_calls_nobody(gateway: Gateway) -> None:
    calls = len(gateway.stability.requests)
    answer = edit(gateway.base, "core")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == "model" and "'core'" in error["message"] and "mixed" in error["message"]
    assert len(gateway.stability.requests) == calls


def test_an_edit_only_model_cannot_generate(gateway: Gateway) -> None:
    answer = httpx.post(f"{gateway.base}/v1/images/generations", json={"prompt": "x", "model": "inpaint"}, timeout=30)
    assert answer.status_code == 400
    assert "'inpaint'" in answer.json()["error"]["message"] and answer.json()["error"]["param"] == "model"
