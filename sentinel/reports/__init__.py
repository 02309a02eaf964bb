"""Report writers shared by the commands that judge many images (`sentinel eval`, `sentinel compare`) and the
exports: JSON Lines, JUnit XML and a self-contained HTML page.

Each writer is small and pure: it takes :class:`Outcome` rows and returns text. Nothing here imports numpy,
Pillow or the database at import time, so a command pays for a report only when it writes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: The verdicts, best first.
VERDICTS = ("green", "amber", "red")

#: What `--fail-on` takes: the least bad verdict that fails the run, or never.
FailOn = Literal["red", "amber", "never"]


@dataclass(frozen=True)
class Outcome:
    """One input of a batch: judged (``verdict`` set) or not (``error`` says why, naming no path: ``name`` does)."""

    #: How the input is named in every report: its path as given or found.
    name: str
    task: str | None
    verdict: str | None = None
    summary: str = ""
    #: Every failed criterion once, worst first: ``criterion``, ``judge``, ``severity``, ``critical``, ``detail``.
    issues: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    #: The whole verdict document, as JSON Lines carry it.
    document: dict[str, Any] = field(default_factory=dict)
    duration_ms: float | None = None
    #: A small ``data:`` URI of the image, for the HTML page (None when not made or not decodable).
    thumbnail: str | None = None

    @property
    def judged(self) -> bool:
        return self.error is None and self.verdict is not None


def fails(verdict: str | None, fail_on: FailOn) -> bool:
    """Whether a verdict meets the `--fail-on` threshold."""
    if fail_on == "never" or verdict not in VERDICTS:
        return False
    return VERDICTS.index(verdict) >= VERDICTS.index(fail_on)


def document_of(outcome: Outcome) -> dict[str, Any]:
    """The JSON object for one input: the verdict document, or the error with the same leading keys."""
    if outcome.error is not None:
        return {"image": outcome.name, "task": outcome.task, "verdict": None, "error": outcome.error}
    return {"image": outcome.name, **{k: v for k, v in outcome.document.items() if k != "image"}}


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    """How many inputs got each verdict, and how many could not be judged (``error``)."""
    tally = dict.fromkeys((*VERDICTS, "error"), 0)
    for outcome in outcomes:
        tally["error" if not outcome.judged else str(outcome.verdict)] += 1
    return tally
