"""Market crash through the pipeline and the order flood: figures present, VaR under stress agrees
with independent references, breaches and alerts come, no order lost."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from perf_tasks.stress.crash import reference_historical_var, reference_mc_var
from tests.perf_tasks.stress.failure_support import Leftovers, no_data, run, values
from trading_agent.crash import simulate, stressed_var
from trading_agent.risk.var import historical_var


def test_market_crash_raises_breaches_and_alerts_and_var_matches_the_references(tmp_path: Path):
    result = run("market_crash", tmp_path)
    v = values(result)
    assert not no_data(result), no_data(result)
    for tag in ("s20", "s30", "s50"):
        assert v[f"{tag}_breaches_per_s"] > 0 and v[f"{tag}_alert_s"] > 0
        assert v[f"{tag}_var_hist_err_pct"] < 1e-6  # the same estimator, computed two ways
        assert v[f"{tag}_var_mc_err_pct"] < 5.0  # two simulations: sampling error only
        assert v[f"{tag}_loss_over_var_pct"] > 100  # the crash lies far outside yesterday's VaR
        assert result.info[tag]["orders"] > 0 and result.info[tag]["rejected_records"] == 0
    # a deeper crash is detected sooner and costs more
    assert v["s50_alert_s"] <= v["s30_alert_s"] <= v["s20_alert_s"]
    assert v["s50_loss_over_var_pct"] > v["s30_loss_over_var_pct"] > v["s20_loss_over_var_pct"]


def test_intensity_scales_the_shock(tmp_path: Path):
    result = run("market_crash", tmp_path, intensity=0.5, config={"shocks": [[-40.0, 5]]})
    assert result.info["s20"]["shock_pct"] == -20.0


def test_reference_var_functions_agree_with_numpy_on_known_data():
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.02, size=(500, 3))
    w = np.array([0.5, 0.3, 0.2])
    assert reference_historical_var(r, w, 1e6, 0.99) == pytest.approx(historical_var(r, w, 1e6, 0.99), rel=1e-12)
    sigma = np.sqrt(w @ np.cov(r, rowvar=False) @ w) * 1e6
    assert reference_mc_var(r, w, 1e6, 0.99, n=200_000) == pytest.approx(2.326 * sigma, rel=0.05)


def test_crash_inputs_are_checked():
    with pytest.raises(ValueError, match="shock_pct must be in"):
        simulate(-120.0, 5)
    with pytest.raises(ValueError, match="volume_mult must be an integer"):
        simulate(-20.0, 0)
    sv = stressed_var(-50.0, n_symbols=5, mc_scenarios=1000)
    assert sv.crash_loss > 0.45 * sv.value and sv.returns.shape == (250, 5)


def test_order_flood_loses_nothing_and_refuses_oversize_orders_with_a_reason(tmp_path: Path):
    before = Leftovers()
    result = run("order_flood", tmp_path, config={"profiles": {"smoke": {"flood_s": 1.5}}})
    v = values(result)
    assert not no_data(result), no_data(result)
    assert result.info["acked"] > 500 and result.info["rejected"] > 10
    for k in ("orders_lost_pct", "orders_duplicated_pct", "rejections_lost_pct", "rejections_without_reason_pct",
              "portfolio_mismatch_pct", "server_errors_pct"):
        assert v[k] == 0, (k, result.info)
    assert 0 < v["order_p50_ms"] <= v["order_p99_ms"]
    before.check(tmp_path)
