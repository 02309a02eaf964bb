"""The official OpenAI SDK pointed at a running Sentinel whose first provider answers 429."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from sentinel.store.images import sniff_mime
from sentinel_fakes.openai import create_app
from sentinel_fakes.server import Script, serve
from tests.conftest import clean_env, start_server


def write_routes(path: Path, alpha: str, beta: str) -> Path:
    routes = {
        "providers": {
            "alpha": {"kind": "openai", "base_url": f"{alpha}/v1", "api_key_env": "ALPHA_KEY", "timeout_seconds": 5},
            "beta": {"kind": "openai", "base_url": f"{beta}/v1", "api_key_env": "BETA_KEY", "timeout_seconds": 5},
        },
        "models": {
            "gpt-image-1": {
                "candidates": [{"target": "alpha:gpt-image-1"}, {"target": "beta:gpt-image-1"}],
                "sizes": ["1024x1024", "1536x1024"],
            }
        },
        "default_model": "gpt-image-1",
        "aliases": {"dall-e-3": "gpt-image-1"},
        "parked": {"dall-e-2": "retired; use gpt-image-1"},
    }
    path.write_text(yaml.safe_dump(routes))
    return path


@pytest.fixture(scope="module")
def sentinel_url(tmp_path_factory) -> Iterator[tuple[str, Script, Script]]:
    alpha_script, beta_script = Script(default="rate_limit"), Script()
    tmp = tmp_path_factory.mktemp("sdk")
    with serve(create_app(alpha_script)) as alpha, serve(create_app(beta_script)) as beta:
        env = clean_env(
            SENTINEL_DATA_DIR=str(tmp / "data"),
            SENTINEL_ROUTES=str(write_routes(tmp / "routes.yaml", alpha.url, beta.url)),
            SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
            ALPHA_KEY="sk-alpha",
            BETA_KEY="sk-beta",
        )
        server, base = start_server(env, tmp / "serve.log")
        try:
            yield base, alpha_script, beta_script
        finally:
            server.stop()


def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused-by-the-embedded-default", max_retries=0)


def test_b64_json_through_fallback_with_headers_naming_the_provider(sentinel_url) -> None:
    base, alpha, beta = sentinel_url
    raw = client(base).images.with_raw_response.generate(
        model="dall-e-3", prompt="a lighthouse at dusk", n=2, response_format="b64_json"
    )
    images = raw.parse()
    assert len(images.data) == 2
    for item in images.data:
        assert sniff_mime(base64.b64decode(item.b64_json)) == "image/png"
    assert raw.headers["x-sentinel-provider"] == "beta"
    assert raw.headers["x-sentinel-model"] == "gpt-image-1"
    assert int(raw.headers["x-sentinel-attempts"]) >= 3
    assert any(r["path"] == "/v1/images/generations" for r in alpha.requests)
    # The alias reached the provider as the model it stands for.
    assert beta.requests[-1]["body"]["model"] == "gpt-image-1"


def test_b64_json_is_written_while_sent_with_an_exact_length_and_replays_the_same(sentinel_url) -> None:
    base = sentinel_url[0]
    request = {"model": "dall-e-3", "prompt": "two boats", "n": 2, "response_format": "b64_json"}
    headers = {"Idempotency-Key": "boats-1"}
    first = httpx.post(f"{base}/v1/images/generations", json=request, headers=headers, timeout=30)
    replay = httpx.post(f"{base}/v1/images/generations", json=request, headers=headers, timeout=30)
    assert first.status_code == replay.status_code == 200
    assert int(first.headers["content-length"]) == len(first.content)
    body = first.json()
    # Each image's base64, in order, is the stored image's bytes, and the rest of the answer is intact around it.
    for item, image in zip(body["data"], body["sentinel"]["images"], strict=True):
        stored = httpx.get(f"{base}/v1/images/{image['id']}", timeout=10).content
        assert base64.b64decode(item["b64_json"], validate=True) == stored
        assert item["revised_prompt"] == "two boats, highly detailed"
    assert len({item["b64_json"] for item in body["data"]}) == 2
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["data"] == body["data"]


def test_url_response_serves_the_real_image_type(sentinel_url) -> None:
    base, _, beta = sentinel_url
    beta.push("octet_url")  # the provider's own URL claims application/octet-stream
    images = client(base).images.generate(model="gpt-image-1", prompt="a lighthouse", response_format="url")
    url = images.data[0].url
    assert url.startswith(f"{base}/v1/images/")
    served = httpx.get(url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert sniff_mime(served.content) == "image/png"
    assert images.created > 0


def test_unknown_model_raises_not_found_naming_it(sentinel_url) -> None:
    base, _, _ = sentinel_url
    with pytest.raises(openai.NotFoundError) as caught:
        client(base).images.generate(model="dall-e-9", prompt="x")
    assert "dall-e-9" in str(caught.value)
    assert caught.value.code == "model_not_found"


def test_bad_size_is_a_bad_request(sentinel_url) -> None:
    base, _, _ = sentinel_url
    with pytest.raises(openai.BadRequestError) as caught:
        client(base).images.generate(model="gpt-image-1", prompt="x", size="512x512")
    assert "size '512x512' is not supported" in str(caught.value)


def test_models_catalog_lists_models_aliases_and_parked(sentinel_url) -> None:
    base, _, _ = sentinel_url
    models = {m.id: m for m in client(base).models.list()}
    assert {"gpt-image-1", "dall-e-3", "dall-e-2"} <= set(models)
    body = httpx.get(f"{base}/v1/models").json()["data"]
    by_id = {m["id"]: m for m in body}
    assert by_id["dall-e-3"]["alias_of"] == "gpt-image-1"
    assert by_id["dall-e-2"]["parked"] == "retired; use gpt-image-1"
    assert by_id["gpt-image-1"]["parameters"]["size"]["enum"] == ["1024x1024", "1536x1024"]
    assert by_id["gpt-image-1"]["candidates"] == ["alpha:gpt-image-1", "beta:gpt-image-1"]
