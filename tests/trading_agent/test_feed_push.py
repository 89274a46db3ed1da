"""The service's push feed: per-symbol seq, duplicates dropped, gaps counted, bad batches refused
whole, staleness by the age of each symbol's last tick (a fake clock: no sleeping)."""
from __future__ import annotations

from types import SimpleNamespace as T

import pytest

from trading_agent.service.market import BadTickError, MarketFeed


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def __call__(self) -> int:
        return self.ns


@pytest.fixture
def feed_and_clock():
    clock = Clock()
    return MarketFeed.replay(2000, 3, 7, advance_ticks=0, clock=clock), clock


def tick(sym: str, seq: int, bid: float = 10.0, ask: float = 10.01) -> T:
    return T(symbol=sym, seq=seq, bid=bid, ask=ask, last=bid, size=100)


def test_push_applies_in_seq_order_drops_duplicates_and_counts_gaps(feed_and_clock):
    feed, _ = feed_and_clock
    r = feed.push([tick("SYM000", 1), tick("SYM000", 2, 10.5, 10.51), tick("SYM000", 2), tick("SYM000", 1)])
    assert (r.accepted, r.duplicates, r.gaps, r.missing) == (2, 2, 0, 0)
    assert feed.mark("SYM000") == 10.5
    r = feed.push([tick("SYM000", 7, 11.0, 11.01), tick("SYM001", 1)])
    assert (r.accepted, r.gaps, r.missing) == (2, 1, 4)  # the first tick of a symbol is no gap
    assert feed.mark("SYM000") == 11.0 and (feed.gaps, feed.missing, feed.duplicates) == (1, 4, 2)


def test_a_bad_tick_refuses_the_whole_batch_naming_it(feed_and_clock):
    feed, _ = feed_and_clock
    before = feed.mark("SYM000")
    with pytest.raises(BadTickError, match=r"ticks\[1\] \(SYM000 seq 2\): crossed quote"):
        feed.push([tick("SYM000", 1, 50.0, 50.01), tick("SYM000", 2, 10.0, 9.0)])
    with pytest.raises(BadTickError, match=r"ticks\[0\]: unknown symbol 'XYZ'"):
        feed.push([tick("XYZ", 1)])
    assert feed.mark("SYM000") == before


def test_a_symbol_is_stale_once_its_last_tick_is_older_than_the_limit(feed_and_clock):
    feed, clock = feed_and_clock
    assert feed.stale(feed.symbols, None) == [] and feed.stale(feed.symbols, 0.5) == []
    clock.ns += 600_000_000
    assert feed.stale(feed.symbols, 0.5) == list(feed.symbols)
    feed.push([tick("SYM001", 1)])
    assert feed.stale(feed.symbols, 0.5) == ["SYM000", "SYM002"]
    q = feed.quote("SYM000", 0, 0.5)
    assert q.stale and q.age_s == pytest.approx(0.6)
    assert not feed.quote("SYM001", 0, 0.5).stale
