"""Benchmark factories for market data handling (named in config/benchmarks.yaml)."""
from __future__ import annotations

from trading_agent.data import Tick, synthetic_ticks
from trading_agent.market_data.handler import MarketDataHandler, SymbolState
from trading_agent.operation import Operation, Stream


class _TickFeed:
    """One live :class:`MarketDataHandler` fed a pre-generated tick stream, ``ticks_per_call``
    ticks per call. When the stream runs out the handler is replaced by a fresh one (replaying
    the stream into the old one would send time backwards); the counters of the retired
    handlers are kept in ``totals``."""

    def __init__(self, ticks: list[Tick], ticks_per_call: int) -> None:
        self.handler = MarketDataHandler()
        self.totals = {"ticks_processed": 0, "ticks_rejected": 0}
        self.stream = Stream(ticks, ticks_per_call, self._new_handler)

    def _new_handler(self) -> None:
        self._retire()
        self.handler = MarketDataHandler()

    def _retire(self) -> None:
        self.totals["ticks_processed"] += self.handler.processed
        self.totals["ticks_rejected"] += self.handler.rejected

    def one(self) -> SymbolState | None:
        tick = self.stream.item()  # first: it may swap in a fresh handler
        return self.handler.on_tick(tick)

    def batch(self) -> MarketDataHandler:
        chunk = self.stream.take()
        handler = self.handler
        on_tick = handler.on_tick
        for t in chunk:
            on_tick(t)
        return handler


def market_data_ticks(n_ticks: int = 10_000, n_symbols: int = 50, seed: int = 11,
                      ticks_per_call: int = 1) -> Operation:
    """One call = the next ``ticks_per_call`` ticks of a pre-generated ``n_ticks`` stream through
    :meth:`MarketDataHandler.on_tick` (top of book, VWAP, 1-second bars), in one live handler.

    ``ticks_per_call=1`` (default) times every tick on its own: the call returns the symbol's
    state (None for a rejected tick), the latency is per tick. A larger value feeds consecutive
    chunks; ``ticks_per_call=n_ticks`` is one whole pass per call into a fresh handler (the
    earlier batched behaviour). The handler is replaced by a fresh one each time the stream
    wraps (one object created, inside the call that needs the next tick: each symbol's first
    tick of a pass then also creates its state, as at start-up); state per symbol is bounded
    (``MarketDataHandler.max_bars``). ``close()`` adds the tick counts to ``info``.
    """
    if n_ticks < 1:
        raise ValueError(f"n_ticks must be >= 1, got {n_ticks}")
    feed = _TickFeed(synthetic_ticks(n_ticks, n_symbols, seed), ticks_per_call)

    def close() -> None:
        feed._retire()
        feed.handler = MarketDataHandler()
        op.info.update(feed.totals, stream_passes=feed.stream.passes)

    op = Operation(feed.one if ticks_per_call == 1 else feed.batch, items_per_call=ticks_per_call, close=close,
                   info={"n_symbols": n_symbols, "stream_ticks": len(feed.stream), "ticks_per_call": ticks_per_call})
    return op
