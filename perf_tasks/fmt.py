"""Numbers for people: values with their units, margins, "no data". Pure; imported by every
presentation (terminal, report, Slack, run note, JUnit) so a value reads the same everywhere."""
from __future__ import annotations

import math

NO_DATA = "no data"


def format_value(value: float | None, unit: str) -> str:
    """``1,037 ms``, ``2.35 ms``, ``0.1336 ms``, ``12.5 MiB``, ``3.20%``; "no data" for a missing or
    non-finite value. Plain digits, never exponent notation (``1.04e+03`` reads as a typo)."""
    if value is None or not math.isfinite(value):
        return NO_DATA
    if unit == "bytes":
        return f"{value / 2**20:,.1f} MiB"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:,.2f}"
    elif value == 0:
        text = "0"
    else:
        text = _small(value)
    return f"{text} {unit}" if unit not in ("%",) else f"{text}%"


def _small(value: float) -> str:
    """4 significant digits of a value below 1, in plain decimals (0.0001021, not 1.021e-04)."""
    digits = max(1, 3 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def format_number(value: float) -> str:
    """A number without a unit, as :func:`format_value` writes it (chart labels, axis ticks)."""
    return format_value(value, "").strip()


def format_margin(margin: float, *, ascii_only: bool = True) -> str:
    """``12.3x``; an unbounded margin (0 measured against a maximum) ``inf`` (``∞`` when not ASCII);
    "no data" for NaN."""
    if math.isnan(margin):
        return NO_DATA
    if math.isinf(margin):
        return "inf" if ascii_only else "∞"
    return f"{margin:,.1f}x" if margin >= 0.1 else f"{margin:.2g}x"


def factor(value: float, threshold: float) -> str:
    """How far a value is from its threshold as a factor: ``10.4x the target`` (1,037 against 100),
    ``0.87x the target`` (873 against 1,000). "" when either side cannot say."""
    if not (math.isfinite(value) and math.isfinite(threshold)) or threshold == 0:
        return ""
    r = value / threshold
    return f"{r:,.1f}x the target" if r >= 10 else f"{r:.2f}x the target"
