"""Windows of market features for the price model: ``x`` of shape (n, window, 15) and the next
day's return and direction as targets.

Two sources, both offline and deterministic:

- :func:`sp500_windows`: 15 features computed from the real S&P 500 daily OHLCV (1999-2018,
  shipped in ``arch``), standardised with statistics of the first ``train_fraction`` of days
  only (no look-ahead);
- :func:`synthetic_windows`: seeded Gaussian features with a target that is a known function of
  the last days of the window plus noise, so a model can provably learn it (used by tests).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trading_agent.data import load_index
from trading_agent.models.shapes import FEATURE_NAMES, N_FEATURES, WINDOW


@dataclass(frozen=True)
class WindowDataset:
    """Model inputs and targets, row ``i`` being one window.

    x: (n, window, n_features) float32, standardised features, oldest day first.
    next_return: (n,) float32, the next day's log return in units of its (training) std.
    direction: (n,) int64, 1 when the next return is > 0, else 0.
    """

    x: np.ndarray
    next_return: np.ndarray
    direction: np.ndarray

    def __post_init__(self) -> None:
        if self.x.ndim != 3:
            raise ValueError(f"x must be (n, window, n_features), got shape {self.x.shape}")
        n = self.x.shape[0]
        if self.next_return.shape != (n,) or self.direction.shape != (n,):
            raise ValueError(f"targets must be ({n},) like x's first axis, got next_return "
                             f"{self.next_return.shape} and direction {self.direction.shape}")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def window(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[2])


def ohlcv_features(ohlcv: pd.DataFrame) -> pd.DataFrame:
    """The 15 raw daily features of :data:`FEATURE_NAMES` from columns Open, High, Low, Close,
    Adj Close and Volume; the first rows (up to 60) are NaN while rolling windows fill."""
    missing = {"Open", "High", "Low", "Close", "Adj Close", "Volume"} - set(ohlcv.columns)
    if missing:
        raise ValueError(f"OHLCV frame lacks columns {sorted(missing)}; has {list(ohlcv.columns)}")
    close = ohlcv["Adj Close"].astype(float)
    r = np.log(close).diff()
    log_vol = np.log(ohlcv["Volume"].astype(float).clip(lower=1.0))
    gain = r.clip(lower=0).rolling(14).mean()
    loss = (-r).clip(lower=0).rolling(14).mean()
    rsi = (gain - loss) / (gain + loss).replace(0.0, np.nan)  # in [-1, 1]
    feats = {
        "log_return": r,
        "abs_log_return": r.abs(),
        "mean_return_5d": r.rolling(5).mean(),
        "mean_return_20d": r.rolling(20).mean(),
        "vol_5d": r.rolling(5).std(),
        "vol_20d": r.rolling(20).std(),
        "vol_60d": r.rolling(60).std(),
        "log_high_low": np.log(ohlcv["High"] / ohlcv["Low"]),
        "log_close_open": np.log(ohlcv["Close"] / ohlcv["Open"]),
        "log_gap": np.log(ohlcv["Open"] / ohlcv["Close"].shift(1)),
        "log_volume_change": log_vol.diff(),
        "volume_z_20d": (log_vol - log_vol.rolling(20).mean()) / log_vol.rolling(20).std(),
        "rsi_14d": rsi,
        "log_close_to_max_20d": np.log(close / close.rolling(20).max()),
        "log_close_to_sma_50d": np.log(close / close.rolling(50).mean()),
    }
    return pd.DataFrame(feats, index=ohlcv.index)[list(FEATURE_NAMES)]


def sp500_windows(window: int = WINDOW, *, name: str = "sp500", train_fraction: float = 0.7) -> WindowDataset:
    """Every complete ``window``-day window of the real index series (about 4,900 for 60 days),
    with the next day's return as target. Mean and std come from the first ``train_fraction`` of
    days, so the later days can serve as an honest test set."""
    if window < 1:
        raise ValueError(f"window must be >= 1 day, got {window}")
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}")
    raw = ohlcv_features(load_index(name))
    values = raw.to_numpy(dtype=np.float64)
    next_r = raw["log_return"].shift(-1).to_numpy(dtype=np.float64)
    first = int(np.argmax(np.isfinite(values).all(axis=1)))  # first day with every feature
    values, next_r = values[first:], next_r[first:]
    n_train = max(int(len(values) * train_fraction), 2)
    mean = np.nanmean(values[:n_train], axis=0)
    std = np.nanstd(values[:n_train], axis=0)
    z = np.nan_to_num((values - mean) / np.where(std > 0, std, 1.0))
    r_std = float(np.nanstd(next_r[:n_train]))
    ends = np.arange(window - 1, len(values) - 1)  # the last day has no next return
    if len(ends) == 0:
        raise ValueError(f"window {window} is longer than the {len(values)} usable days of {name!r}")
    x = np.lib.stride_tricks.sliding_window_view(z, window, axis=0)[ends - window + 1]
    x = np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32)  # (n, window, features)
    target = next_r[ends]
    return WindowDataset(x=x, next_return=(target / r_std).astype(np.float32),
                         direction=(target > 0).astype(np.int64))


def synthetic_windows(n: int, window: int = WINDOW, n_features: int = N_FEATURES, *, seed: int = 0,
                      noise: float = 0.3, target_seed: int = 0) -> WindowDataset:
    """``n`` seeded windows of AR(1) Gaussian features (``seed``); the target is a fixed linear
    function (drawn from ``target_seed``, so datasets of any ``seed`` share it) of the last 5
    days' average, scaled to unit variance, plus ``noise`` x N(0, 1): learnable, with the best
    achievable MSE about ``noise**2``."""
    if n < 1 or window < 5 or n_features < 1:
        raise ValueError(f"need n >= 1, window >= 5, n_features >= 1; got n={n}, window={window}, "
                         f"n_features={n_features}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    w = np.random.default_rng(target_seed).standard_normal(n_features)
    rng = np.random.default_rng(seed)
    phi = 0.7  # day-to-day persistence of each feature, as in smoothed market indicators
    eps = rng.standard_normal((n, window, n_features))
    x = np.empty_like(eps)
    x[:, 0] = eps[:, 0]
    for t in range(1, window):
        x[:, t] = phi * x[:, t - 1] + np.sqrt(1 - phi**2) * eps[:, t]
    lags = np.abs(np.subtract.outer(np.arange(5), np.arange(5)))
    mean5_var = float((phi ** lags).sum()) / 25.0  # variance of a 5-day mean of unit AR(1)
    signal = x[:, -5:].mean(axis=1) @ w / np.sqrt(mean5_var * float(w @ w))
    y = signal + noise * rng.standard_normal(n)
    return WindowDataset(x=x.astype(np.float32), next_return=y.astype(np.float32),
                         direction=(y > 0).astype(np.int64))
