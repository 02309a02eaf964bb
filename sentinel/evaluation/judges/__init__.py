"""The built-in offline judge kinds, by name."""

from __future__ import annotations

from sentinel.evaluation.judges import edit, layout, pixels, text
from sentinel.evaluation.judges.base import JudgeKind

#: Every judge kind a rubric criterion may name, keyed by kind name.
KINDS: dict[str, JudgeKind] = {k.name: k for k in (pixels.kind, text.kind, layout.kind, edit.kind)}
