"""The three verdicts, in a module of their own: low in the layers and free of the database layer, so the verdict
rule (and with it `sentinel eval`) uses them without loading SQLModel. :mod:`sentinel.models` re-exports them."""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """The panel's (or a reviewer's) word on an image: green passes, amber waits for a person, red fails."""

    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def rank(self) -> int:
        """Best first: for choosing a job's best attempt and its overall (worst chosen) verdict."""
        return VERDICT_ORDER.index(self)


VERDICT_ORDER = (Verdict.GREEN, Verdict.AMBER, Verdict.RED)
