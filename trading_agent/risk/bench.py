"""Benchmark factories for the risk engine (named in config/benchmarks.yaml)."""
from __future__ import annotations

import numpy as np

from trading_agent.data import index_log_returns, synthetic_portfolio, synthetic_returns
from trading_agent.operation import Operation
from trading_agent.risk.var import historical_var, monte_carlo_var, parametric_var

def var_historical(n_assets: int = 50, n_days: int = 1000, confidence: float = 0.99, seed: int = 7) -> Operation:
    """Historical VaR of a synthetic multi-asset portfolio over ``n_days`` of returns."""
    p = synthetic_portfolio(n_assets, seed)
    r = synthetic_returns(p, n_days, seed + 1)
    return Operation(lambda: historical_var(r, p.weights, p.value, confidence))


def var_historical_sp500(window_days: int = 250, confidence: float = 0.99, value: float = 1e6) -> Operation:
    """Rolling historical VaR over the real S&P 500 daily series (1999-2018): one VaR per day."""
    r = index_log_returns("sp500")
    windows = np.lib.stride_tricks.sliding_window_view(r, window_days)

    def run() -> np.ndarray:
        return -np.quantile(np.expm1(windows), 1.0 - confidence, axis=1) * value

    return Operation(run, items_per_call=len(windows))


def var_parametric(n_assets: int = 50, confidence: float = 0.99, seed: int = 7) -> Operation:
    p = synthetic_portfolio(n_assets, seed)
    return Operation(lambda: parametric_var(p.mu, p.cov, p.weights, p.value, confidence))


def var_monte_carlo(n_assets: int = 100, n_scenarios: int = 10_000, confidence: float = 0.99,
                    seed: int = 7) -> Operation:
    """Monte Carlo VaR over ``n_scenarios`` correlated scenarios of ``n_assets`` assets."""
    p = synthetic_portfolio(n_assets, seed)
    rng = np.random.default_rng(seed)
    return Operation(lambda: monte_carlo_var(p.mu, p.cov, p.weights, p.value, n_scenarios=n_scenarios,
                                             confidence=confidence, rng=rng))
