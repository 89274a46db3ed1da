"""Value at Risk of a portfolio over one day, as a positive loss in account currency.

All three methods take daily log returns per asset and portfolio weights (fractions of value).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm


def _check_confidence(confidence: float) -> None:
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence!r}")


def portfolio_returns(returns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Simple portfolio returns from per-asset log returns (T, N) and weights (N,)."""
    return np.expm1(returns) @ weights


def historical_var(returns: np.ndarray, weights: np.ndarray, value: float, confidence: float = 0.99) -> float:
    """Historical-simulation VaR: the loss quantile of past portfolio returns."""
    _check_confidence(confidence)
    pr = portfolio_returns(np.atleast_2d(returns.T).T, weights)
    return float(-np.quantile(pr, 1.0 - confidence) * value)


def parametric_var(mu: np.ndarray, cov: np.ndarray, weights: np.ndarray, value: float,
                   confidence: float = 0.99) -> float:
    """Variance-covariance (Gaussian) VaR: z * sigma_p - mu_p, times value."""
    _check_confidence(confidence)
    mu_p = float(weights @ mu)
    sigma_p = float(np.sqrt(weights @ cov @ weights))
    return float((norm.ppf(confidence) * sigma_p - mu_p) * value)


def monte_carlo_var(mu: np.ndarray, cov: np.ndarray, weights: np.ndarray, value: float, *,
                    n_scenarios: int = 10_000, confidence: float = 0.99,
                    rng: np.random.Generator) -> float:
    """Monte Carlo VaR: ``n_scenarios`` correlated Gaussian scenarios of every asset's return
    (Cholesky of the covariance), revalued as a portfolio, loss quantile taken.

    Per-asset scenarios are kept (not collapsed to the portfolio's variance) so that non-linear
    positions could be revalued the same way.
    """
    _check_confidence(confidence)
    if n_scenarios < 100:
        raise ValueError(f"n_scenarios must be >= 100, got {n_scenarios}")
    chol = np.linalg.cholesky(cov)
    z = rng.standard_normal((n_scenarios, len(mu)))
    scenarios = mu + z @ chol.T  # (n_scenarios, n_assets) log returns
    pnl = np.expm1(scenarios) @ weights * value
    return float(-np.quantile(pnl, 1.0 - confidence))
