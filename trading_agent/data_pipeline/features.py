"""Vectorised per-symbol features from bars: log returns, rolling volatility, RSI, MACD and
Bollinger bands. The streaming equivalents (same definitions, one record at a time) are in
:mod:`trading_agent.data_pipeline.realtime`.

Definitions (``c`` = close, per symbol, in time order; a value is NaN until its window fills):

- ``log_return`` = ln(c_t / c_{t-1}).
- ``volatility`` = sample std (ddof=1) of the last ``vol_window`` log returns (per bar, not
  annualised).
- ``rsi`` (Wilder): gains/losses of c; the first average is the simple mean of the first
  ``rsi_period`` changes, then avg_t = avg_{t-1} + (x_t - avg_{t-1}) / period;
  RSI = 100 - 100 / (1 + avg_gain / avg_loss); 100 when avg_loss = 0 < avg_gain, 50 when flat.
- ``macd`` = EMA_fast(c) - EMA_slow(c) (EMAs with alpha = 2/(span+1), seeded with the first
  close), published from the ``slow``-th bar; ``macd_signal`` = EMA_signal of the published
  MACD (seeded with its first value), published once ``signal`` MACD values exist;
  ``macd_hist`` = macd - macd_signal.
- ``bb_mid`` = mean of the last ``bb_window`` closes, ``bb_upper``/``bb_lower`` = mid +/- k x
  population std (ddof=0) of the same closes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FEATURE_COLUMNS: tuple[str, ...] = ("log_return", "volatility", "rsi", "macd", "macd_signal", "macd_hist",
                                    "bb_mid", "bb_upper", "bb_lower")


@dataclass(frozen=True)
class FeatureParams:
    """Indicator windows, in bars; the defaults are the usual ones."""

    vol_window: int = 20
    rsi_period: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bb_window: int = 20
    bb_k: float = 2.0

    def __post_init__(self) -> None:
        for name in ("vol_window", "rsi_period", "macd_fast", "macd_slow", "macd_signal", "bb_window"):
            if getattr(self, name) < 2:
                raise ValueError(f"FeatureParams.{name} must be >= 2 bars, got {getattr(self, name)}")
        if self.macd_fast >= self.macd_slow:
            raise ValueError(f"macd_fast ({self.macd_fast}) must be < macd_slow ({self.macd_slow})")


def wilder_rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """RSI of one series (definition in the module docstring); NaN for the first ``period`` bars."""
    out = np.full(len(close), np.nan)
    if len(close) <= period:
        return out
    delta = np.diff(close)
    gain, loss = np.maximum(delta, 0.0), np.maximum(-delta, 0.0)
    alpha = 1.0 / period

    def smooth(x: np.ndarray) -> np.ndarray:  # seed = simple mean, then Wilder's recursion
        seeded = np.concatenate(([x[:period].mean()], x[period:]))
        return pd.Series(seeded).ewm(alpha=alpha, adjust=False).mean().to_numpy()

    g, lo = smooth(gain), smooth(loss)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + g / lo)
    rsi = np.where(lo == 0.0, np.where(g == 0.0, 50.0, 100.0), rsi)
    out[period:] = rsi
    return out


def macd(close: np.ndarray, fast: int = 12, slow: int = 26,
         signal: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(macd, signal, histogram) of one series (definition in the module docstring)."""
    c = pd.Series(close)
    line = (c.ewm(span=fast, adjust=False).mean() - c.ewm(span=slow, adjust=False).mean()).to_numpy(copy=True)
    line[: slow - 1] = np.nan
    sig = pd.Series(line).ewm(span=signal, adjust=False, min_periods=signal).mean().to_numpy()
    return line, sig, line - sig


def bollinger(close: np.ndarray, window: int = 20, k: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mid, upper, lower) of one series: rolling mean +/- k x rolling population std."""
    roll = pd.Series(close).rolling(window)
    mid, sd = roll.mean().to_numpy(), roll.std(ddof=0).to_numpy()
    return mid, mid + k * sd, mid - k * sd


def symbol_features(close: np.ndarray, params: FeatureParams = FeatureParams()) -> dict[str, np.ndarray]:
    """All features of one symbol's closes (time order), as arrays aligned with ``close``."""
    close = np.asarray(close, dtype="float64")
    logret = np.full(len(close), np.nan)
    logret[1:] = np.log(close[1:] / close[:-1])
    vol = pd.Series(logret).rolling(params.vol_window).std(ddof=1).to_numpy()
    line, sig, hist = macd(close, params.macd_fast, params.macd_slow, params.macd_signal)
    mid, upper, lower = bollinger(close, params.bb_window, params.bb_k)
    return {"log_return": logret, "volatility": vol, "rsi": wilder_rsi(close, params.rsi_period),
            "macd": line, "macd_signal": sig, "macd_hist": hist, "bb_mid": mid, "bb_upper": upper,
            "bb_lower": lower}


def compute_features(bars: pd.DataFrame, params: FeatureParams = FeatureParams()) -> pd.DataFrame:
    """``bars`` (canonical and validated, each symbol's rows in strictly increasing time) plus
    :data:`FEATURE_COLUMNS`, computed per symbol; rows keep their order (symbols may interleave).

    Raises ValueError naming the symbol when its timestamps are not strictly increasing (the
    indicators would silently mix up the order).
    """
    close = bars["close"].to_numpy(dtype="float64")
    ts = bars["timestamp"].to_numpy()
    out = {name: np.full(len(bars), np.nan) for name in FEATURE_COLUMNS}
    for symbol, idx in bars.groupby("symbol", sort=False).indices.items():
        if len(idx) > 1 and not np.all(ts[idx][1:] > ts[idx][:-1]):  # idx is in row order
            raise ValueError(f"symbol {symbol!r}: bars must be in strictly increasing timestamp order "
                             "(sort by symbol, timestamp and de-duplicate first)")
        for name, values in symbol_features(close[idx], params).items():
            out[name][idx] = values
    return bars.assign(**out)
