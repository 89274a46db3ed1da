from __future__ import annotations

import pytest

from trading_agent.market_data.bench import market_data_ticks
from trading_agent.data import Tick, synthetic_ticks
from trading_agent.market_data.handler import BAR_NS, MarketDataHandler


def test_handler_tracks_top_of_book_vwap_and_bars():
    h = MarketDataHandler()
    h.on_tick(Tick("A", 0, 9.99, 10.01, 10.0, 100))
    h.on_tick(Tick("A", 10, 10.00, 10.02, 10.2, 300))
    h.on_tick(Tick("A", BAR_NS + 5, 10.1, 10.2, 10.1, 100))
    st = h.state["A"]
    assert (st.bid, st.ask, st.last) == (10.1, 10.2, 10.1)
    assert st.vwap == (10.0 * 100 + 10.2 * 300 + 10.1 * 100) / 500
    (bar,) = st.bars  # the first second's bar is closed
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (10.0, 10.2, 10.0, 10.2, 400)


def test_crossed_or_bad_quotes_are_rejected_and_counted():
    h = MarketDataHandler()
    assert h.on_tick(Tick("A", 0, 10.05, 10.0, 10.0, 1)) is None
    assert h.on_tick(Tick("A", 0, 0.0, 10.0, 10.0, 1)) is None
    assert h.rejected == 2 and h.state == {}


def test_synthetic_ticks_are_seeded_and_valid():
    a = synthetic_ticks(1000, 5, seed=1)
    assert a == synthetic_ticks(1000, 5, seed=1)
    assert all(t.bid < t.ask for t in a) and all(a[i].ts_ns < a[i + 1].ts_ns for i in range(999))


def test_benchmark_factory_batched_mode_is_one_pass_per_call_into_a_fresh_handler():
    op = market_data_ticks(n_ticks=500, n_symbols=3, ticks_per_call=500)
    first, second = op(), op()
    assert op.items_per_call == 500 and second is not first
    assert first.processed == second.processed == 500 and second.rejected == 0
    op.close()
    assert op.info["ticks_processed"] == 1000 and op.info["stream_passes"] == 1


def test_benchmark_factory_times_one_tick_per_call_by_default():
    ticks = synthetic_ticks(50, 3, seed=11)
    op = market_data_ticks(n_ticks=50, n_symbols=3)
    assert op.items_per_call == 1
    ref = MarketDataHandler()
    for t in ticks:  # each call handles exactly the next tick, in one live handler
        st = op()
        assert st is not None and (st.bid, st.ask, st.last) == (t.bid, t.ask, t.last)
        ref_st = ref.on_tick(t)
        assert (st.volume, st.notional, len(st.bars)) == (ref_st.volume, ref_st.notional, len(ref_st.bars))
    st = op()  # the stream wraps: a fresh handler, so the first tick starts its symbol's state again
    assert st.volume == ticks[0].size and st.bars == []
    op.close()
    assert op.info["ticks_processed"] == 51 and op.info["ticks_rejected"] == 0 and op.info["stream_passes"] == 1


def test_benchmark_factory_chunks_consecutive_ticks():
    op = market_data_ticks(n_ticks=100, n_symbols=3, ticks_per_call=30)
    handler = op()
    assert op.items_per_call == 30 and handler.processed == 30
    assert op() is handler and handler.processed == 60  # the same live handler, the next 30 ticks
    with pytest.raises(ValueError, match="items per call"):
        market_data_ticks(n_ticks=10, n_symbols=3, ticks_per_call=11)
