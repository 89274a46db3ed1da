"""Risk metrics of an account's portfolio: one-day VaR by three methods and the limit check.

The risk universe is seeded and fixed at start: :func:`trading_agent.data.synthetic_portfolio`
gives every symbol's daily mean and covariance of log returns, and
:func:`trading_agent.data.synthetic_returns` a ``history_days`` return history for historical
VaR. An account's VaR uses only the symbols it holds: exposures ``x_i = q_i * mark_i``, portfolio
value ``V = sum |x_i|`` (gross), weights ``x_i / V`` (signed, so shorts count as shorts).

Limits are :mod:`trading_agent.risk.limits` evaluated at the request time (``now_s`` is passed
in; this module reads no clock). Everything here is a pure function of its arguments or of
the immutable :class:`RiskModel`, so requests compute in parallel threads.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trading_agent.data import synthetic_portfolio, synthetic_returns
from trading_agent.risk.limits import PortfolioState, RiskLimits, check_limits
from trading_agent.risk.var import historical_var, monte_carlo_var, parametric_var
from trading_agent.service.desk import Exposure
from trading_agent.service.schemas import BreachOut, LimitsOut, RiskOut, VarOut

ACCOUNT_LIMITS = RiskLimits(max_gross_exposure=5_000_000.0, max_net_exposure=3_000_000.0,
                            max_position_notional=1_500_000.0, max_concentration_pct=60.0, max_var=150_000.0,
                            max_drawdown_pct=20.0, max_orders_per_window=50, order_window_s=1.0)


@dataclass(frozen=True, eq=False)
class RiskModel:
    """Return statistics of the universe, aligned with ``symbols``: ``mu`` (N,) and ``cov`` (N, N)
    of daily log returns, ``history`` (T, N) daily log returns, ``cov_simple`` (N, N) of daily
    simple returns (what the limit check's VaR wants)."""

    symbols: tuple[str, ...]
    mu: np.ndarray
    cov: np.ndarray
    history: np.ndarray
    cov_simple: np.ndarray
    limits: RiskLimits = ACCOUNT_LIMITS

    @classmethod
    def seeded(cls, n_symbols: int, seed: int, history_days: int) -> RiskModel:
        p = synthetic_portfolio(n_symbols, seed)
        hist = synthetic_returns(p, history_days, seed + 1)
        return cls(p.symbols, p.mu, p.cov, hist, np.cov(np.expm1(hist), rowvar=False).reshape(n_symbols, n_symbols))

    def columns(self, symbols: tuple[str, ...]) -> np.ndarray:
        index = {s: i for i, s in enumerate(self.symbols)}
        try:
            return np.array([index[s] for s in symbols], dtype=int)
        except KeyError as exc:
            raise KeyError(f"symbol {exc.args[0]!r} is not in the risk universe "
                           f"({self.symbols[0]}..{self.symbols[-1]})") from None


_METHODS = {"historical": ("historical",), "parametric": ("parametric",), "both": ("historical", "parametric"),
            "monte_carlo": ("monte_carlo",), "all": ("historical", "parametric", "monte_carlo")}


def assess(model: RiskModel, exp: Exposure, *, method: str = "both", confidence: float = 0.99,
           scenarios: int = 10_000, seed: int = 0, now_s: float) -> RiskOut:
    """VaR of ``exp`` and the limit check at ``now_s``. ``method``: ``historical``, ``parametric``,
    ``both`` (those two), ``monte_carlo`` or ``all``; Monte Carlo draws ``scenarios`` scenarios
    from a generator seeded with ``seed``, so the same state gives the same number."""
    wanted = _METHODS.get(method)
    if wanted is None:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    idx = model.columns(exp.symbols)
    x = exp.quantities * exp.prices
    value = float(np.abs(x).sum())
    var: dict[str, float | None] = {"historical": None, "parametric": None, "monte_carlo": None}
    if value > 0:
        w = x / value
        cov = model.cov[np.ix_(idx, idx)]
        if "historical" in wanted:
            var["historical"] = historical_var(model.history[:, idx], w, value, confidence)
        if "parametric" in wanted:
            var["parametric"] = parametric_var(model.mu[idx], cov, w, value, confidence)
        if "monte_carlo" in wanted:
            var["monte_carlo"] = monte_carlo_var(model.mu[idx], cov, w, value, n_scenarios=scenarios,
                                                 confidence=confidence, rng=np.random.default_rng(seed))
    else:  # a flat book loses nothing
        var.update({m: 0.0 for m in wanted})
    limits, error = None, None
    if exp.equity > 0:
        state = PortfolioState(exp.symbols, exp.quantities, exp.prices, model.cov_simple[np.ix_(idx, idx)],
                               exp.equity, max(exp.peak_equity, exp.equity), exp.order_times_s)
        res = check_limits(state, model.limits, now_s)
        limits = LimitsOut(ok=res.ok, n_checks=res.n_checks,
                           breaches=[BreachOut(limit=b.limit, value=b.value, threshold=b.threshold, symbol=b.symbol)
                                     for b in res.breaches])
    else:
        error = f"equity is {exp.equity:.2f} (not positive): limits relative to equity cannot be judged"
    out = VarOut(**var, monte_carlo_scenarios=scenarios if "monte_carlo" in wanted else None,
                 history_days=len(model.history))
    return RiskOut(account=exp.account, confidence=confidence, method=method, portfolio_value=value,
                   net_exposure=float(x.sum()), equity=exp.equity, var=out, limits=limits, limits_error=error)
