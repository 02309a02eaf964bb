"""How a measurement reads, the same everywhere: in a criterion's detail text (written by the judges) and in the
pages' tables (which import this module), so one value never reads 116 in one place and 115 in the other."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

#: Significant digits a measurement keeps: enough to compare with a threshold, few enough to read at a glance.
SIGNIFICANT = 3


def number(value: float | int, digits: int = SIGNIFICANT) -> str:
    """``value`` to ``digits`` significant digits, but never fewer than its whole part (1470, not 1.47e+03) and
    never in exponent notation (0.0000123, not 1.23e-05); no trailing zeros (12, not 12.0); halves round up, as a
    person would (115.5 → 116, where Python's round-half-even formatting says 116 for 115.5 but 114 for 114.5)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        return "∞" if value > 0 else ("−∞" if value < 0 else "not a number")
    # repr() is the shortest text that reads back as the same float: 0.1 stays 0.1, not 0.1000000000000000055...
    exact = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if exact == 0:
        return "0"
    places = digits - 1 - exact.adjusted()
    # quantize() would need more precision than the context has for a huge value: whole numbers round by themselves.
    rounded = (
        exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if places > 0
        else exact.to_integral_value(rounding=ROUND_HALF_UP)
    )
    text = f"{rounded:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
