"""Data pipeline: ingestion, the validation rules (GX suite and fast path agree), features
against straightforward references, streaming vs batch, and the benchmark factories."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO
from trading_agent.data_pipeline import bench
from trading_agent.data_pipeline.bars import (BAR_COLUMNS, CORRUPTIONS, bars_to_records, corrupt_records,
                                              index_bars, records_to_frame, records_to_json_lines, synthetic_bars,
                                              write_bar_csvs)
from trading_agent.data_pipeline.features import (FEATURE_COLUMNS, FeatureParams, bollinger, compute_features, macd,
                                                  symbol_features, wilder_rsi)
from trading_agent.data_pipeline.ingest import ingest_bar_files
from trading_agent.data_pipeline.realtime import FeatureUpdate, StreamProcessor
from trading_agent.data_pipeline.rules import OHLCV_RULES, RecordChecker, Rule

T0 = 1_704_187_800_000_000_000  # 2024-01-02 09:30 UTC, ns
MIN = 60_000_000_000


def _bar(symbol: str = "AAA", ts: int = T0, o: float = 10.0, h: float = 11.0, lo: float = 9.0,
         c: float = 10.5, v: float = 100) -> dict:
    return {"symbol": symbol, "timestamp": ts, "open": o, "high": h, "low": lo, "close": c, "volume": v}


# --- ingestion -------------------------------------------------------------------------------

def test_ingestion_types_sorts_and_keeps_the_late_correction(tmp_path: Path):
    bars = synthetic_bars(3_000, 3, seed=1)
    paths = write_bar_csvs(bars, tmp_path, duplicate_pct=2.0, seed=2)
    res = ingest_bar_files(list(reversed(paths)))  # file order must not matter for the result
    df = res.bars
    assert list(df.columns) == list(BAR_COLUMNS)
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert all(df[c].dtype == np.float64 for c in ("open", "high", "low", "close"))
    assert df["volume"].dtype == np.int64
    assert res.rows_read == 3_000 + 60 and res.duplicates_dropped == 60 and res.rows_incomplete == 0
    assert res.rows_read == len(df) + res.duplicates_dropped + res.rows_incomplete
    assert not df.duplicated(["symbol", "timestamp"]).any()
    assert df.equals(df.sort_values(["symbol", "timestamp"]).reset_index(drop=True))
    pd.testing.assert_frame_equal(df.drop(columns="volume"), bars.drop(columns="volume"))
    corrected = (df["volume"] - bars["volume"]).to_numpy()
    assert set(np.unique(corrected)) == {0, 100} and (corrected == 100).sum() == 60  # the later row won


def test_ingestion_drops_and_counts_rows_with_empty_cells(tmp_path: Path):
    path = tmp_path / "x.csv"
    path.write_text("symbol,timestamp,open,high,low,close,volume\n"
                    "AAA,2024-01-02 09:31:00,10,11,9,10.5,100\n"
                    "AAA,2024-01-02 09:30:00,10,11,9,,100\n"
                    "AAA,2024-01-02 09:32:00,10,11,9,10.5,\n")
    res = ingest_bar_files([path])
    assert (res.rows_read, len(res.bars), res.rows_incomplete) == (3, 1, 2)


def test_ingestion_names_the_file_and_the_bad_value(tmp_path: Path):
    path = tmp_path / "bad_ts.csv"
    path.write_text("symbol,timestamp,open,high,low,close,volume\nAAA,02/01/2024 09:30,10,11,9,10.5,100\n")
    with pytest.raises(ValueError, match=r"bad_ts\.csv.*timestamp"):
        ingest_bar_files([path])
    path2 = tmp_path / "no_volume.csv"
    path2.write_text("symbol,timestamp,open,high,low,close\nAAA,2024-01-02 09:30:00,10,11,9,10.5\n")
    with pytest.raises(ValueError, match=r"no_volume\.csv.*\['volume'\]"):
        ingest_bar_files([path2])
    path3 = tmp_path / "half_share.csv"
    path3.write_text("symbol,timestamp,open,high,low,close,volume\nAAA,2024-01-02 09:30:00,10,11,9,10.5,2.5\n")
    with pytest.raises(ValueError, match=r"volume.*2\.5"):
        ingest_bar_files([path3])


# --- validation: one rule list, two checkers -------------------------------------------------

BAD_ROWS = {  # index -> the rule it breaks (rows are one stream, in order)
    1: "close_not_null", 2: "open_not_null", 3: "volume_not_null", 4: "symbol_not_null", 5: "timestamp_not_null",
    6: "high_ge_open", 7: "high_ge_close", 8: "low_le_open", 9: "low_le_close", 10: "volume_non_negative",
    11: "timestamp_increasing", 12: "timestamp_increasing", 14: "low_positive", 15: "high_not_null",
}


def _stream_with_bad_rows() -> list[dict]:
    rows = [_bar(ts=T0)]
    rows += [_bar(ts=T0 + i * MIN) for i in range(1, 11)]
    rows[1]["close"] = None
    rows[2]["open"] = float("nan")
    rows[3]["volume"] = None
    rows[4]["symbol"] = None
    rows[5]["timestamp"] = None
    rows[6]["open"] = 11.5
    rows[7]["close"] = 11.2
    rows[8]["open"] = 8.5
    rows[9]["close"] = 8.9
    rows[10]["volume"] = -1
    rows.append(_bar(ts=T0 + 10 * MIN))  # 11: same timestamp as row 10
    rows.append(_bar(ts=T0 + 3 * MIN))  # 12: earlier than the running max
    rows.append(_bar(ts=T0 + 11 * MIN))  # 13: good again
    rows.append(_bar(ts=T0 + 12 * MIN, lo=0.0, o=0.5, c=0.5, h=1.0))  # 14: a zero price
    rows.append(_bar(ts=T0 + 13 * MIN, h=None))  # 15: missing high; pair rules leave it to not_null
    rows.append(_bar(symbol="BBB", ts=T0))  # 16: another symbol may reuse a timestamp
    rows.append(_bar(ts=T0 + 14 * MIN, o=9.0, h=9.0, lo=9.0, c=9.0, v=0))  # 17: boundaries are allowed
    return rows


def _fast_failures(rows: list[dict]) -> dict[int, set[str]]:
    checker = RecordChecker()
    return {i: set(f) for i, r in enumerate(rows) if (f := checker.check(r))}


def _gx_failures(validator, frames: list[pd.DataFrame]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    offset = 0
    for frame in frames:
        report = validator.validate(frame)
        assert not report.errors, report.errors
        for rule, rows in report.failed.items():
            for i in rows:
                out.setdefault(offset + i, set()).add(rule)
        offset += len(frame)
    return out


@pytest.fixture(scope="module")
def gx_validator():
    from trading_agent.data_pipeline.gx_suite import GXBatchValidator

    return GXBatchValidator()


def test_fast_path_rejects_each_kind_of_bad_row_and_accepts_good_ones():
    assert _fast_failures(_stream_with_bad_rows()) == {i: {rule} for i, rule in BAD_ROWS.items()}


def test_gx_suite_and_fast_path_reject_the_same_rows_for_the_same_rules(gx_validator):
    rows = _stream_with_bad_rows()
    gx_validator.reset()
    assert _gx_failures(gx_validator, [records_to_frame(rows)]) == _fast_failures(rows)


def test_gx_and_fast_path_agree_on_a_damaged_stream_across_micro_batches(gx_validator):
    records = bars_to_records(synthetic_bars(1_200, 4, seed=3))
    records, damaged = corrupt_records(records, 5.0, seed=4)
    assert set(damaged.values()) == set(CORRUPTIONS)
    fast = _fast_failures(records)
    assert set(fast) == set(damaged)
    gx_validator.reset()
    frames = [records_to_frame(records[i:i + 250]) for i in range(0, len(records), 250)]
    assert _gx_failures(gx_validator, frames) == fast


def test_gx_suite_has_one_expectation_per_rule_tagged_with_its_name():
    from trading_agent.data_pipeline.gx_suite import build_expectations

    exps = build_expectations()
    assert [e.meta["rule"] for e in exps] == [r.name for r in OHLCV_RULES]
    assert {e.expectation_type for e in exps} == {
        "expect_column_values_to_not_be_null", "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_values_to_be_between"}


def test_rule_refuses_a_kind_without_its_parameter():
    with pytest.raises(ValueError, match="'bad'.*'a_ge_b' needs 'other'"):
        Rule("bad", "a_ge_b", "high")
    with pytest.raises(ValueError, match="unknown kind 'max'"):
        Rule("bad", "max", "high")  # type: ignore[arg-type]


def test_importing_the_pipeline_does_not_import_great_expectations():
    code = ("import sys, trading_agent.data_pipeline, trading_agent.data_pipeline.bench, "
            "trading_agent.data_pipeline.gx_suite; "
            "print('GX' if any(m.startswith('great_expectations') for m in sys.modules) else 'NO_GX')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "NO_GX"


# --- features against straightforward references ----------------------------------------------

def _ema_loop(x: list[float], span: int) -> list[float]:
    a, out = 2.0 / (span + 1), [x[0]]
    for v in x[1:]:
        out.append((1 - a) * out[-1] + a * v)
    return out


def _wilder_loop(close: np.ndarray, n: int) -> list[float]:
    d = np.diff(close)
    g, lo = np.maximum(d, 0), np.maximum(-d, 0)
    ag, al = g[:n].mean(), lo[:n].mean()
    out = [math.nan] * n + [100 - 100 / (1 + ag / al)]
    for i in range(n, len(d)):
        ag, al = (ag * (n - 1) + g[i]) / n, (al * (n - 1) + lo[i]) / n
        out.append(100 - 100 / (1 + ag / al))
    return out


def _random_walk(n: int, seed: int = 0) -> np.ndarray:
    return 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n)))


def test_rsi_is_100_for_constant_gains_0_for_constant_losses_50_when_flat():
    up = wilder_rsi(np.arange(1.0, 41.0))
    assert np.isnan(up[:14]).all() and (up[14:] == 100.0).all()
    assert (wilder_rsi(np.arange(40.0, 0.0, -1.0))[14:] == 0.0).all()
    assert (wilder_rsi(np.full(30, 5.0))[14:] == 50.0).all()


def test_rsi_matches_a_plain_wilder_loop():
    close = _random_walk(200)
    np.testing.assert_allclose(wilder_rsi(close, 14), _wilder_loop(close, 14), rtol=1e-10, equal_nan=True)


def test_macd_is_ema12_minus_ema26_and_its_signal_is_the_ema9_of_macd():
    close = _random_walk(120, seed=1)
    line, signal, hist = macd(close, 12, 26, 9)
    ref = np.array(_ema_loop(list(close), 12)) - np.array(_ema_loop(list(close), 26))
    assert np.isnan(line[:25]).all()
    np.testing.assert_allclose(line[25:], ref[25:], rtol=1e-12)
    ref_signal = _ema_loop(list(line[25:]), 9)  # seeded with the first published MACD
    assert np.isnan(signal[:33]).all()
    np.testing.assert_allclose(signal[33:], ref_signal[8:], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hist[33:], line[33:] - signal[33:])


def test_bollinger_mid_is_the_rolling_mean_and_bands_are_two_population_stds_away():
    close = _random_walk(60, seed=2)
    mid, upper, lower = bollinger(close, 20, 2.0)
    assert np.isnan(mid[:19]).all()
    for t in range(19, 60):
        w = close[t - 19:t + 1]
        assert mid[t] == pytest.approx(w.mean(), rel=1e-12)
        assert upper[t] == pytest.approx(w.mean() + 2 * w.std(ddof=0), rel=1e-12)
        assert lower[t] == pytest.approx(w.mean() - 2 * w.std(ddof=0), rel=1e-12)


def test_log_returns_and_volatility_match_numpy_on_windows():
    close = _random_walk(80, seed=3)
    f = symbol_features(close, FeatureParams(vol_window=20))
    r = np.log(close[1:] / close[:-1])
    np.testing.assert_allclose(f["log_return"][1:], r, rtol=1e-12)
    assert np.isnan(f["volatility"][:20]).all()
    for t in range(20, 80):
        assert f["volatility"][t] == pytest.approx(np.std(r[t - 20:t], ddof=1), rel=1e-9)


def test_features_are_computed_per_symbol_without_mixing_series():
    bars = synthetic_bars(600, 3, seed=5)
    shuffled = bars.sample(frac=1.0, random_state=0).sort_values("timestamp", kind="stable")  # interleaved
    out = compute_features(shuffled)
    for symbol, group in out.groupby("symbol"):
        alone = symbol_features(group["close"].to_numpy())
        for name in FEATURE_COLUMNS:
            np.testing.assert_allclose(group[name].to_numpy(), alone[name], equal_nan=True)


def test_features_refuse_out_of_order_bars_naming_the_symbol():
    bars = synthetic_bars(100, 2, seed=6)
    swapped = pd.concat([bars.iloc[[1, 0]], bars.iloc[2:]], ignore_index=True)
    with pytest.raises(ValueError, match="'SYM000'.*strictly increasing"):
        compute_features(swapped)


# --- streaming -------------------------------------------------------------------------------

@pytest.mark.parametrize("bars", [synthetic_bars(900, 3, seed=7), index_bars("sp500").iloc[:400]],
                         ids=["synthetic", "sp500"])
def test_streaming_features_equal_the_batch_features(bars: pd.DataFrame):
    batch = compute_features(bars)
    proc = StreamProcessor()
    updates = pd.DataFrame(proc.process_lines(records_to_json_lines(bars_to_records(bars))),
                           columns=FeatureUpdate._fields)
    assert proc.accepted == len(bars) and proc.rejected == proc.malformed == 0
    updates["timestamp"] = pd.to_datetime(updates["timestamp"], unit="ns", utc=True)
    merged = batch.merge(updates, on=["symbol", "timestamp"], suffixes=("", "_stream"))
    assert len(merged) == len(bars)
    for name in FEATURE_COLUMNS:
        np.testing.assert_allclose(merged[f"{name}_stream"], merged[name], rtol=1e-8, atol=1e-12,
                                   equal_nan=True, err_msg=name)


def test_stream_counts_rejected_and_malformed_records_instead_of_dropping_them():
    rows = _stream_with_bad_rows()
    lines = records_to_json_lines(rows) + ["not json", "[1, 2]", json.dumps(_bar(ts=T0 + 99 * MIN, c="10.5"))]
    proc = StreamProcessor()
    out = proc.process_lines(lines)
    assert len(out) == proc.accepted == len(rows) - len(BAD_ROWS)
    assert proc.rejected == len(BAD_ROWS) and proc.malformed == 3
    assert proc.rule_failures["timestamp_increasing"] == 2
    assert all(isinstance(u, FeatureUpdate) for u in out)


# --- benchmark factories ------------------------------------------------------------------------

def test_benchmark_factories_run_and_report_per_record_items():
    ops = [bench.historical_ingestion(n_rows=2_000, n_symbols=2),
           bench.realtime_processing(n_records=600, chunk_records=200, n_symbols=2, bad_pct=5.0),
           bench.validation_fast_path(chunk_records=200, n_records=600, n_symbols=2, bad_pct=5.0),
           bench.transform_features(n_rows=2_000, n_symbols=2),
           bench.transform_features(source="sp500")]
    assert [op.items_per_call for op in ops] == [2_020, 200, 200, 2_000, 5_031]
    for op in ops:
        for _ in range(4):  # past the end of the stream: it wraps around with a reset state
            op()
        op.close()
    assert ops[1].info["accepted"] + ops[1].info["rejected"] == 800 and ops[1].info["rejected"] > 0
    assert ops[1].info["record_latency_samples"] == 800 and ops[1].info["record_latency_p50_us"] > 0
    assert ops[2].info["records_checked"] == 800 and ops[2].info["rejected"] > 0
    with pytest.raises(ValueError, match="'csv'"):
        bench.transform_features(source="csv")


def _bench_stream(n_records: int, n_symbols: int, bad_pct: float, seed: int = 5) -> list[dict]:
    return corrupt_records(bars_to_records(synthetic_bars(n_records, n_symbols, seed)), bad_pct, seed + 1)[0]


def test_realtime_processing_handles_one_record_per_call_by_default():
    op = bench.realtime_processing(n_records=300, n_symbols=2, bad_pct=5.0)
    assert op.items_per_call == 1 and op.info["records_per_call"] == 1
    ref = StreamProcessor()
    for line in records_to_json_lines(_bench_stream(300, 2, 5.0)):  # each call = the next record, end to end
        got, want = op(), ref.on_line(line)
        assert (got is None) == (want is None)
        if got is not None:
            assert got.symbol == want.symbol and got.timestamp == want.timestamp and got.close == want.close
            assert all(a == b or (a != a and b != b) for a, b in zip(got, want))  # NaN while warming up
    op()  # the stream wraps with a reset processor
    op.close()
    assert op.info["accepted"] + op.info["rejected"] + op.info["malformed"] == 301
    assert op.info["rejected"] == ref.rejected > 0 and op.info["stream_passes"] == 1
    assert "record_latency_samples" not in op.info  # per call = per record: the runner's timing is it


def test_validation_fast_path_checks_one_record_per_call_by_default():
    op = bench.validation_fast_path(n_records=300, n_symbols=2, bad_pct=5.0)
    assert op.items_per_call == 1
    checker = RecordChecker()
    assert [op() for _ in range(300)] == [checker.check(r) for r in _bench_stream(300, 2, 5.0)]
    op()
    op.close()
    assert op.info["records_checked"] == 301 and op.info["rejected"] == 15 and op.info["stream_passes"] == 1


def test_records_per_call_and_its_older_name_chunk_records():
    assert bench.validation_fast_path(records_per_call=100, n_records=300).items_per_call == 100
    assert bench.realtime_processing(n_records=300, chunk_records=100, records_per_call=100).items_per_call == 100
    with pytest.raises(ValueError, match="disagree"):
        bench.realtime_processing(n_records=300, chunk_records=100, records_per_call=1)
    with pytest.raises(ValueError, match=">= 1"):
        bench.validation_fast_path(records_per_call=0, n_records=300)


def test_gx_microbatch_reports_what_a_record_experiences(gx_validator):
    op = bench.validation_gx_microbatch(batch_records=100, arrival_rate_per_s=1_000.0, n_batches=2, bad_pct=5.0)
    assert op.items_per_call == 100
    assert op.info["batch_fill_wait_max_ms"] == pytest.approx(99.0)
    for _ in range(3):
        op()
    op.close()
    assert op.info["records_checked"] == 300 and op.info["rejected"] > 0
    assert op.info["record_experienced_worst_ms"] >= 99.0 + op.info["gx_run_p50_ms"] * 0.99
