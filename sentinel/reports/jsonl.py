"""JSON Lines: one object per input, one line each, whatever the number of inputs."""

from __future__ import annotations

import json
from typing import Any

from sentinel.reports import Outcome, document_of


def line(document: dict[str, Any]) -> str:
    """One object as one line (no newline inside: JSON escapes them), with its newline."""
    return json.dumps(document, ensure_ascii=False, default=str) + "\n"


def render(outcomes: list[Outcome]) -> str:
    return "".join(line(document_of(outcome)) for outcome in outcomes)
