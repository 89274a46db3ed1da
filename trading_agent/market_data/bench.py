"""Benchmark factories for market data handling (named in config/benchmarks.yaml)."""
from __future__ import annotations

from trading_agent.data import synthetic_ticks
from trading_agent.market_data.handler import MarketDataHandler
from trading_agent.operation import Operation

def market_data_ticks(n_ticks: int = 10_000, n_symbols: int = 50, seed: int = 11) -> Operation:
    """Feed ``n_ticks`` pre-generated ticks through a fresh handler per call."""
    ticks = synthetic_ticks(n_ticks, n_symbols, seed)

    def run() -> MarketDataHandler:
        handler = MarketDataHandler()
        on_tick = handler.on_tick
        for t in ticks:
            on_tick(t)
        return handler

    return Operation(run, items_per_call=n_ticks)
