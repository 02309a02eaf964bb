"""A task that is always red on the offline renderer (no picture it draws is this sharp): a job of it regenerates
until max_attempts, which is what tests of the regeneration loop (caps, cancels) need."""

from __future__ import annotations

from pathlib import Path


def write_never_sharp_rubric(folder: Path, task: str) -> Path:
    """The rubric file of ``task`` in ``folder`` (made if missing); returns the folder, for SENTINEL_RUBRICS_DIR."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{task}.yaml").write_text(
        f"""\
id: {task}
title: sharper than anything drawn
inputs: [image]
criteria:
  - id: very-sharp
    must: The image is very sharp.
    judge: pixels
    check: sharp
    settings: {{min_sharpness: 100000}}
    severity: severe
    fix: Render crisp, in-focus edges.
"""
    )
    return folder
