"""The shape of a benchmark workload, shared by every ``trading_agent/<part>/bench.py``.

A benchmark factory ``f(**params)`` does its setup (untimed) and returns an :class:`Operation`:
a zero-argument callable, the thing to time. ``items_per_call`` tells how many records, ticks,
orders... one call handles, so latency and throughput are reported per item; ``close`` (optional)
releases resources after the benchmark; ``info`` (optional, small JSON-able dict) is recorded
with the result, e.g. ``{"device": "cuda"}``. (perf_tasks only relies on this duck type; trading_agent
never imports perf_tasks.)
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Operation:
    def __init__(self, fn: Callable[[], Any], items_per_call: int = 1,
                 close: Callable[[], None] | None = None, info: dict[str, Any] | None = None) -> None:
        if items_per_call < 1:
            raise ValueError(f"items_per_call must be >= 1, got {items_per_call}")
        self._fn = fn
        self.items_per_call = items_per_call
        self._close = close
        self.info = dict(info or {})

    def __call__(self) -> Any:
        return self._fn()

    def close(self) -> None:
        if self._close is not None:
            self._close()
