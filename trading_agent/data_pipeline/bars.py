"""OHLCV bars: the canonical frame, seeded synthetic bars, the real S&P 500 series, and the
raw forms they arrive in (CSV files, JSON lines off a feed).

Canonical frame (one row per bar, sorted by symbol then timestamp):
``symbol`` (str), ``timestamp`` (datetime64[ns, UTC], bar open time), ``open``/``high``/``low``/
``close`` (float64, price), ``volume`` (int64, shares). A raw record (dict or JSON line) has the
same keys with ``timestamp`` in integer nanoseconds since the epoch (UTC).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trading_agent.data import load_index, synthetic_portfolio

BAR_COLUMNS: tuple[str, ...] = ("symbol", "timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
#: Timestamp text in CSV files (UTC, seconds resolution).
CSV_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_TRADING_MINUTES_PER_DAY = 390  # scales a daily vol to one-minute bars


def synthetic_bars(n_rows: int, n_symbols: int, seed: int, *, bar_s: int = 60,
                   start: str = "2024-01-02 09:30:00") -> pd.DataFrame:
    """``n_rows`` seeded one-``bar_s``-second OHLCV bars over ``n_symbols`` correlated symbols.

    Prices follow correlated random walks (daily vol 1-3 %, from
    :func:`trading_agent.data.synthetic_portfolio`, scaled to the bar length); every bar obeys
    ``high >= max(open, close)`` and ``low <= min(open, close)``. Rows are split as evenly as
    possible across symbols; each symbol's timestamps are ``start + i * bar_s``.
    """
    if n_symbols < 1 or n_rows < n_symbols:
        raise ValueError(f"need n_symbols >= 1 and n_rows >= n_symbols, got n_rows={n_rows} "
                         f"n_symbols={n_symbols}")
    if bar_s < 1:
        raise ValueError(f"bar_s must be >= 1 second, got {bar_s}")
    p = synthetic_portfolio(n_symbols, seed)
    rng = np.random.default_rng(seed + 1)
    per_bar = bar_s / (_TRADING_MINUTES_PER_DAY * 60.0)
    n_max = -(-n_rows // n_symbols)
    chol = np.linalg.cholesky(p.cov * per_bar)
    rets = rng.standard_normal((n_max, n_symbols)) @ chol.T + p.mu * per_bar
    sigma = np.sqrt(np.diag(p.cov) * per_bar)
    t0 = pd.Timestamp(start, tz="UTC").as_unit("ns")
    counts = np.full(n_symbols, n_rows // n_symbols)
    counts[: n_rows % n_symbols] += 1
    frames = []
    for j in range(n_symbols):
        n = int(counts[j])
        close = 100.0 * np.exp(np.cumsum(rets[:n, j]))
        open_ = np.empty(n)
        open_[0] = 100.0
        open_[1:] = close[:-1] * np.exp(rng.normal(0.0, 0.1 * sigma[j], n - 1))  # small gaps
        wick = np.abs(rng.normal(0.0, 0.5 * sigma[j], (2, n)))
        frames.append(pd.DataFrame({
            "symbol": f"SYM{j:03d}",
            "timestamp": t0 + pd.to_timedelta(np.arange(n) * bar_s, unit="s"),
            "open": open_.round(4),
            "high": (np.maximum(open_, close) * np.exp(wick[0])).round(4),
            "low": (np.minimum(open_, close) * np.exp(-wick[1])).round(4),
            "close": close.round(4),
            "volume": rng.integers(1, 200, n) * 100,
        }))
    return pd.concat(frames, ignore_index=True)


def index_bars(name: str = "sp500") -> pd.DataFrame:
    """The real daily index series shipped in ``arch`` (1999-2018, ~5,000 rows) as canonical bars."""
    raw = load_index(name)
    return pd.DataFrame({
        "symbol": name.upper(),
        "timestamp": pd.DatetimeIndex(raw.index).tz_localize("UTC").as_unit("ns"),
        "open": raw["Open"].to_numpy(float), "high": raw["High"].to_numpy(float),
        "low": raw["Low"].to_numpy(float), "close": raw["Close"].to_numpy(float),
        "volume": raw["Volume"].to_numpy("int64"),
    }).reset_index(drop=True)


def write_bar_csvs(bars: pd.DataFrame, directory: Path, *, duplicate_pct: float = 0.0,
                   seed: int = 0) -> list[Path]:
    """Write one CSV per symbol into ``directory`` (which must exist); returns the paths.

    ``duplicate_pct`` (0-100) % of each file's rows are written again at the end of the file with
    a changed volume, as a vendor's late corrections would be: ingestion must keep the last one.
    """
    if not 0.0 <= duplicate_pct <= 100.0:
        raise ValueError(f"duplicate_pct must be in [0, 100], got {duplicate_pct}")
    rng = np.random.default_rng(seed)
    paths = []
    for symbol, group in bars.groupby("symbol", sort=True):
        n_dup = int(round(len(group) * duplicate_pct / 100.0))
        if n_dup:
            dups = group.iloc[np.sort(rng.choice(len(group), n_dup, replace=False))].copy()
            dups["volume"] = dups["volume"] + 100
            group = pd.concat([group, dups])
        out = group.assign(timestamp=group["timestamp"].dt.strftime(CSV_TIME_FORMAT))
        path = directory / f"{symbol}.csv"
        out.to_csv(path, index=False, columns=list(BAR_COLUMNS))
        paths.append(path)
    return paths


def bars_to_records(bars: pd.DataFrame) -> list[dict[str, Any]]:
    """Bars as raw feed records (dicts), interleaved across symbols in time order."""
    ordered = bars.sort_values(["timestamp", "symbol"], kind="stable")
    ts_ns = ordered["timestamp"].dt.as_unit("ns").astype("int64").tolist()
    cols = {c: ordered[c].tolist() for c in BAR_COLUMNS if c != "timestamp"}
    return [{"symbol": s, "timestamp": t, "open": o, "high": h, "low": lo, "close": c, "volume": v}
            for s, t, o, h, lo, c, v in zip(cols["symbol"], ts_ns, cols["open"], cols["high"],
                                            cols["low"], cols["close"], cols["volume"], strict=True)]


def records_to_json_lines(records: Iterable[dict[str, Any]]) -> list[str]:
    """One compact JSON document per record, as they come off a line-delimited feed."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    return [dumps(r) for r in records]


#: The kinds of damage :func:`corrupt_records` does, each breaking one suite rule.
CORRUPTIONS: tuple[str, ...] = ("null_close", "high_below_open", "low_above_close", "negative_volume",
                                "repeated_timestamp")


def corrupt_records(records: Sequence[dict[str, Any]], pct: float,
                    seed: int) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """A copy of ``records`` with ``pct`` % of them damaged (kinds in :data:`CORRUPTIONS`, in turn).

    Returns the records and ``{index: kind}`` of the damaged ones. A repeated timestamp copies the
    timestamp of the same symbol's previous record, so it is not strictly increasing.
    """
    if not 0.0 <= pct <= 100.0:
        raise ValueError(f"pct must be in [0, 100], got {pct}")
    out = [dict(r) for r in records]
    rng = np.random.default_rng(seed)
    n_bad = int(round(len(out) * pct / 100.0))
    last_ts: dict[str, int] = {}
    prev_ts: list[int | None] = []
    for r in out:  # each record's same-symbol predecessor timestamp
        prev_ts.append(last_ts.get(r["symbol"]))
        last_ts[r["symbol"]] = r["timestamp"]
    damaged: dict[int, str] = {}
    candidates = [i for i in rng.permutation(len(out)).tolist() if prev_ts[i] is not None]
    for k, i in enumerate(candidates[:n_bad]):
        kind = CORRUPTIONS[k % len(CORRUPTIONS)]
        r = out[i]
        if kind == "null_close":
            r["close"] = None
        elif kind == "high_below_open":
            r["high"] = r["open"] - 0.5
        elif kind == "low_above_close":
            r["low"] = r["close"] + 0.5
        elif kind == "negative_volume":
            r["volume"] = -r["volume"] - 1
        else:
            r["timestamp"] = prev_ts[i]
        damaged[i] = kind
    return out, damaged


def records_to_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Raw records -> a bar frame with the canonical columns, keeping missing values.

    ``timestamp`` (int ns) becomes datetime64[ns, UTC] exactly (no float round trip); prices and
    volume become float64 so a missing value is NaN (volume is exact below 2**53 shares).
    """
    cols = {c: [r.get(c) for r in records] for c in BAR_COLUMNS}
    ts = pd.to_datetime(pd.array(cols["timestamp"], dtype="Int64"), unit="ns", utc=True)
    return pd.DataFrame({
        "symbol": pd.array(cols["symbol"], dtype="str"),
        "timestamp": ts,
        **{c: np.array(cols[c], dtype="float64") for c in (*PRICE_COLUMNS, "volume")},
    })
