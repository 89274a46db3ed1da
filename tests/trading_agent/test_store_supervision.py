"""The worker's store handle under repeated failure handling: closing twice must never close a
descriptor that now belongs to someone else (the supervisor closes a failed store before every
reopen attempt, and shutdown closes it again)."""
from __future__ import annotations

import os
from pathlib import Path

from trading_agent.service.storage import open_worker_store


def test_closing_a_worker_store_twice_leaves_other_descriptors_alone(tmp_path: Path):
    ws = open_worker_store(f"sqlite:///{tmp_path / 'orders.db'}", 1)
    ws.close()
    with open(tmp_path / "other", "w") as other:  # likely takes a descriptor number the store released
        ws.close()
        os.fstat(other.fileno())  # still open
        other.write("still mine")
    assert (tmp_path / "other").read_text() == "still mine"


def test_a_closed_store_can_be_reopened_on_the_same_slot(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'orders.db'}"
    first = open_worker_store(db, 1)
    first.close()
    again = open_worker_store(db, 1)  # the slot's lock was released exactly once
    try:
        assert again.store is not None
    finally:
        again.close()


def test_reopen_store_rebuilds_the_desk_exactly_and_serves_again(tmp_path: Path):
    from types import SimpleNamespace

    import pytest

    from trading_agent.service.config import ServiceConfig
    from trading_agent.service.desk import TradingDesk
    from trading_agent.service.market import MarketFeed
    from trading_agent.service.schemas import OrderRequest
    from trading_agent.service.state import reopen_store
    from trading_agent.trading.engine import StoreFailedError

    db = f"sqlite:///{tmp_path / 'orders.db'}"
    cfg = ServiceConfig(db=db, n_symbols=3, n_accounts=2, n_ticks=1000, seed=7)
    feed = MarketFeed.replay(1000, 3, 7, advance_ticks=0)
    quotes = {s: (q.bid, q.ask) for s, q in feed.handler.state.items()}
    store = open_worker_store(db, 1)
    desk = TradingDesk.open(feed.symbols, quotes, 2, 7, store.store)
    for i in range(20):
        desk.submit(OrderRequest(account=f"acct-{1 + i % 2}", symbol=feed.symbols[i % 3],
                                 side="buy" if i % 3 else "sell", type="market", quantity=100), None)
    before = {a: desk.portfolio(a, feed.marks()) for a in ("acct-1", "acct-2")}
    last_id = store.store.last_ids()[0]
    desk.engine.failed = "saving order 99 failed: OperationalError: the database went away"  # as _fail sets it
    with pytest.raises(StoreFailedError):
        desk.submit(OrderRequest(account="acct-1", symbol=feed.symbols[0], side="buy", type="market",
                                 quantity=100), None)
    st = SimpleNamespace(config=cfg, feed=feed, desk=desk, store=store)
    holder = SimpleNamespace(store=store)
    took = reopen_store(st, holder, quotes)
    try:
        assert took > 0 and store.closed and st.store is holder.store and st.store is not store
        assert st.desk is not desk and st.desk.engine.failed is None
        assert {a: st.desk.portfolio(a, feed.marks()) for a in before} == before
        out = st.desk.submit(OrderRequest(account="acct-1", symbol=feed.symbols[0], side="buy", type="market",
                                          quantity=100), None)
        assert out.status in ("filled", "partially_filled", "cancelled") and out.order_id > last_id  # ids continue
    finally:
        st.store.close()
