"""`sentinel serve` on a routing file of the test's own (its providers fakes on 127.0.0.1, their key in FAKE_KEY),
with its data in a folder of the test's: the gateway as a client sees it, and the SQLite file to read its call log."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import clean_env, start_server


@contextlib.contextmanager
def serving_routes(folder: Path, routes: dict[str, Any], **env: str) -> Iterator[tuple[str, Path]]:
    """The server's base URL and its database file, for as long as the block runs (``env``: settings on top)."""
    (folder / "routes.yaml").write_text(yaml.safe_dump(routes))
    settings = clean_env(
        SENTINEL_DATA_DIR=str(folder / "data"), SENTINEL_ROUTES=str(folder / "routes.yaml"), FAKE_KEY="k"
    )
    server, base = start_server(settings | env, folder / "serve.log")
    try:
        yield base, folder / "data" / "sentinel.db"
    finally:
        server.stop()
