"""The fake provider an adapter's contract tests run against: a test module names its fake with ``fake_app``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentinel_fakes.server import Script, serve
from tests.providers.harness import FakeApp, RunningFake


@pytest.fixture(scope="module")
def fake(fake_app: FakeApp) -> Iterator[RunningFake]:
    """The module's fake on 127.0.0.1, one per test module (starting uvicorn per test would be slow): tests push
    behaviours onto its script and read what it recorded, so its state carries over from test to test."""
    script = Script()
    with serve(fake_app(script)) as server:
        yield RunningFake(server.url, script)
