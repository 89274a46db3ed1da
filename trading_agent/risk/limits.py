"""Risk limits evaluated against a portfolio state: a full check and a pre-trade check.

Exposures are in account currency, marked at the state's prices: position notional
``x_i = q_i * p_i``, gross ``sum |x_i|``, net ``|sum x_i|``. Concentration is ``|x_i|`` as a
percentage of equity (NAV). VaR is the one-day Gaussian VaR ``z * sqrt(x' C x)`` with ``C`` the
daily covariance of simple returns (zero mean, conservative at one day). Drawdown is the
percentage of equity below its peak. Order rate counts order submissions in the trailing
``order_window_s`` seconds, ``(now_s - order_window_s, now_s]``. A limit is breached when the
value is strictly above its threshold. No clock is read: ``now_s`` is an argument.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.stats import norm

GROSS = "gross_exposure"
NET = "net_exposure"
POSITION = "position_notional"
CONCENTRATION = "concentration_pct"
VAR = "var_1d"
DRAWDOWN = "drawdown_pct"
ORDER_RATE = "order_rate"
LIMIT_NAMES: tuple[str, ...] = (GROSS, NET, POSITION, CONCENTRATION, VAR, DRAWDOWN, ORDER_RATE)


@dataclass(frozen=True)
class RiskLimits:
    """Thresholds; currency amounts in account currency, ``*_pct`` in percent (0-100+)."""

    max_gross_exposure: float
    max_net_exposure: float
    max_position_notional: float  # per symbol, |q * p|
    max_concentration_pct: float  # per symbol, |q * p| / equity * 100
    max_var: float  # one-day VaR at var_confidence
    max_drawdown_pct: float
    max_orders_per_window: int  # orders allowed in any trailing order_window_s
    order_window_s: float = 1.0
    var_confidence: float = 0.99

    def __post_init__(self) -> None:
        for name in ("max_gross_exposure", "max_net_exposure", "max_position_notional",
                     "max_concentration_pct", "max_var", "max_drawdown_pct", "order_window_s"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"RiskLimits.{name} must be a positive finite number, got {v!r}")
        if self.max_orders_per_window < 1:
            raise ValueError(f"RiskLimits.max_orders_per_window must be >= 1, got {self.max_orders_per_window!r}")
        if not 0.5 < self.var_confidence < 1.0:
            raise ValueError(f"RiskLimits.var_confidence must be in (0.5, 1), got {self.var_confidence!r}")

    @cached_property
    def var_z(self) -> float:
        """Standard normal quantile at ``var_confidence`` (cached: ``norm.ppf`` costs ~50 us)."""
        return float(norm.ppf(self.var_confidence))


@dataclass(frozen=True, eq=False)
class PortfolioState:
    """Positions and the inputs the limits need. Arrays are aligned with ``symbols``.

    ``quantities``: signed units; ``prices``: mark, currency per unit (> 0); ``cov``: (N, N)
    daily covariance of simple returns; ``order_times_s``: recent order submission times.
    Invariant: ``0 < equity <= peak_equity``.
    """

    symbols: tuple[str, ...]
    quantities: np.ndarray
    prices: np.ndarray
    cov: np.ndarray
    equity: float
    peak_equity: float
    order_times_s: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.symbols)
        if len(set(self.symbols)) != n:
            raise ValueError("PortfolioState.symbols must be unique")
        if self.quantities.shape != (n,) or self.prices.shape != (n,):
            raise ValueError(f"quantities {self.quantities.shape} and prices {self.prices.shape} "
                             f"must both be ({n},) for {n} symbols")
        if self.cov.shape != (n, n):
            raise ValueError(f"cov must be ({n}, {n}), got {self.cov.shape}")
        if n and not (self.prices > 0).all():
            raise ValueError(f"prices must be > 0, got {self.prices[~(self.prices > 0)][0]!r}")
        if not 0 < self.equity <= self.peak_equity:
            raise ValueError(f"need 0 < equity <= peak_equity, got equity={self.equity!r}, "
                             f"peak_equity={self.peak_equity!r}")

    @cached_property
    def index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbols)}


@dataclass(frozen=True)
class Order:
    """A proposed order: signed ``quantity`` (buy > 0) of ``symbol``, valued at the state's mark."""

    symbol: str
    quantity: float


@dataclass(frozen=True)
class LimitBreach:
    """One limit over its threshold; ``symbol`` is set for per-symbol limits only."""

    limit: str
    value: float
    threshold: float
    symbol: str | None = None

    @property
    def ratio(self) -> float:
        """value / threshold (> 1 for a breach)."""
        return self.value / self.threshold


@dataclass(frozen=True)
class LimitCheckResult:
    """Every breach of one full check, portfolio limits first, then per-symbol in symbol order."""

    breaches: tuple[LimitBreach, ...]
    n_checks: int  # individual comparisons made (portfolio limits + 2 per symbol)

    @property
    def ok(self) -> bool:
        return not self.breaches


@dataclass(frozen=True)
class PreTradeResult:
    """Whether ``order`` may go; ``breaches`` are the post-trade breaches that refuse it."""

    order: Order
    allowed: bool
    breaches: tuple[LimitBreach, ...]


def _order_count(order_times_s: np.ndarray, now_s: float, window_s: float) -> int:
    t = order_times_s
    return int(np.count_nonzero((t > now_s - window_s) & (t <= now_s)))


def _drawdown_pct(state: PortfolioState) -> float:
    return (state.peak_equity - state.equity) / state.peak_equity * 100.0


def check_limits(state: PortfolioState, limits: RiskLimits, now_s: float) -> LimitCheckResult:
    """Evaluate every limit against ``state`` at time ``now_s`` (seconds)."""
    x = state.quantities * state.prices
    abs_x = np.abs(x)
    values = (
        (GROSS, float(abs_x.sum()), limits.max_gross_exposure),
        (NET, abs(float(x.sum())), limits.max_net_exposure),
        (VAR, limits.var_z * float(np.sqrt(max(x @ state.cov @ x, 0.0))), limits.max_var),
        (DRAWDOWN, _drawdown_pct(state), limits.max_drawdown_pct),
        (ORDER_RATE, float(_order_count(state.order_times_s, now_s, limits.order_window_s)),
         float(limits.max_orders_per_window)),
    )
    breaches = [LimitBreach(name, v, thr) for name, v, thr in values if v > thr]
    conc = abs_x * (100.0 / state.equity)
    for i in np.flatnonzero((abs_x > limits.max_position_notional) | (conc > limits.max_concentration_pct)):
        sym = state.symbols[i]
        if abs_x[i] > limits.max_position_notional:
            breaches.append(LimitBreach(POSITION, float(abs_x[i]), limits.max_position_notional, sym))
        if conc[i] > limits.max_concentration_pct:
            breaches.append(LimitBreach(CONCENTRATION, float(conc[i]), limits.max_concentration_pct, sym))
    return LimitCheckResult(breaches=tuple(breaches), n_checks=len(values) + 2 * len(state.symbols))


def pre_trade_check(state: PortfolioState, limits: RiskLimits, order: Order, now_s: float) -> PreTradeResult:
    """Would ``order`` (submitted at ``now_s``) breach a limit? O(N^2) for VaR, O(N) otherwise.

    The order is refused by a limit that is breached after the trade unless the trade
    strictly lowers that limit's value (risk-reducing orders stay allowed while a limit is
    already breached). Per-symbol limits are judged on the order's symbol only. The order
    cannot change drawdown: while drawdown is breached only orders that lower gross exposure
    pass. The order counts towards the order rate. Unknown symbols raise ``KeyError``:
    an order that cannot be checked must not be sent.
    """
    try:
        i = state.index[order.symbol]
    except KeyError:
        raise KeyError(f"order symbol {order.symbol!r} is not in the portfolio state; "
                       "cannot risk-check it") from None
    if not np.isfinite(order.quantity) or order.quantity == 0:
        raise ValueError(f"order quantity must be finite and non-zero, got {order.quantity!r}")
    x = state.quantities * state.prices
    d = order.quantity * state.prices[i]
    xi_new = x[i] + d
    gross0 = float(np.abs(x).sum())
    gross1 = gross0 - abs(x[i]) + abs(xi_new)
    net_sum = float(x.sum())
    cx = state.cov @ x
    s2_0 = float(x @ cx)
    s2_1 = s2_0 + 2.0 * d * float(cx[i]) + d * d * float(state.cov[i, i])
    z = limits.var_z
    conc = 100.0 / state.equity
    n_orders = _order_count(state.order_times_s, now_s, limits.order_window_s) + 1
    # (name, value before, value after, threshold, symbol)
    judged = (
        (GROSS, gross0, gross1, limits.max_gross_exposure, None),
        (NET, abs(net_sum), abs(net_sum + d), limits.max_net_exposure, None),
        (VAR, z * np.sqrt(max(s2_0, 0.0)), z * np.sqrt(max(s2_1, 0.0)), limits.max_var, None),
        (POSITION, abs(x[i]), abs(xi_new), limits.max_position_notional, order.symbol),
        (CONCENTRATION, abs(x[i]) * conc, abs(xi_new) * conc, limits.max_concentration_pct, order.symbol),
    )
    breaches = [LimitBreach(name, float(after), thr, sym)
                for name, before, after, thr, sym in judged if after > thr and not after < before]
    if n_orders > limits.max_orders_per_window:
        breaches.append(LimitBreach(ORDER_RATE, float(n_orders), float(limits.max_orders_per_window)))
    dd = _drawdown_pct(state)
    if dd > limits.max_drawdown_pct and not gross1 < gross0:
        breaches.append(LimitBreach(DRAWDOWN, dd, limits.max_drawdown_pct))
    return PreTradeResult(order=order, allowed=not breaches, breaches=tuple(breaches))
