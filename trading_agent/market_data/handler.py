"""Per-tick market data handler: top of book, last trade, running VWAP and 1-second OHLCV bars.

The hot path is plain Python on small per-symbol state: one dict lookup and a few float updates
per tick. Crossed or non-positive quotes are rejected and counted, never applied.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from trading_agent.data import Tick

BAR_NS = 1_000_000_000


@dataclass
class Bar:
    start_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass
class SymbolState:
    bid: float = 0.0
    ask: float = 0.0
    last: float = 0.0
    volume: int = 0
    notional: float = 0.0
    bar: Bar | None = None
    bars: list[Bar] = field(default_factory=list)

    @property
    def vwap(self) -> float:
        return self.notional / self.volume if self.volume else 0.0


class MarketDataHandler:
    def __init__(self, max_bars: int = 10_000) -> None:
        self.state: dict[str, SymbolState] = {}
        self.rejected = 0
        self.processed = 0
        self.max_bars = max_bars

    def on_tick(self, tick: Tick) -> SymbolState | None:
        if tick.bid <= 0 or tick.ask < tick.bid or tick.size < 0:
            self.rejected += 1
            return None
        st = self.state.get(tick.symbol)
        if st is None:
            st = self.state[tick.symbol] = SymbolState()
        st.bid, st.ask, st.last = tick.bid, tick.ask, tick.last
        st.volume += tick.size
        st.notional += tick.last * tick.size
        start = tick.ts_ns - tick.ts_ns % BAR_NS
        bar = st.bar
        if bar is None or bar.start_ns != start:
            if bar is not None:
                st.bars.append(bar)
                if len(st.bars) > self.max_bars:
                    del st.bars[0]
            st.bar = Bar(start, tick.last, tick.last, tick.last, tick.last, tick.size)
        else:
            if tick.last > bar.high:
                bar.high = tick.last
            elif tick.last < bar.low:
                bar.low = tick.last
            bar.close = tick.last
            bar.volume += tick.size
        self.processed += 1
        return st
