"""Market data that works offline: real daily index series (shipped in ``arch``) and a seeded
synthetic generator of correlated multi-asset returns and ticks for scale."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def load_index(name: str = "sp500") -> pd.DataFrame:
    """Daily OHLCV of the S&P 500 (``sp500``) or NASDAQ (``nasdaq``), 1999-2018, ~5,000 rows.

    Ships inside the ``arch`` package: no download.
    """
    if name == "sp500":
        from arch.data import sp500 as mod
    elif name == "nasdaq":
        from arch.data import nasdaq as mod
    else:
        raise ValueError(f"unknown index {name!r}; expected 'sp500' or 'nasdaq'")
    return mod.load()


def index_log_returns(name: str = "sp500") -> np.ndarray:
    close = load_index(name)["Adj Close"].to_numpy(dtype=float)
    return np.diff(np.log(close))


def random_correlation(n_assets: int, rng: np.random.Generator, *, factor_loading: float = 0.5) -> np.ndarray:
    """A valid correlation matrix from a one-factor model (every pair correlated ~loading^2)."""
    beta = rng.uniform(factor_loading * 0.5, factor_loading * 1.5, size=n_assets).clip(0, 0.95)
    corr = np.outer(beta, beta)
    np.fill_diagonal(corr, 1.0)
    return corr


@dataclass(frozen=True)
class Portfolio:
    symbols: tuple[str, ...]
    weights: np.ndarray  # fractions of value, sum to 1
    value: float  # in account currency
    mu: np.ndarray  # daily mean log return per asset
    cov: np.ndarray  # daily covariance of log returns


def synthetic_portfolio(n_assets: int, seed: int, *, value: float = 10_000_000.0) -> Portfolio:
    """A seeded multi-asset portfolio with realistic daily vol (1-3 %) and correlations."""
    if n_assets < 1:
        raise ValueError(f"n_assets must be >= 1, got {n_assets}")
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.01, 0.03, size=n_assets)
    corr = random_correlation(n_assets, rng)
    cov = corr * np.outer(vol, vol)
    mu = rng.normal(0.0003, 0.0002, size=n_assets)
    w = rng.uniform(0.5, 1.5, size=n_assets)
    return Portfolio(symbols=tuple(f"SYM{i:03d}" for i in range(n_assets)), weights=w / w.sum(),
                     value=value, mu=mu, cov=cov)


def synthetic_returns(portfolio: Portfolio, n_days: int, seed: int) -> np.ndarray:
    """(n_days, n_assets) correlated Gaussian daily log returns for the portfolio."""
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(portfolio.mu, portfolio.cov, size=n_days, method="cholesky")


@dataclass(frozen=True)
class Tick:
    symbol: str
    ts_ns: int
    bid: float
    ask: float
    last: float
    size: int


def synthetic_ticks(n_ticks: int, n_symbols: int, seed: int, *, tick_size: float = 0.01) -> list[Tick]:
    """A seeded stream of quote/trade ticks over ``n_symbols`` symbols, random-walk prices."""
    rng = np.random.default_rng(seed)
    sym_idx = rng.integers(0, n_symbols, size=n_ticks)
    steps = rng.choice([-1, 0, 1], size=n_ticks, p=[0.3, 0.4, 0.3])
    spread = rng.integers(1, 4, size=n_ticks)
    sizes = rng.integers(1, 50, size=n_ticks) * 100
    ts = 1_700_000_000_000_000_000 + np.cumsum(rng.integers(10_000, 500_000, size=n_ticks))
    level = np.full(n_symbols, 10_000)  # price in ticks
    out = []
    for i in range(n_ticks):
        s = int(sym_idx[i])
        level[s] = max(level[s] + int(steps[i]), 100)
        bid = level[s] * tick_size
        ask = (level[s] + int(spread[i])) * tick_size
        last = bid if steps[i] <= 0 else ask
        out.append(Tick(f"SYM{s:03d}", int(ts[i]), round(bid, 2), round(ask, 2), round(last, 2), int(sizes[i])))
    return out
