"""Recovery: SIGKILL the service mid-load, restart it on the same store; zero acknowledged-order
loss on SQLite and on PostgreSQL, portfolios equal to the store, nothing left behind."""
from __future__ import annotations

from pathlib import Path

import pytest

from perf_tasks.stress.orders import Ledger, StoreView, audit
from tests.perf_tasks.stress.failure_support import Leftovers, no_data, pg_or_skip, run, values

TARGETS = {"orders_lost_pct": {"max": 0}, "orders_duplicated_pct": {"max": 0}, "portfolio_mismatch_pct": {"max": 0}}


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_kill_9_mid_load_loses_no_acknowledged_order_and_restores_portfolios(store: str, tmp_path: Path):
    if store == "postgres":
        pg_or_skip()
    before = Leftovers()
    result = run(f"recovery_{store}", tmp_path, config={"targets": TARGETS})
    v = values(result)
    assert not no_data(result), no_data(result)
    assert result.info["acked_before_kill"] > 100 and result.info["acked_after_restart"] > 0
    assert v["orders_lost_pct"] == 0 and v["orders_duplicated_pct"] == 0 and v["fills_lost_pct"] == 0, \
        result.info["audit"]
    assert v["portfolio_mismatch_pct"] == 0, result.info["audit"]
    assert result.info["lost"] == result.info["duplicated"] == result.info["portfolio_mismatch"] == 0
    assert 0 < v["detect_ms"] < 1000  # the prober polls every 20 ms
    assert v["recover_ms"] > 0 and v["downtime_ms"] >= v["recover_ms"]
    assert result.info["statuses"].get("201", 0) == result.info["acked"] and v["acked_per_s"] > 0
    targeted = {m.name.rsplit(".", 1)[1]: m.target for m in result.metrics if m.target is not None}
    assert set(targeted) == set(TARGETS) and all(t.max == 0 for t in targeted.values())
    before.check(tmp_path)


def _view(orders, fills=None, opening=(), cash=None) -> StoreView:
    return StoreView(orders, len(orders), fills or {}, list(opening), cash or {"acct-1": 1000.0})


def _ack(ledger: Ledger, oid: int, fills=()) -> None:
    ledger.record(201, {"order_id": oid, "account": "acct-1", "symbol": "SYM000", "side": "buy", "quantity": 100,
                        "fills": [{"fill_id": f} for f in fills]}, {}, 0.0, 0.001)


def test_audit_counts_a_lost_order_a_reused_id_and_a_lost_fill():
    ledger = Ledger()
    for oid in (1, 2, 3):
        _ack(ledger, oid, fills=(oid,) if oid == 3 else ())
    view = _view({1: ("acct-1", "SYM000", "buy", 100), 2: ("acct-2", "SYM000", "buy", 100),
                  3: ("acct-1", "SYM000", "buy", 100), 9: ("mm-1", "SYM000", "sell", 1000)})
    a = audit(ledger, view, {})
    assert (a.acked, a.lost, a.duplicated, a.fills_lost, a.unacked_stored) == (3, 0, 1, 1, 1)
    a = audit(ledger, _view({1: ("acct-1", "SYM000", "buy", 100)}), {})
    assert a.lost == 2 and "order 2 acknowledged, not in the store" in a.details


def test_audit_compares_served_portfolios_with_snapshot_plus_stored_fills():
    view = _view({}, fills={1: ("SYM000", 10.0, 100, "acct-1", "mm-1")},
                 opening=[("acct-1", "SYM000", 200, 9.0)], cash={"acct-1": 1000.0})
    good = {"acct-1": {"cash": 0.0, "positions": [{"symbol": "SYM000", "quantity": 300}]}}
    assert audit(Ledger(), view, good).portfolio_mismatch == 0
    bad = {"acct-1": {"cash": 0.0, "positions": [{"symbol": "SYM000", "quantity": 200}]}}
    a = audit(Ledger(), view, bad)
    assert a.portfolio_mismatch == 1 and "portfolio acct-1" in a.details[0]
