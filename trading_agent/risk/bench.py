"""Benchmark factories for the risk engine (named in config/benchmarks.yaml)."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from trading_agent.data import index_log_returns, synthetic_portfolio, synthetic_returns
from trading_agent.operation import Operation, Stream
from trading_agent.risk.backtest import rolling_var_forecasts
from trading_agent.risk.var import historical_var, monte_carlo_var, parametric_var


def var_historical(n_assets: int = 50, n_days: int = 1000, confidence: float = 0.99, seed: int = 7) -> Operation:
    """Historical VaR of a synthetic multi-asset portfolio over ``n_days`` of returns."""
    p = synthetic_portfolio(n_assets, seed)
    r = synthetic_returns(p, n_days, seed + 1)
    return Operation(lambda: historical_var(r, p.weights, p.value, confidence))


def var_historical_sp500(window_days: int = 250, confidence: float = 0.99, value: float = 1e6, *,
                         mode: str = "single") -> Operation:
    """Historical VaR over the real S&P 500 daily series (1999-2018), by the system's own functions.

    ``mode="single"`` (default): one call = one VaR, :func:`trading_agent.risk.var.historical_var`
    of the next ``window_days``-day window (cycling through all ``len(returns) - window_days + 1``
    rolling windows, oldest first; the windows are views made in setup). Call k < T - window_days
    equals the backtest's forecast for day ``k + window_days``; the last window is today's VaR. ``mode="rolling"``: one call = every day's forecast,
    :func:`trading_agent.risk.backtest.rolling_var_forecasts` (``len(returns) - window_days``
    VaRs, the backtest's forecasts) times ``value``. Both return VaR in currency for ``value``.
    """
    r = index_log_returns("sp500")
    if not 2 <= window_days < r.size:
        raise ValueError(f"window_days must be in [2, {r.size - 1}], got {window_days}")
    if mode == "single":
        windows = list(sliding_window_view(r, window_days))  # call k: returns[k : k + window_days]
        weights = np.ones(1)
        historical_var(windows[0], weights, value, confidence)  # validates confidence
        stream = Stream(windows)

        def run() -> float:
            return historical_var(stream.item(), weights, value, confidence)

        return Operation(run, items_per_call=1, info={"mode": mode, "windows": len(stream),
                                                      "function": "trading_agent.risk.var.historical_var"})
    if mode == "rolling":
        n = r.size - window_days

        def run_rolling() -> np.ndarray:
            return rolling_var_forecasts(r, model="historical", confidence=confidence, window_days=window_days) * value

        run_rolling()  # validates confidence
        return Operation(run_rolling, items_per_call=n,
                         info={"mode": mode, "function": "trading_agent.risk.backtest.rolling_var_forecasts"})
    raise ValueError(f"mode must be 'single' or 'rolling', got {mode!r}")


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
