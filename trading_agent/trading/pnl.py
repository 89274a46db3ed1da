"""Portfolio P&L: realised plus unrealised P&L of positions marked to current prices.

A pure function of its inputs (no clock, no I/O). All amounts are in account currency; marks
are currency per share. ``unrealised = sum(quantity * (mark - avg_price))``; flat positions
contribute only their realised P&L and need no mark.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trading_agent.trading.positions import Position


class MissingMarkError(KeyError):
    """An open position has no (finite) mark price."""


@dataclass(frozen=True, slots=True)
class PortfolioPnL:
    """P&L of a set of positions at a set of marks (currency).

    ``gross_exposure = sum(|quantity| * mark)``, ``net_exposure = sum(quantity * mark)``;
    ``total_pnl == realised_pnl + unrealised_pnl``.
    """

    realised_pnl: float
    unrealised_pnl: float
    gross_exposure: float
    net_exposure: float
    n_positions: int
    n_open: int

    @property
    def total_pnl(self) -> float:
        return self.realised_pnl + self.unrealised_pnl


def portfolio_pnl(positions: Iterable[Position], marks: Mapping[str, float]) -> PortfolioPnL:
    """P&L of ``positions`` marked at ``marks`` (symbol -> price).

    Raises :class:`MissingMarkError` naming the symbol when an open position has no mark or a
    non-finite one: a silently skipped position would be a wrong P&L.
    """
    realised = unrealised = gross = net = 0.0
    n = n_open = 0
    isfinite = math.isfinite
    for p in positions:
        n += 1
        realised += p.realised_pnl
        q = p.quantity
        if not q:
            continue
        mark = marks.get(p.symbol)
        if mark is None or not isfinite(mark):
            raise MissingMarkError(f"no finite mark for open position {p.account}/{p.symbol} "
                                   f"(quantity {q}); got {mark!r}")
        n_open += 1
        unrealised += q * (mark - p.avg_price)
        value = q * mark
        net += value
        gross += value if value > 0 else -value
    return PortfolioPnL(realised, unrealised, gross, net, n, n_open)
