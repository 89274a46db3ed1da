from __future__ import annotations

import math

import numpy as np
import pytest

from trading_agent.data import index_log_returns
from trading_agent.risk.backtest import (backtest_var, christoffersen_independence, conditional_coverage,
                                         kupiec_pof, rolling_var_forecasts, transition_counts)
from trading_agent.risk.bench_extra import var_backtest_sp500
from trading_agent.risk.var import historical_var, parametric_var


@pytest.fixture(scope="module")
def sp500() -> np.ndarray:
    return index_log_returns("sp500")


def test_kupiec_zero_breaches_in_250_days_at_1pct_is_5_025():
    res = kupiec_pof(0, 250, 0.01)
    assert round(res.lr, 3) == 5.025  # -2 * 250 * ln(0.99)
    assert res.p_value == pytest.approx(0.02498, abs=1e-5)


def test_kupiec_20_breaches_in_250_days_at_5pct_is_4_040():
    assert round(kupiec_pof(20, 250, 0.05).lr, 3) == 4.040


def test_kupiec_zero_breaches_is_testable():
    res = kupiec_pof(0, 10, 0.01)
    assert math.isfinite(res.lr) and 0.0 <= res.p_value <= 1.0
    assert res.lr == pytest.approx(-2 * 10 * math.log(0.99))


def test_kupiec_all_breaches_is_testable_and_rejects():
    res = kupiec_pof(250, 250, 0.01)
    assert res.lr == pytest.approx(-2 * 250 * math.log(0.01))
    assert 0.0 <= res.p_value < 1e-10


def test_kupiec_exact_coverage_gives_lr_zero_and_p_one():
    res = kupiec_pof(5, 500, 0.01)
    assert res.lr == 0.0 and res.p_value == 1.0


@pytest.mark.parametrize("x, t, p", [(-1, 10, 0.01), (11, 10, 0.01), (0, 0, 0.01), (1, 10, 0.0), (1, 10, 1.0)])
def test_kupiec_refuses_bad_inputs_naming_them(x, t, p):
    with pytest.raises(ValueError, match="n_breaches|n_obs|coverage"):
        kupiec_pof(x, t, p)


def test_christoffersen_hand_computed_example():
    hits = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0])
    # pairs: 00 00 00 01 11 11 10 00 00 00 00 -> n00=7, n01=1, n10=1, n11=2 (11 transitions)
    # pi0 = 1/8, pi1 = 2/3, pi = 3/11
    # ln L0 = 8 ln(8/11) + 3 ln(3/11)            = -2.547631 - 3.897849 = -6.445480
    # ln L1 = 7 ln(7/8) + ln(1/8) + ln(1/3) + 2 ln(2/3)
    #       = -0.934719 - 2.079442 - 1.098612 - 0.810930             = -4.923703
    # LR_ind = -2 (ln L0 - ln L1) = 2 * 1.521777                       = 3.043554
    res = christoffersen_independence(hits)
    assert (res.n00, res.n01, res.n10, res.n11) == (7, 1, 1, 2)
    assert (res.pi0, res.pi1) == pytest.approx((1 / 8, 2 / 3))
    assert res.lr == pytest.approx(3.043554, abs=1e-5)
    assert res.p_value == pytest.approx(0.0811, abs=1e-4)  # not significant at 5 % on 12 days


def test_christoffersen_with_no_consecutive_breaches_is_finite():
    hits = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1, 0])
    # n00=3, n01=3, n10=3, n11=0: pi0 = 1/2, pi1 = 0, pi = 1/3
    # ln L1 = 3 ln(1/2) + 3 ln(1/2) + 3 ln 1 + 0 ln 0 = -4.158883
    # ln L0 = 6 ln(2/3) + 3 ln(1/3)                   = -5.728627  -> LR = 3.139489
    res = christoffersen_independence(hits)
    assert res.n11 == 0 and res.pi1 == 0.0
    assert res.lr == pytest.approx(3.139489, abs=1e-5)
    assert 0.0 <= res.p_value <= 1.0


def test_christoffersen_with_no_breaches_gives_lr_zero():
    res = christoffersen_independence(np.zeros(250, dtype=bool))
    assert (res.n00, res.n01, res.n10, res.n11) == (249, 0, 0, 0)
    assert res.lr == 0.0 and res.p_value == 1.0
    cc = conditional_coverage(np.zeros(250, dtype=bool), 0.01)
    assert cc.lr == pytest.approx(kupiec_pof(0, 250, 0.01).lr) and 0.0 <= cc.p_value <= 1.0


def test_christoffersen_with_only_breaches_gives_lr_zero():
    res = christoffersen_independence(np.ones(20, dtype=bool))
    assert res.n11 == 19 and res.lr == 0.0 and res.p_value == 1.0


def test_conditional_coverage_is_pof_plus_ind_with_2_dof():
    hits = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0])
    cc = conditional_coverage(hits, 0.05)
    assert cc.lr == pytest.approx(cc.kupiec.lr + cc.independence.lr)
    assert cc.p_value == pytest.approx(math.exp(-cc.lr / 2))  # chi2 with 2 dof: sf = exp(-x/2)


def test_breach_indicator_must_be_zero_one():
    with pytest.raises(ValueError, match="0/1"):
        transition_counts(np.array([0, 2, 1]))


def test_forecasts_match_the_var_module_on_one_window(sp500):
    w, t = 250, 3000  # the forecast for day t uses returns[t-250:t]
    window = sp500[t - w:t]
    hist = rolling_var_forecasts(sp500, model="historical", confidence=0.99, window_days=w)
    para = rolling_var_forecasts(sp500, model="parametric", confidence=0.99, window_days=w)
    assert hist.shape == (sp500.size - w,)
    assert hist[t - w] == pytest.approx(historical_var(window[:, None], np.ones(1), 1.0, 0.99))
    mu, cov = np.array([window.mean()]), np.array([[window.var(ddof=1)]])
    assert para[t - w] == pytest.approx(parametric_var(mu, cov, np.ones(1), 1.0, 0.99))


@pytest.mark.parametrize("model", ["historical", "parametric"])
@pytest.mark.parametrize("confidence", [0.99, 0.95])
def test_sp500_backtest_breach_rate_is_near_nominal(sp500, model, confidence):
    res = backtest_var(sp500, model=model, confidence=confidence, window_days=250)
    assert res.n_obs == 5030 - 250
    coverage = 1 - confidence
    # Fat tails push the rate above nominal, but a working VaR stays within a factor 2.5
    assert coverage * 0.8 < res.breach_rate < coverage * 2.5
    assert all(0.0 <= p <= 1.0 for p in (res.kupiec.p_value, res.independence.p_value, res.coverage_test.p_value))


def test_sp500_historical_99_var_breaches_cluster_and_fail_coverage(sp500):
    res = backtest_var(sp500, model="historical", confidence=0.99, window_days=250)
    assert res.pof_rejected and res.independence_rejected and res.cc_rejected
    assert res.independence.pi1 > 3 * res.independence.pi0  # a breach makes the next more likely


def test_sp500_backtest_is_deterministic(sp500):
    a = backtest_var(sp500, model="historical", confidence=0.99, window_days=500)
    assert a == backtest_var(sp500, model="historical", confidence=0.99, window_days=500)


def test_backtest_refuses_unknown_model_and_bad_window(sp500):
    with pytest.raises(ValueError, match="garch"):
        backtest_var(sp500, model="garch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window_days"):
        backtest_var(sp500[:100], window_days=100)


def test_var_backtest_factory_runs_a_few_calls():
    op = var_backtest_sp500(model="parametric", confidence=0.95, window_days=500)
    assert op.items_per_call == 5030 - 500
    results = [op() for _ in range(3)]
    assert results[0] == results[2] and results[0].n_obs == op.items_per_call
    op.close()
