"""The shape of a benchmark workload, shared by every ``trading_agent/<part>/bench.py``.

A benchmark factory ``f(**params)`` does its setup (untimed) and returns an :class:`Operation`:
a zero-argument callable, the thing to time. ``items_per_call`` tells how many records, ticks,
orders... one call handles: throughput counts items, while a call's duration is the latency every
item of that call experiences (so a per-item latency target wants one item per call, cycling
through a pre-generated :class:`Stream`); ``close`` (optional)
releases resources after the benchmark; ``info`` (optional, small JSON-able dict) is recorded
with the result, e.g. ``{"device": "cuda"}``. (perf_tasks only relies on this duck type; trading_agent
never imports perf_tasks.)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar


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


_T = TypeVar("_T")


class Stream(Generic[_T]):
    """A pre-generated stream that a benchmark's calls consume in order, for ever.

    :meth:`item` hands out the next item (``per_call`` 1: one tick, one record per call),
    :meth:`take` the next ``per_call`` items (a trailing part shorter than ``per_call`` is
    skipped, so every call handles exactly ``per_call`` items). When the stream runs out,
    ``on_wrap()`` runs inside the call that needs the next item, and the stream starts again
    from the first one. ``on_wrap`` should be a cheap reset of the state a replay would
    corrupt (running maxima, time going backwards), never a regeneration: it adds tens of
    microseconds to one call per pass (freeing the old state included), which moves no
    percentile below the max. ``passes`` counts the wraps.
    """

    def __init__(self, items: Sequence[_T], per_call: int = 1, on_wrap: Callable[[], None] | None = None) -> None:
        if not 1 <= per_call <= len(items):
            raise ValueError(f"items per call must be in [1, {len(items)}] (the stream length), got {per_call}")
        self.per_call = per_call
        self._items = list(items)
        self._chunks = ([] if per_call == 1 else
                        [self._items[i:i + per_call] for i in range(0, len(items) - per_call + 1, per_call)])
        self._n = len(self._items) // per_call  # calls per pass
        self._i = 0
        self._on_wrap = on_wrap
        self.passes = 0

    def __len__(self) -> int:
        """Items in one pass (the ones handed out before the stream wraps)."""
        return self._n * self.per_call

    @property
    def consumed(self) -> int:
        """Items handed out so far, over all passes."""
        return (self.passes * self._n + self._i) * self.per_call

    def _wrap(self) -> None:
        self.passes += 1
        if self._on_wrap is not None:
            self._on_wrap()

    def item(self) -> _T:
        """The next item (``per_call`` must be 1)."""
        i = self._i
        if i == self._n:
            self._wrap()
            i = 0
        self._i = i + 1
        return self._items[i]

    def take(self) -> Sequence[_T]:
        """The next ``per_call`` items."""
        if self.per_call == 1:
            return (self.item(),)
        i = self._i
        if i == self._n:
            self._wrap()
            i = 0
        self._i = i + 1
        return self._chunks[i]
