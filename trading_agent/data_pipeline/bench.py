"""Benchmark factories for the data pipeline (named in config/benchmarks.yaml).

Each factory does its setup (data generation, files, the GX context) untimed and returns an
:class:`~trading_agent.operation.Operation`; ``items_per_call`` is records per call. Streams are
pre-generated (:class:`~trading_agent.operation.Stream`) and consumed in order, one record per
call by default (``records_per_call``), so the per-symbol state is warm; when a stream runs out
it starts again from a reset state (a few dict clears in the call that wraps, once per pass).
Measurements a call cannot report through its own timing (per-record latency, what a record
waiting for a micro-batch experiences, reject counts) are added to ``info`` by ``close()``.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from trading_agent.data_pipeline.bars import (bars_to_records, corrupt_records, index_bars, records_to_frame,
                                              records_to_json_lines, synthetic_bars, write_bar_csvs)
from trading_agent.data_pipeline.features import compute_features
from trading_agent.data_pipeline.ingest import ingest_bar_files
from trading_agent.data_pipeline.realtime import StreamProcessor
from trading_agent.data_pipeline.rules import RecordChecker
from trading_agent.operation import Operation, Stream

_MAX_SAMPLES = 200_000  # per-record latency samples kept (bounded memory)


def _records_per_call(records_per_call: int | None, chunk_records: int | None) -> int:
    """``records_per_call`` (default 1); ``chunk_records`` is its older name, still accepted."""
    if records_per_call is not None and chunk_records is not None and records_per_call != chunk_records:
        raise ValueError(f"records_per_call={records_per_call} and chunk_records={chunk_records} disagree "
                         "(chunk_records is the older name of records_per_call: give one)")
    n = records_per_call if records_per_call is not None else chunk_records if chunk_records is not None else 1
    if n < 1:
        raise ValueError(f"records_per_call must be >= 1, got {n}")
    return n


def _quantiles_us(samples_ns: list[int], prefix: str) -> dict[str, float]:
    if not samples_ns:
        return {}
    a = np.asarray(samples_ns, dtype=float) / 1e3
    p50, p99 = np.percentile(a, [50, 99])
    return {f"{prefix}_p50_us": round(float(p50), 3), f"{prefix}_p99_us": round(float(p99), 3),
            f"{prefix}_max_us": round(float(a.max()), 3), f"{prefix}_samples": len(a)}


def _stream(n_records: int, n_symbols: int, bad_pct: float, seed: int) -> tuple[list[dict[str, Any]], int]:
    records = bars_to_records(synthetic_bars(n_records, n_symbols, seed))
    records, damaged = corrupt_records(records, bad_pct, seed + 1)
    return records, len(damaged)


def historical_ingestion(n_rows: int = 100_000, n_symbols: int = 10, duplicate_pct: float = 1.0,
                         seed: int = 5) -> Operation:
    """Ingest one CSV file per symbol (``n_rows`` bars in all plus ``duplicate_pct`` % late
    corrections): parse, type, sort, de-duplicate. items_per_call = rows in the files."""
    directory = Path(tempfile.mkdtemp(prefix="bars-"))
    try:
        paths = write_bar_csvs(synthetic_bars(n_rows, n_symbols, seed), directory,
                               duplicate_pct=duplicate_pct, seed=seed)
        rows = ingest_bar_files(paths).rows_read
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Operation(lambda: ingest_bar_files(paths), items_per_call=rows,
                     close=lambda: shutil.rmtree(directory, ignore_errors=True),
                     info={"files": len(paths), "format": "csv"})


def realtime_processing(n_records: int = 50_000, chunk_records: int | None = None, n_symbols: int = 10,
                        bad_pct: float = 0.5, seed: int = 5, *, records_per_call: int | None = None) -> Operation:
    """Per record: JSON line -> dict -> fast-path validation -> rolling features -> emit
    (:meth:`StreamProcessor.on_line`), over a pre-generated stream of ``n_records`` lines
    (``bad_pct`` % damaged).

    ``records_per_call=1`` (default): one call = one record arriving and being processed, the
    real-time path; the call returns its :class:`FeatureUpdate` (None if rejected/malformed).
    ``records_per_call=N`` (or its older name ``chunk_records``): one call = the next N lines;
    each record is then also timed on its own (perf_counter_ns around it, ~0.1 us of overhead)
    and ``close()`` adds those per-record percentiles to ``info``. When the stream wraps the
    processor is reset (symbols, validator state, counters), so features warm up again.
    """
    per_call = _records_per_call(records_per_call, chunk_records)
    records, _ = _stream(n_records, n_symbols, bad_pct, seed)
    proc = StreamProcessor()
    totals = {"accepted": 0, "rejected": 0, "malformed": 0}

    def wrap() -> None:
        for k in totals:
            totals[k] += getattr(proc, k)
        proc.reset()

    stream = Stream(records_to_json_lines(records), per_call, wrap)
    samples: list[int] = []
    clock = time.perf_counter_ns

    def one() -> Any:
        return proc.on_line(stream.item())

    def batch() -> int:
        on_line = proc.on_line
        keep = len(samples) < _MAX_SAMPLES
        emitted = 0
        for line in stream.take():
            t0 = clock()
            if on_line(line) is not None:
                emitted += 1
            if keep:
                samples.append(clock() - t0)
        return emitted

    def close() -> None:
        wrap()
        op.info.update(totals, stream_passes=stream.passes)
        op.info.update(_quantiles_us(samples, "record_latency"))

    op = Operation(one if per_call == 1 else batch, items_per_call=per_call, close=close,
                   info={"n_symbols": n_symbols, "bad_pct": bad_pct, "record_format": "json_line",
                         "records_per_call": per_call, "stream_records": len(stream)})
    return op


def validation_fast_path(chunk_records: int | None = None, n_records: int = 50_000, n_symbols: int = 10,
                         bad_pct: float = 0.5, seed: int = 5, *, records_per_call: int | None = None) -> Operation:
    """The per-record validator derived from the GX suite's rules (:meth:`RecordChecker.check`),
    over parsed records of a pre-generated ``n_records`` stream (``bad_pct`` % damaged).

    ``records_per_call=1`` (default): one call = one record validated (returns the names of the
    rules it breaks), so the latency is what a record sees. ``records_per_call=N`` (or its
    older name ``chunk_records``): one call = the next N records. The checker's running state
    (last timestamp per symbol) is reset when the stream wraps; ``close()`` adds the counts.
    """
    per_call = _records_per_call(records_per_call, chunk_records)
    records, damaged = _stream(n_records, n_symbols, bad_pct, seed)
    checker = RecordChecker()
    stream = Stream(records, per_call, checker.reset)
    rejected = [0]

    def one() -> tuple[str, ...]:
        failed = checker.check(stream.item())
        if failed:
            rejected[0] += 1
        return failed

    def batch() -> int:
        check = checker.check
        bad = sum(1 for r in stream.take() if check(r))
        rejected[0] += bad
        return bad

    def close() -> None:
        op.info.update(records_checked=stream.consumed, rejected=rejected[0], stream_passes=stream.passes)

    op = Operation(one if per_call == 1 else batch, items_per_call=per_call, close=close,
                   info={"rules": len(checker.rules), "records_per_call": per_call, "stream_records": len(stream),
                         "damaged_pct_in_stream": round(100.0 * damaged / len(records), 3)})
    return op


def validation_gx_microbatch(batch_records: int = 1_000, arrival_rate_per_s: float = 1_000.0,
                             n_batches: int = 10, n_symbols: int = 10, bad_pct: float = 0.5,
                             seed: int = 5) -> Operation:
    """Great Expectations over micro-batches: records -> frame -> derived columns -> GX run.

    items_per_call = ``batch_records``, so the reported per-record latency is the amortised run
    cost. What a record experiences is its wait for the batch to fill at ``arrival_rate_per_s``
    (steady arrivals assumed: mean (B-1)/(2 rate), worst (B-1)/rate) plus the
    run; ``close()`` adds both to ``info`` with the measured run times. Setup builds the GX
    context (imports GX: seconds, untimed).
    """
    if arrival_rate_per_s <= 0:
        raise ValueError(f"arrival_rate_per_s must be > 0 records/s, got {arrival_rate_per_s}")
    from trading_agent.data_pipeline.gx_suite import GXBatchValidator

    records, damaged = _stream(batch_records * n_batches, n_symbols, bad_pct, seed)
    validator = GXBatchValidator()
    batches = Stream(records, batch_records, validator.reset)
    run_ns: list[int] = []
    counts = {"records_checked": 0, "rejected": 0}

    def run() -> int:
        t0 = time.perf_counter_ns()
        report = validator.validate(records_to_frame(batches.take()))
        run_ns.append(time.perf_counter_ns() - t0)
        if report.errors:
            raise RuntimeError(f"GX could not evaluate rule(s): {report.errors}")
        bad = len(report.bad_rows)
        counts["records_checked"] += report.rows
        counts["rejected"] += bad
        return bad

    wait_mean_ms = (batch_records - 1) / (2.0 * arrival_rate_per_s) * 1e3
    wait_max_ms = (batch_records - 1) / arrival_rate_per_s * 1e3

    def close() -> None:
        if not run_ns:
            return
        run_ms = np.asarray(run_ns, dtype=float) / 1e6
        p50, p99 = (float(v) for v in np.percentile(run_ms, [50, 99]))
        op.info.update({
            "gx_run_p50_ms": round(p50, 3), "gx_run_p99_ms": round(p99, 3), **counts,
            "record_experienced_mean_ms": round(wait_mean_ms + p50, 3),
            "record_experienced_worst_ms": round(wait_max_ms + p99, 3),
        })

    op = Operation(run, items_per_call=batch_records, close=close, info={
        "arrival_rate_per_s": arrival_rate_per_s, "batch_fill_wait_mean_ms": round(wait_mean_ms, 3),
        "batch_fill_wait_max_ms": round(wait_max_ms, 3),
        "damaged_pct_in_stream": round(100.0 * damaged / len(records), 3),
        "latency_note": "latency metrics are the amortised GX run per record; a record also waits "
                        "for its batch: see record_experienced_*_ms"})
    return op


def transform_features(n_rows: int = 100_000, n_symbols: int = 10, source: str = "synthetic",
                       seed: int = 5) -> Operation:
    """Vectorised features per symbol (log return, volatility, RSI, MACD, Bollinger) over a batch.

    ``source``: ``synthetic`` (``n_rows`` seeded bars over ``n_symbols``) or ``sp500`` (the real
    daily series, 1999-2018, ~5,000 rows; ``n_rows``/``n_symbols`` ignored). items_per_call = rows.
    """
    if source == "synthetic":
        bars = synthetic_bars(n_rows, n_symbols, seed)
    elif source == "sp500":
        bars = index_bars("sp500")
    else:
        raise ValueError(f"source must be 'synthetic' or 'sp500', got {source!r}")
    return Operation(lambda: compute_features(bars), items_per_call=len(bars),
                     info={"source": source, "symbols": int(bars["symbol"].nunique())})
