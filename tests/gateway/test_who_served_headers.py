"""An answer for which no provider was called (every candidate skipped) carries no empty ``x-sentinel-provider`` or
``x-sentinel-model`` header: it says none was called (``x-sentinel-attempts: 0``)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import clean_env, start_server


def test_no_call_no_empty_who_headers(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "providers:\n  paid: {kind: openai, base_url: 'https://example.invalid/v1', api_key_env: WHO_HEADERS_KEY}\n"
        "models:\n  only-paid: {cost_per_image: 0.04, candidates: [{target: 'paid:dall-e-3'}]}\n"
        "default_model: only-paid\n"
    )
    env = clean_env(SENTINEL_DATA_DIR=str(tmp_path / "data"), SENTINEL_ROUTES=str(routes))
    server, base = start_server(env, tmp_path / "serve.log")
    try:
        answer = httpx.post(f"{base}/v1/images/generations", json={"prompt": "a mug"}, timeout=30)
    finally:
        server.stop()
    assert answer.status_code >= 400, answer.text
    assert answer.headers["x-sentinel-attempts"] == "0"
    assert "x-sentinel-provider" not in answer.headers and "x-sentinel-model" not in answer.headers
