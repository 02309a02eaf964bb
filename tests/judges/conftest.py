"""Each test reads its pictures' words itself: the OCR pages a process remembers by image hash (shared by the text
judge and the vision judges' scan) would let one test's read answer another's, which some tests time or count."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def pages_read_afresh() -> Iterator[None]:
    yield
    text = sys.modules.get("sentinel.evaluation.judges.text")
    if text is not None:
        text._pages.clear()
