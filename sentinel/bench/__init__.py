"""Benchmarks that print numbers: timing, throughput, memory and verdict-accuracy goals live here, not in tests.

One module per thing measured, each run by its ``sentinel bench`` command; what they share (Sentinel started in its
own processes, reading CPU and memory from /proc) is in ``harness``.
"""

from __future__ import annotations

from collections.abc import Callable

#: What a benchmark calls with each step it finished ("embedded: 20 runs measured"), so its command can show
#: progress instead of nothing until the final table.
Progress = Callable[[str], None]


def quiet(step: str) -> None:
    """The progress of a benchmark nobody watches (a test, a library caller)."""
