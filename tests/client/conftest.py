"""One served Sentinel for the client tests: the embedded defaults (SQLite, in-process broker, the offline `local`
provider), plus one deliberately slow model so that a wait can run out whatever the machine's speed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, clean_env, start_server

#: A model whose every image takes this long: longer than any wait a test gives it. Its jobs are `text-to-image`
#: ones, so that their evaluations, which arrive late, never land in another test's product-shot listing.
SLOW_SECONDS = 10


def routes_with_a_slow_model(path: Path) -> Path:
    """The default routes, plus ``slow-local``: the local renderer told to take SLOW_SECONDS per image."""
    routes = yaml.safe_load((REPO / "sentinel" / "providers" / "routes.yaml").read_text())
    routes["models"]["slow-local"] = {
        "sizes": ["1024x1024"],
        "candidates": [{"target": "local:procedural", "params": {"inject": "slow", "slow_seconds": SLOW_SECONDS}}],
    }
    path.write_text(yaml.safe_dump(routes))
    return path


@pytest.fixture(scope="session")
def sentinel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("client")
    env = clean_env(
        SENTINEL_DATA_DIR=str(tmp / "data"),
        SENTINEL_ROUTES=str(routes_with_a_slow_model(tmp / "routes.yaml")),
        # Evaluations by URL fetch Sentinel's own image URLs, on loopback.
        SENTINEL_FETCH_ALLOWED_NETWORKS="127.0.0.1/32",
        # The slow model's job is still running at the end: do not wait for it.
        SENTINEL_SHUTDOWN_GRACE_SECONDS="1",
    )
    server, base = start_server(env, tmp / "serve.log")
    try:
        yield base
    finally:
        server.stop()
