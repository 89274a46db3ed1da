"""Historical ingestion: OHLCV CSV files -> one tidy, typed, sorted, de-duplicated bar frame."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trading_agent.data_pipeline.bars import BAR_COLUMNS, CSV_TIME_FORMAT, PRICE_COLUMNS

log = logging.getLogger(__name__)

_READ_DTYPES = {"symbol": "str", "timestamp": "str", **{c: "float64" for c in PRICE_COLUMNS},
                "volume": "float64"}  # volume read as float so a blank cell is NaN, not an error


@dataclass(frozen=True)
class IngestResult:
    """What one ingestion produced; every row read is accounted for:
    ``rows_read == len(bars) + rows_incomplete + duplicates_dropped``."""

    bars: pd.DataFrame  # canonical bars (see trading_agent.data_pipeline.bars), sorted, unique
    files: int
    rows_read: int
    rows_incomplete: int  # a required cell was empty: dropped, counted
    duplicates_dropped: int  # same (symbol, timestamp) seen again: the later row wins


def read_bar_csv(path: Path, *, time_format: str = CSV_TIME_FORMAT) -> pd.DataFrame:
    """One CSV file -> typed frame (rows in file order, not yet cleaned).

    Raises ValueError naming the file when a column is missing or a value does not parse.
    """
    try:
        raw = pd.read_csv(path, dtype=_READ_DTYPES, engine="c")
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: cannot parse as OHLCV CSV: {exc}") from exc
    missing = [c for c in BAR_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(BAR_COLUMNS)}, "
                         f"got {list(raw.columns)}")
    try:
        raw["timestamp"] = pd.to_datetime(raw["timestamp"], format=time_format, utc=True).dt.as_unit("ns")
    except ValueError as exc:
        raise ValueError(f"{path}: column 'timestamp' must look like {time_format!r}: {exc}") from exc
    return raw[list(BAR_COLUMNS)]


def ingest_bar_files(paths: Sequence[Path], *, time_format: str = CSV_TIME_FORMAT) -> IngestResult:
    """Parse, type, sort by (symbol, timestamp) and de-duplicate a set of bar files.

    Rows with an empty required cell are dropped and counted (not silently lost). On a repeated
    (symbol, timestamp) the row read last wins: files are read in the order given and rows in
    file order, so a vendor's correction appended later replaces the original.
    """
    if not paths:
        raise ValueError("no files to ingest")
    frames = [read_bar_csv(Path(p), time_format=time_format) for p in paths]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    rows_read = len(df)
    complete = df.notna().all(axis=1)
    rows_incomplete = int(rows_read - complete.sum())
    if rows_incomplete:
        log.warning("ingestion dropped %d row(s) with empty cells out of %d", rows_incomplete, rows_read)
        df = df[complete]
    volume = df["volume"].to_numpy()
    if (volume != volume.round()).any():
        bad = volume[volume != volume.round()][0]
        raise ValueError(f"column 'volume' must hold whole numbers of shares, got {bad!r}")
    df = df.assign(volume=volume.astype("int64"))
    df = df.sort_values(["symbol", "timestamp"], kind="stable")
    before = len(df)
    df = df.drop_duplicates(["symbol", "timestamp"], keep="last").reset_index(drop=True)
    return IngestResult(bars=df, files=len(paths), rows_read=rows_read, rows_incomplete=rows_incomplete,
                        duplicates_dropped=before - len(df))
