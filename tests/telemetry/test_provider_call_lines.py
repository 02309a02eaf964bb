"""``sentinel serve``'s log has one line per request (the access line): httpx's own line for every provider call is
left out, its warnings are not."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from sentinel.telemetry.logging import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, httpx_level = list(root.handlers), root.level, httpx_logger.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    httpx_logger.setLevel(httpx_level)


def test_httpx_info_lines_are_left_out_and_its_warnings_kept(restored_logging) -> None:
    configure_logging("text")
    httpx_logger = logging.getLogger("httpx")
    assert not httpx_logger.isEnabledFor(logging.INFO)
    assert httpx_logger.isEnabledFor(logging.WARNING)
    assert logging.getLogger("sentinel.access").isEnabledFor(logging.INFO)
