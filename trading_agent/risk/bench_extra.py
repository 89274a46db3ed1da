"""Benchmark factories for risk limits, alerts and VaR backtests (named in config/benchmarks.yaml).

Setup (untimed) builds a seeded synthetic portfolio state, or loads the S&P 500 series shipped
in ``arch``; the returned :class:`Operation` times one check, one alert batch, or one backtest.
"""
from __future__ import annotations

import itertools

import numpy as np

from trading_agent.data import index_log_returns, synthetic_portfolio
from trading_agent.operation import Operation
from trading_agent.risk.alerts import (AlertDeduplicator, alerts_from_backtest, alerts_from_breaches,
                                       render_json)
from trading_agent.risk.backtest import MODELS, VarBacktestResult, backtest_var
from trading_agent.risk.limits import Order, PortfolioState, RiskLimits, check_limits, pre_trade_check

NOW_S = 1_700_000_000.0  # a fixed clock reading for the synthetic states


def synthetic_state(n_positions: int, seed: int, *, equity: float = 10_000_000.0, leverage: float = 1.5,
                    long_fraction: float = 0.7, drawdown_pct: float = 3.0, n_recent_orders: int = 40,
                    ) -> PortfolioState:
    """A seeded book of ``n_positions`` positions: gross = ``leverage * equity`` spread by the
    weights of :func:`trading_agent.data.synthetic_portfolio`, ``long_fraction`` of names long,
    prices 10-500, equity ``drawdown_pct`` below its peak, ``n_recent_orders`` in the last second."""
    p = synthetic_portfolio(n_positions, seed, value=equity)
    rng = np.random.default_rng(seed + 1)
    prices = np.round(rng.uniform(10.0, 500.0, n_positions), 2)
    signs = np.where(rng.random(n_positions) < long_fraction, 1.0, -1.0)
    quantities = np.round(signs * p.weights * leverage * equity / prices)
    order_times = np.sort(NOW_S - rng.uniform(0.0, 1.0, n_recent_orders))
    return PortfolioState(symbols=p.symbols, quantities=quantities, prices=prices, cov=p.cov, equity=equity,
                          peak_equity=equity / (1.0 - drawdown_pct / 100.0), order_times_s=order_times)


def default_limits(state: PortfolioState, *, tightness: float = 1.0) -> RiskLimits:
    """Limits sized to the book so a handful of per-symbol limits bind; ``tightness`` > 1
    scales every threshold down (more breaches, e.g. for alert workloads)."""
    e, n = state.equity, len(state.symbols)
    avg_pos = 1.5 * e / n  # average |notional| at the synthetic book's leverage
    k = 1.0 / tightness
    return RiskLimits(max_gross_exposure=2.0 * e * k, max_net_exposure=1.0 * e * k,
                      max_position_notional=1.4 * avg_pos * k, max_concentration_pct=1.5 * avg_pos / e * 100 * k,
                      max_var=0.03 * e * k, max_drawdown_pct=5.0 * k, max_orders_per_window=max(1, int(50 * k)),
                      order_window_s=1.0)


def risk_limit_check(n_positions: int = 200, mode: str = "full", seed: int = 7) -> Operation:
    """One call = one full limit check of an ``n_positions`` book (``mode="full"``), or one
    pre-trade check of the next of 256 seeded orders (``mode="pre_trade"``, some refused)."""
    state = synthetic_state(n_positions, seed)
    limits = default_limits(state)
    _ = limits.var_z  # warm the cached quantile in setup
    if mode == "full":
        return Operation(lambda: check_limits(state, limits, NOW_S),
                         info={"mode": mode, "n_positions": n_positions})
    if mode != "pre_trade":
        raise ValueError(f"mode must be 'full' or 'pre_trade', got {mode!r}")
    rng = np.random.default_rng(seed + 2)
    idx = rng.integers(0, n_positions, 256)
    # order notional up to ~1.5x the average position: a mix of allowed and refused orders
    qty = np.round(rng.uniform(-1.5, 1.5, 256) * 1.5 * state.equity / n_positions / state.prices[idx]) + 1.0
    orders = itertools.cycle([Order(state.symbols[i], float(q)) for i, q in zip(idx, qty)])
    return Operation(lambda: pre_trade_check(state, limits, next(orders), NOW_S),
                     info={"mode": mode, "n_positions": n_positions})


def alert_generation(n_positions: int = 200, window_s: float = 300.0, tightness: float = 1.0,
                     seed: int = 7) -> Operation:
    """One call = build alerts from one state's limit breaches and one S&P 500 VaR backtest
    verdict, pass them through the deduplicator, render the JSON payload.

    The limit check and the backtest run in setup (they have their own benchmarks). Each call
    is stamped ``window_s`` after the previous one, so every alert re-alerts and the count per
    call is fixed: ``items_per_call`` = alerts rendered per call.
    """
    state = synthetic_state(n_positions, seed)
    breaches = check_limits(state, default_limits(state, tightness=tightness), NOW_S).breaches
    bt = backtest_var(index_log_returns("sp500"), model="historical", confidence=0.99, window_days=250)
    dedup = AlertDeduplicator(window_s)
    clock = itertools.count()

    def run() -> str:
        ts = NOW_S + next(clock) * window_s
        alerts = alerts_from_breaches(breaches, ts) + alerts_from_backtest(bt, ts)
        return render_json(dedup.filter(alerts).sent, max_alerts=max(100, len(alerts)))

    n_alerts = len(alerts_from_breaches(breaches, NOW_S)) + len(alerts_from_backtest(bt, NOW_S))
    if n_alerts < 1:
        raise ValueError(f"alert_generation produced no alerts at tightness={tightness!r}; raise it")
    return Operation(run, items_per_call=n_alerts, info={"n_alerts": n_alerts, "n_positions": n_positions})


def var_backtest_sp500(model: str = "historical", confidence: float = 0.99, window_days: int = 250) -> Operation:
    """One call = the full rolling VaR backtest of ``model`` over the S&P 500 series
    (1999-2018, 5,030 returns): forecasts, breaches, Kupiec and Christoffersen tests."""
    if model not in MODELS:
        raise ValueError(f"unknown VaR model {model!r}; expected one of {MODELS}")
    r = index_log_returns("sp500")
    n_obs = len(r) - window_days

    def run() -> VarBacktestResult:
        return backtest_var(r, model=model, confidence=confidence, window_days=window_days)  # type: ignore[arg-type]

    return Operation(run, items_per_call=n_obs,
                     info={"model": model, "confidence": confidence, "window_days": window_days})
