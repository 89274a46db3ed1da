"""Data pipeline for OHLCV bars: historical ingestion from files, real-time per-record
processing, validation (a Great Expectations suite and a per-record fast path built from the same
rules) and feature transformation. Benchmark factories are in :mod:`.bench`.

Modules: ``bars`` (schema, synthetic and real data, raw forms), ``ingest`` (CSV files -> tidy
frame), ``rules`` (the declarative rules and the fast path), ``gx_suite`` (the rules as a GX
suite; imports GX lazily), ``features`` (vectorised indicators), ``realtime`` (streaming).
Importing this package never imports Great Expectations.
"""
from __future__ import annotations

from trading_agent.data_pipeline.bars import BAR_COLUMNS, synthetic_bars
from trading_agent.data_pipeline.features import FEATURE_COLUMNS, FeatureParams, compute_features
from trading_agent.data_pipeline.ingest import IngestResult, ingest_bar_files
from trading_agent.data_pipeline.realtime import FeatureUpdate, StreamProcessor
from trading_agent.data_pipeline.rules import OHLCV_RULES, RecordChecker, Rule

__all__ = ["BAR_COLUMNS", "FEATURE_COLUMNS", "OHLCV_RULES", "FeatureParams", "FeatureUpdate", "IngestResult",
           "RecordChecker", "Rule", "StreamProcessor", "compute_features", "ingest_bar_files", "synthetic_bars"]
