from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from trading_agent.data import index_log_returns
from trading_agent.risk.alerts import (AlertDeduplicator, Severity, alerts_from_backtest, alerts_from_breaches,
                                       render_json)
from trading_agent.risk.backtest import backtest_var
from trading_agent.risk.bench_extra import alert_generation, risk_limit_check
from trading_agent.risk.limits import (CONCENTRATION, DRAWDOWN, GROSS, NET, ORDER_RATE, POSITION, VAR, LimitBreach,
                                       Order, PortfolioState, RiskLimits, check_limits, pre_trade_check)

NOW = 1000.0


def _state(quantities, *, equity=1_000.0, peak=1_000.0, order_times=()) -> PortfolioState:
    """Three symbols at price 10, uncorrelated daily vol 2 %."""
    q = np.asarray(quantities, dtype=float)
    return PortfolioState(symbols=("A", "B", "C"), quantities=q, prices=np.full(3, 10.0),
                          cov=np.eye(3) * 0.02 ** 2, equity=equity, peak_equity=peak,
                          order_times_s=np.asarray(order_times, dtype=float))


def _limits(**overrides) -> RiskLimits:
    base = dict(max_gross_exposure=1_000.0, max_net_exposure=500.0, max_position_notional=400.0,
                max_concentration_pct=45.0, max_var=50.0, max_drawdown_pct=10.0, max_orders_per_window=3,
                order_window_s=1.0)
    return RiskLimits(**(base | overrides))


def test_state_within_limits_has_no_breaches():
    res = check_limits(_state([30, -20, 10]), _limits(), NOW)  # gross 600, net 200, max pos 300
    assert res.ok and res.breaches == () and res.n_checks == 5 + 2 * 3


def test_limit_check_flags_exactly_the_breached_limits_with_values():
    # notionals 500, -300, 300: gross 1,100 > 1,000; net 500 (not > 500); A 500 > 400 and 50 % > 45 %
    # VaR = 2.326348 * 0.02 * sqrt(500^2 + 300^2 + 300^2) = 0.0465270 * 655.744 = 30.51 (< 50)
    # drawdown (1,250 - 1,000) / 1,250 = 20 % > 10 %; orders in (999, 1000]: 4 > 3 (998.5 is outside)
    state = _state([50, -30, 30], peak=1_250.0, order_times=[998.5, 999.2, 999.5, 999.9, 1000.0])
    res = check_limits(state, _limits(), NOW)
    assert res.breaches == (
        LimitBreach(GROSS, 1_100.0, 1_000.0),
        LimitBreach(DRAWDOWN, pytest.approx(20.0), 10.0),
        LimitBreach(ORDER_RATE, 4.0, 3.0),
        LimitBreach(POSITION, 500.0, 400.0, "A"),
        LimitBreach(CONCENTRATION, 50.0, 45.0, "A"),
    )


def test_var_and_net_limits_breach_when_exceeded():
    # all long 40 each: net 1,200 > 500; VaR = 2.326348 * 0.02 * 400 * sqrt(3) = 32.24 > 30
    res = check_limits(_state([40, 40, 40]), _limits(max_gross_exposure=2_000.0, max_var=30.0,
                                                     max_concentration_pct=50.0), NOW)
    assert [b.limit for b in res.breaches] == [NET, VAR]
    assert res.breaches[1].value == pytest.approx(2.326348 * 0.02 * 400 * math.sqrt(3), rel=1e-6)


def test_pre_trade_refuses_an_order_that_would_breach():
    state = _state([30, -20, 10])  # A at 300, limit 400
    res = pre_trade_check(state, _limits(), Order("A", 15), NOW)  # A -> 450
    assert not res.allowed
    # A's concentration is 45 %, exactly at (not over) its 45 % limit
    assert res.breaches == (LimitBreach(POSITION, 450.0, 400.0, "A"),)


def test_pre_trade_allows_an_order_that_would_not_breach():
    res = pre_trade_check(_state([30, -20, 10]), _limits(), Order("A", 5), NOW)  # A -> 350
    assert res.allowed and res.breaches == ()


def test_pre_trade_agrees_with_a_full_check_of_the_post_trade_state():
    state, limits, order = _state([30, -20, 10]), _limits(max_var=10.0), Order("B", -25)
    post = _state([30, -45, 10])
    pre = pre_trade_check(state, limits, order, NOW)
    full = {(b.limit, b.symbol): b.value for b in check_limits(post, limits, NOW).breaches}
    assert {(b.limit, b.symbol): b.value for b in pre.breaches} == pytest.approx(full)


def test_pre_trade_allows_risk_reducing_order_while_in_breach_but_not_increasing():
    state = _state([50, -20, 10], peak=1_250.0)  # A over its limit, drawdown 20 % over 10 %
    assert pre_trade_check(state, _limits(), Order("A", -5), NOW).allowed  # reduces A and gross
    refused = pre_trade_check(state, _limits(), Order("C", 1), NOW)
    assert not refused.allowed and [b.limit for b in refused.breaches] == [DRAWDOWN]


def test_pre_trade_counts_the_order_towards_the_rate():
    state = _state([30, -20, 10], order_times=[999.5, 999.7, 999.9])
    res = pre_trade_check(state, _limits(), Order("C", 1), NOW)
    assert res.breaches == (LimitBreach(ORDER_RATE, 4.0, 3.0),)


def test_pre_trade_refuses_to_check_unknown_symbol():
    with pytest.raises(KeyError, match="ZZZ"):
        pre_trade_check(_state([1, 1, 1]), _limits(), Order("ZZZ", 1), NOW)


def test_state_and_limits_validate_naming_the_bad_value():
    with pytest.raises(ValueError, match="peak_equity"):
        _state([1, 1, 1], equity=100.0, peak=50.0)
    with pytest.raises(ValueError, match="max_var.*-1"):
        _limits(max_var=-1.0)


# --- alerts -------------------------------------------------------------------------------------

BREACHES = (LimitBreach(GROSS, 1_100.0, 1_000.0), LimitBreach(POSITION, 600.0, 400.0, "A"))


def test_alerts_carry_severity_key_and_timestamp():
    a, b = alerts_from_breaches(BREACHES, 5.0, portfolio="book1")
    assert (a.key, a.severity, a.timestamp_s) == ("book1:limit:gross_exposure", Severity.WARNING, 5.0)
    assert (b.key, b.severity) == ("book1:limit:position_notional:A", Severity.CRITICAL)  # 150 % >= 125 %
    assert "600.00" in b.message and "400.00" in b.message


def test_dedup_suppresses_repeats_within_window_and_realerts_after():
    dedup = AlertDeduplicator(window_s=60.0)
    assert len(dedup.filter(alerts_from_breaches(BREACHES, 0.0)).sent) == 2
    within = dedup.filter(alerts_from_breaches(BREACHES, 59.9))
    assert within.sent == () and len(within.suppressed) == 2
    after = dedup.filter(alerts_from_breaches(BREACHES, 60.0))
    assert len(after.sent) == 2 and after.suppressed == ()


def test_dedup_lets_an_escalation_through_within_window():
    dedup = AlertDeduplicator(window_s=60.0)
    dedup.filter(alerts_from_breaches([LimitBreach(GROSS, 1_100.0, 1_000.0)], 0.0))  # WARNING
    res = dedup.filter(alerts_from_breaches([LimitBreach(GROSS, 1_500.0, 1_000.0)], 10.0))  # CRITICAL
    assert [a.severity for a in res.sent] == [Severity.CRITICAL]


def test_dedup_collapses_duplicates_within_one_batch_and_prunes():
    dedup = AlertDeduplicator(window_s=60.0)
    res = dedup.filter(alerts_from_breaches(BREACHES + BREACHES, 0.0))
    assert len(res.sent) == 2 and len(res.suppressed) == 2
    assert dedup.prune(30.0) == 0 and dedup.prune(60.0) == 2 and len(dedup) == 0


def test_backtest_alerts_flag_understated_and_clustered_var():
    bt = backtest_var(index_log_returns("sp500"), model="historical", confidence=0.99, window_days=250)
    pof, ind = alerts_from_backtest(bt, 0.0)
    assert pof.severity == Severity.CRITICAL and pof.key.endswith(":pof") and "understates" in pof.message
    assert ind.severity == Severity.WARNING and "cluster" in ind.message


def test_render_json_orders_by_severity_and_counts_omitted():
    alerts = alerts_from_breaches(BREACHES, 0.0)
    payload = json.loads(render_json(alerts, channel="risk", max_alerts=1))
    assert payload["schema_version"] == 1 and payload["channel"] == "risk"
    assert payload["n_alerts"] == 2 and payload["n_omitted"] == 1
    (only,) = payload["alerts"]
    assert only["severity"] == "CRITICAL" and only["value"] == 600.0 and only["threshold"] == 400.0


# --- factories and import hygiene -----------------------------------------------------------------

@pytest.mark.parametrize("mode", ["full", "pre_trade"])
def test_risk_limit_check_factory_runs_a_few_calls(mode):
    op = risk_limit_check(n_positions=200, mode=mode)
    results = [op() for _ in range(5)]
    assert op.items_per_call == 1 and len(results) == 5
    if mode == "full":
        assert results[0] == results[4] and not results[0].ok  # the synthetic book binds a few limits


def test_alert_generation_factory_renders_items_per_call_alerts():
    op = alert_generation(n_positions=200)
    for _ in range(3):
        payload = json.loads(op())
        assert len(payload["alerts"]) == op.items_per_call >= 1 and payload["n_omitted"] == 0


def test_risk_modules_do_not_import_airflow_or_perf_tasks():
    code = ("import sys, trading_agent.risk.backtest, trading_agent.risk.limits, trading_agent.risk.alerts, "
            "trading_agent.risk.bench_extra; "
            "assert not {m.split('.')[0] for m in sys.modules} & {'airflow', 'perf_tasks'}")
    subprocess.run([sys.executable, "-c", code], check=True)
