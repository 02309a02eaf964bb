"""A real ``sentinel serve`` whose only route goes to one OpenAI-shaped provider at ``provider_url``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from tests.conftest import clean_env, start_server


@contextmanager
def serve_with_one_provider(tmp: Path, provider_url: str) -> Iterator[str]:
    """Yields the server's base URL; its blobs are under ``tmp / "data" / "blobs"``."""
    routes = {
        "providers": {"only": {"kind": "openai", "base_url": f"{provider_url}/v1", "api_key_env": "ONLY_KEY"}},
        "models": {"solo": {"candidates": [{"target": "only:dall-e-3"}]}},
        "default_model": "solo",
        "max_passes": 1,
    }
    (tmp / "routes.yaml").write_text(yaml.safe_dump(routes))
    env = clean_env(SENTINEL_DATA_DIR=str(tmp / "data"), SENTINEL_ROUTES=str(tmp / "routes.yaml"), ONLY_KEY="k")
    server, base = start_server(env, tmp / "serve.log")
    try:
        yield base
    finally:
        server.stop()
