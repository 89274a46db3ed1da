from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from trading_agent.data import index_log_returns, synthetic_portfolio, synthetic_returns
from trading_agent.risk.var import historical_var, monte_carlo_var, parametric_var


def test_sp500_series_ships_offline():
    r = index_log_returns("sp500")
    assert r.shape == (5030,) and np.isfinite(r).all()
    assert 0.005 < r.std() < 0.02  # daily vol of the index


def test_historical_var_is_the_loss_quantile():
    returns = np.log1p(np.linspace(-0.05, 0.05, 101))[:, None]  # one asset, known simple returns
    var = historical_var(returns, np.ones(1), 1_000_000, confidence=0.95)
    assert var == pytest.approx(-np.quantile(np.linspace(-0.05, 0.05, 101), 0.05) * 1_000_000)


def test_monte_carlo_var_agrees_with_analytic_var_for_gaussian_returns():
    """Seed 2026, 10,000 scenarios, 20 assets: within 4 % of the analytic value.

    Analytic reference: simple returns expm1(X) with X ~ N(mu, cov) are nearly Gaussian at daily
    scale, so the parametric VaR on the same mu/cov is the reference.
    """
    p = synthetic_portfolio(20, seed=5)
    mc = monte_carlo_var(p.mu, p.cov, p.weights, p.value, n_scenarios=10_000, confidence=0.99,
                         rng=np.random.default_rng(2026))
    analytic = parametric_var(p.mu, p.cov, p.weights, p.value, confidence=0.99)
    assert mc == pytest.approx(analytic, rel=0.04)


def test_parametric_var_formula():
    mu, cov, w = np.array([0.001]), np.array([[0.0004]]), np.ones(1)
    assert parametric_var(mu, cov, w, 100.0, 0.99) == pytest.approx((norm.ppf(0.99) * 0.02 - 0.001) * 100)


def test_historical_var_on_synthetic_gaussian_portfolio_near_analytic():
    p = synthetic_portfolio(10, seed=3)
    r = synthetic_returns(p, 50_000, seed=4)
    assert historical_var(r, p.weights, p.value) == pytest.approx(
        parametric_var(p.mu, p.cov, p.weights, p.value), rel=0.05)


@pytest.mark.parametrize("conf", [0.3, 1.0, 1.5])
def test_confidence_out_of_range_is_refused(conf):
    with pytest.raises(ValueError, match="confidence"):
        parametric_var(np.zeros(1), np.eye(1), np.ones(1), 1.0, conf)


def test_var_historical_sp500_bench_times_the_system_var_function():
    from trading_agent.risk.backtest import rolling_var_forecasts
    from trading_agent.risk.bench import var_historical_sp500

    r = index_log_returns("sp500")
    op = var_historical_sp500(window_days=250, confidence=0.99, value=1e6)
    assert op.items_per_call == 1 and op.info["windows"] == r.size - 250 + 1
    got = [op() for _ in range(300)]  # call k = historical_var of returns[k : k + 250]
    assert got == [historical_var(r[k:k + 250], np.ones(1), 1e6, 0.99) for k in range(300)]
    assert got == pytest.approx(rolling_var_forecasts(r, model="historical", confidence=0.99,
                                                      window_days=250)[:300] * 1e6, rel=1e-12)
    rolling = var_historical_sp500(window_days=250, mode="rolling")
    assert rolling.items_per_call == r.size - 250
    assert rolling()[:300] == pytest.approx(got, rel=1e-12)
    with pytest.raises(ValueError, match="mode"):
        var_historical_sp500(mode="vectorised")
    with pytest.raises(ValueError, match="confidence"):
        var_historical_sp500(confidence=1.5)
