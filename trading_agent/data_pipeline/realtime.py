"""Real-time processing, one record at a time: parse -> validate (fast path) -> update the
symbol's rolling state -> emit its features.

The features are those of :mod:`trading_agent.data_pipeline.features` (same definitions, same
warm-up), kept incrementally in O(1) per record, so a stream and a batch over the same accepted
bars agree. Rejected and malformed records are counted, never silently dropped.
"""
from __future__ import annotations

import json
import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from trading_agent.data_pipeline.features import FeatureParams
from trading_agent.data_pipeline.rules import OHLCV_RULES, RecordChecker, Rule

_NAN = float("nan")


class FeatureUpdate(NamedTuple):
    """Features of one accepted bar (NaN until the indicator's window has filled)."""

    symbol: str
    timestamp: int  # ns since the epoch, UTC
    close: float
    log_return: float
    volatility: float
    rsi: float
    macd: float
    macd_signal: float
    macd_hist: float
    bb_mid: float
    bb_upper: float
    bb_lower: float


class _Window:
    """Last ``size`` values with running sums, anchored near the data so the sums stay exact
    enough; re-anchored (sums recomputed) every ``size`` updates to stop drift."""

    __slots__ = ("size", "values", "anchor", "s", "ss", "updates")

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: deque[float] = deque(maxlen=size)
        self.anchor: float | None = None
        self.s = self.ss = 0.0
        self.updates = 0

    def push(self, x: float) -> None:
        if self.anchor is None:
            self.anchor = x
        values = self.values
        if len(values) == self.size:
            old = values[0] - self.anchor
            self.s -= old
            self.ss -= old * old
        values.append(x)
        d = x - self.anchor
        self.s += d
        self.ss += d * d
        self.updates += 1
        if self.updates % self.size == 0:  # re-anchor on the current mean and recompute
            self.anchor = sum(values) / len(values)
            ds = [v - self.anchor for v in values]
            self.s = sum(ds)
            self.ss = sum(v * v for v in ds)

    def mean_var(self, ddof: int) -> tuple[float, float]:
        """(mean, variance) of a full window; NaN while it is not full."""
        n = len(self.values)
        if n < self.size:
            return _NAN, _NAN
        m = self.s / n
        return self.anchor + m, max((self.ss - n * m * m) / (n - ddof), 0.0)


class _SymbolState:
    __slots__ = ("bars", "last_close", "returns", "closes", "changes", "gain", "loss",
                 "ema_fast", "ema_slow", "n_macd", "signal")

    def __init__(self, p: FeatureParams) -> None:
        self.bars = 0
        self.last_close = _NAN
        self.returns = _Window(p.vol_window)
        self.closes = _Window(p.bb_window)
        self.changes = 0
        self.gain = self.loss = 0.0  # sums while seeding, then Wilder averages
        self.ema_fast = self.ema_slow = self.signal = _NAN
        self.n_macd = 0


class StreamProcessor:
    """Feed records with :meth:`on_line` (JSON text) or :meth:`on_record` (dict); each returns
    the bar's :class:`FeatureUpdate`, or None when the record was rejected or malformed.

    Counters: ``accepted``, ``malformed`` (not JSON, not an object, wrong value types),
    ``rejected`` (records breaking at least one rule) and ``rule_failures`` (per rule name).
    """

    def __init__(self, rules: tuple[Rule, ...] = OHLCV_RULES, params: FeatureParams = FeatureParams()) -> None:
        self.params = params
        self.checker = RecordChecker(rules)
        self._states: dict[str, _SymbolState] = {}
        self._a_fast = 2.0 / (params.macd_fast + 1)
        self._a_slow = 2.0 / (params.macd_slow + 1)
        self._a_signal = 2.0 / (params.macd_signal + 1)
        self.accepted = self.rejected = self.malformed = 0
        self.rule_failures: Counter[str] = Counter()

    def on_line(self, line: str | bytes) -> FeatureUpdate | None:
        try:
            record = json.loads(line)
        except ValueError:  # JSONDecodeError and undecodable bytes
            self.malformed += 1
            return None
        if not isinstance(record, dict):
            self.malformed += 1
            return None
        return self.on_record(record)

    def on_record(self, record: Mapping[str, Any]) -> FeatureUpdate | None:
        try:
            failed = self.checker.check(record)
        except TypeError:  # e.g. a price sent as a string: not comparable
            self.malformed += 1
            return None
        if failed:
            self.rejected += 1
            self.rule_failures.update(failed)
            return None
        self.accepted += 1
        return self._update(record["symbol"], record["timestamp"], float(record["close"]))

    def process_lines(self, lines: Iterable[str | bytes]) -> list[FeatureUpdate]:
        """The updates of the accepted records among ``lines``, in order."""
        on_line = self.on_line
        return [u for u in map(on_line, lines) if u is not None]

    def reset(self) -> None:
        """Forget all symbols, the validator's running state and the counters."""
        self._states.clear()
        self.checker.reset()
        self.accepted = self.rejected = self.malformed = 0
        self.rule_failures.clear()

    def _update(self, symbol: str, ts: int, close: float) -> FeatureUpdate:
        p = self.params
        st = self._states.get(symbol)
        if st is None:
            st = self._states[symbol] = _SymbolState(p)
        st.bars += 1
        prev = st.last_close
        st.last_close = close
        st.closes.push(close)
        bb_mid, bb_var = st.closes.mean_var(ddof=0)
        bb_sd = p.bb_k * math.sqrt(bb_var) if bb_var == bb_var else _NAN

        if st.bars == 1:
            logret = vol = rsi = _NAN
            st.ema_fast = st.ema_slow = close
        else:
            logret = math.log(close / prev)
            st.returns.push(logret)
            vol = math.sqrt(st.returns.mean_var(ddof=1)[1])
            rsi = self._rsi(st, close - prev)
            st.ema_fast = (1.0 - self._a_fast) * st.ema_fast + self._a_fast * close
            st.ema_slow = (1.0 - self._a_slow) * st.ema_slow + self._a_slow * close

        line = signal = _NAN
        if st.bars >= p.macd_slow:
            line = st.ema_fast - st.ema_slow
            st.n_macd += 1
            st.signal = line if st.n_macd == 1 else (1.0 - self._a_signal) * st.signal + self._a_signal * line
            if st.n_macd >= p.macd_signal:
                signal = st.signal
        return FeatureUpdate(symbol, ts, close, logret, vol, rsi, line, signal, line - signal,
                             bb_mid, bb_mid + bb_sd, bb_mid - bb_sd)

    def _rsi(self, st: _SymbolState, delta: float) -> float:
        period = self.params.rsi_period
        gain = delta if delta > 0.0 else 0.0
        loss = -delta if delta < 0.0 else 0.0
        st.changes += 1
        if st.changes < period:
            st.gain += gain
            st.loss += loss
            return _NAN
        if st.changes == period:  # Wilder's seed: the simple mean of the first `period` changes
            st.gain = (st.gain + gain) / period
            st.loss = (st.loss + loss) / period
        else:
            a = 1.0 / period
            st.gain = (1.0 - a) * st.gain + a * gain
            st.loss = (1.0 - a) * st.loss + a * loss
        if st.loss == 0.0:
            return 50.0 if st.gain == 0.0 else 100.0
        return 100.0 - 100.0 / (1.0 + st.gain / st.loss)
