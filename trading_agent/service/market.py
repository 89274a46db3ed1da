"""Live market data of the service: a seeded synthetic tick stream replayed into a
:class:`~trading_agent.market_data.handler.MarketDataHandler` at start, then advanced a few
ticks per request so that quotes, VWAP and bars move while a load test runs.

Live ticks continue each symbol's random walk exactly as :func:`trading_agent.data.synthetic_ticks`
builds it (one tick step down/flat/up with probabilities 0.3/0.4/0.3, a 1-3 tick spread, lots of
100 shares); their timestamps continue the replayed stream at wall-clock pace, so one-second bars
close in real time.

Threading: :meth:`MarketFeed.replay` builds the feed on any thread; afterwards only the event
loop's thread touches it (every call is a few microseconds), and other threads get immutable
snapshots (:class:`LiveState`, the :class:`MarketData` model).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from trading_agent.data import Tick, synthetic_ticks
from trading_agent.market_data.handler import MarketDataHandler, SymbolState
from trading_agent.service.schemas import BarOut, MarketData

MAX_BARS_OUT = 100
_STEPS = (-1, 0, 1)
_STEP_WEIGHTS = (0.3, 0.4, 0.3)


@dataclass
class _Session:
    """Per-symbol session statistics the handler does not keep (mutated on the loop thread)."""

    open: float
    high: float
    low: float


@dataclass(frozen=True, slots=True)
class LiveState:
    """A symbol's market state at one instant, safe to hand to another thread."""

    symbol: str
    ts_ns: int
    last: float
    day_open: float
    day_high: float
    day_low: float
    volume: int
    bar_start_ns: int


class UnknownSymbolError(KeyError):
    """A symbol the feed does not carry; the message names it and the valid form."""


class BadTickError(ValueError):
    """A pushed tick the feed refuses (unknown symbol, crossed quote); the message names it."""


@dataclass(frozen=True, slots=True)
class PushResult:
    accepted: int
    duplicates: int
    gaps: int
    missing: int


class MarketFeed:
    """Market data for ``symbols`` (see the module docstring). ``clock`` returns nanoseconds."""

    def __init__(self, handler: MarketDataHandler, last_ts_ns: int, *, seed: int, advance_ticks: int,
                 tick_size: float = 0.01, clock: Callable[[], int] = time.monotonic_ns) -> None:
        if not handler.state:
            raise ValueError("MarketFeed needs a handler that has seen ticks; it has none")
        self.handler = handler
        self.symbols: tuple[str, ...] = tuple(sorted(handler.state))
        self.advance_ticks = advance_ticks
        self.tick_size = tick_size
        self._rng = random.Random(seed)
        self._clock = clock
        self._clock0 = clock()
        self._ts0 = self._last_ts = last_ts_ns
        self._sessions: dict[str, _Session] = {}
        now = clock()
        self._arrived_ns: dict[str, int] = dict.fromkeys(self.symbols, now)  # clock() of each symbol's last tick
        self._seq: dict[str, int] = dict.fromkeys(self.symbols, 0)  # last pushed seq per symbol
        self.gaps = self.missing = self.duplicates = 0

    @classmethod
    def replay(cls, n_ticks: int, n_symbols: int, seed: int, *, advance_ticks: int = 1,
               tick_size: float = 0.01, clock: Callable[[], int] = time.monotonic_ns,
               now_ns: int | None = None) -> MarketFeed:
        """Replay ``n_ticks`` seeded ticks over ``n_symbols`` symbols; every symbol must get one.

        The stream is shifted in time to end at ``now_ns`` (default: the wall clock), so feed
        timestamps read as current time, like the engine's fill timestamps."""
        ticks = synthetic_ticks(n_ticks, n_symbols, seed, tick_size=tick_size)
        shift = (time.time_ns() if now_ns is None else now_ns) - ticks[-1].ts_ns
        handler = MarketDataHandler()
        sessions: dict[str, _Session] = {}
        for t in ticks:
            t = Tick(t.symbol, t.ts_ns + shift, t.bid, t.ask, t.last, t.size)
            if handler.on_tick(t) is not None:
                _track(sessions, t)
        missing = n_symbols - len(handler.state)
        if missing:
            raise ValueError(f"{n_ticks} ticks left {missing} of {n_symbols} symbols without a quote; "
                             "replay more ticks (--ticks)")
        feed = cls(handler, ticks[-1].ts_ns + shift, seed=seed, advance_ticks=advance_ticks, tick_size=tick_size,
                   clock=clock)
        feed._sessions = sessions
        return feed

    # -- queries ------------------------------------------------------------------------------
    def _state(self, symbol: str) -> SymbolState:
        st = self.handler.state.get(symbol)
        if st is None:
            raise UnknownSymbolError(f"unknown symbol {symbol!r}; this feed carries {self.symbols[0]}.."
                                     f"{self.symbols[-1]} ({len(self.symbols)} symbols)")
        return st

    def age_s(self, symbol: str) -> float:
        """Seconds since ``symbol``'s last tick arrived (replayed, advanced or pushed)."""
        return (self._clock() - self._arrived_ns[symbol]) / 1e9

    def stale(self, symbols, max_age_s: float | None) -> list[str]:
        """The ``symbols`` whose last tick is older than ``max_age_s`` (None: none ever is)."""
        if max_age_s is None:
            return []
        limit = self._clock() - int(max_age_s * 1e9)
        return [s for s in symbols if self._arrived_ns.get(s, limit) < limit]

    def push(self, ticks) -> PushResult:
        """Apply ticks from an upstream feed (objects with symbol, seq, bid, ask, last, size), in
        order. Per symbol, a seq at or below the last one is a duplicate (dropped); a jump is a gap
        (counted; the tick is applied: the latest quote is still the best one we have). The whole
        batch is refused (:class:`BadTickError`, nothing applied) when a tick names an unknown
        symbol or a crossed quote."""
        for i, t in enumerate(ticks):
            if t.symbol not in self._seq:
                raise BadTickError(f"ticks[{i}]: unknown symbol {t.symbol!r}; this feed carries "
                                   f"{self.symbols[0]}..{self.symbols[-1]}")
            if t.ask < t.bid:
                raise BadTickError(f"ticks[{i}] ({t.symbol} seq {t.seq}): crossed quote, ask {t.ask} < bid {t.bid}")
        accepted = dup = gaps = missing = 0
        now = self._clock()
        for t in ticks:
            last = self._seq[t.symbol]
            if t.seq <= last:
                dup += 1
                continue
            if t.seq > last + 1 and last > 0:
                gaps += 1
                missing += t.seq - last - 1
            self._seq[t.symbol] = t.seq
            ts = max(self._ts0 + (now - self._clock0), self._last_ts + 1)
            tick = Tick(t.symbol, ts, t.bid, t.ask, t.last, t.size)
            if self.handler.on_tick(tick) is not None:
                self._last_ts = ts
                self._arrived_ns[t.symbol] = now
                _track(self._sessions, tick)
                accepted += 1
        self.gaps += gaps
        self.missing += missing
        self.duplicates += dup
        return PushResult(accepted, dup, gaps, missing)

    def has(self, symbol: str) -> bool:
        return symbol in self.handler.state

    def mark(self, symbol: str) -> float:
        """Last trade price of ``symbol``."""
        return self._state(symbol).last

    def marks(self) -> dict[str, float]:
        """Last trade price of every symbol (a fresh dict: safe to hand to another thread)."""
        return {s: st.last for s, st in self.handler.state.items()}

    def live(self, symbol: str) -> LiveState:
        st = self._state(symbol)
        sess = self._sessions[symbol]
        bar = st.bar
        return LiveState(symbol, self._last_ts, st.last, sess.open, sess.high, sess.low, st.volume,
                         bar.start_ns if bar is not None else 0)

    def quote(self, symbol: str, n_bars: int = 10, max_age_s: float | None = None) -> MarketData:
        """Top of book, last, VWAP, session range and the latest ``n_bars`` one-second bars."""
        if not 0 <= n_bars <= MAX_BARS_OUT:
            raise ValueError(f"n_bars must be in [0, {MAX_BARS_OUT}], got {n_bars}")
        st = self._state(symbol)
        sess = self._sessions[symbol]
        bars = []
        if n_bars:
            done = st.bars[-(n_bars - 1):] if n_bars > 1 else []
            bars = [BarOut(start_ns=b.start_ns, open=b.open, high=b.high, low=b.low, close=b.close,
                           volume=b.volume) for b in (*done, *(() if st.bar is None else (st.bar,)))]
        return MarketData(symbol=symbol, ts_ns=self._last_ts, bid=st.bid, ask=st.ask,
                          mid=round((st.bid + st.ask) / 2, 6), spread=round(st.ask - st.bid, 6), last=st.last,
                          vwap=st.vwap, volume=st.volume, day_open=sess.open, day_high=sess.high,
                          day_low=sess.low, bars=bars, age_s=round(self.age_s(symbol), 6),
                          stale=bool(self.stale((symbol,), max_age_s)))

    # -- live ticks ---------------------------------------------------------------------------
    def advance(self, symbol: str, n: int | None = None) -> None:
        """Apply ``n`` (default ``advance_ticks``) new ticks to ``symbol``'s random walk."""
        st = self._state(symbol)
        rng, tick = self._rng, self.tick_size
        for _ in range(self.advance_ticks if n is None else n):
            step = rng.choices(_STEPS, _STEP_WEIGHTS)[0]
            level = max(round(st.bid / tick) + step, 100)
            spread = rng.randint(1, 3)
            bid, ask = round(level * tick, 2), round((level + spread) * tick, 2)
            ts = max(self._ts0 + (self._clock() - self._clock0), self._last_ts + 1)
            t = Tick(symbol, ts, bid, ask, bid if step <= 0 else ask, rng.randint(1, 49) * 100)
            if self.handler.on_tick(t) is not None:
                self._last_ts = ts
                self._arrived_ns[symbol] = self._clock()
                _track(self._sessions, t)


def _track(sessions: dict[str, _Session], t: Tick) -> None:
    s = sessions.get(t.symbol)
    if s is None:
        sessions[t.symbol] = _Session(t.last, t.last, t.last)
    elif t.last > s.high:
        s.high = t.last
    elif t.last < s.low:
        s.low = t.last
