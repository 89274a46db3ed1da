"""The engine's recording hot path: append three integers per request, add them up in batches.

Per request the engine appends latency (us), intended offset (us) and a code (step and its kind:
success, error, or an arrival dropped at the send deadline) to plain lists; every few thousand
requests (and on each tick of the engine) the lists are
flushed with numpy into the per-step HDR histograms and the per-bucket time series. Nothing is
locked: everything runs on the event loop's thread.

Time-series buckets stay open while a request sent in them may still be in flight (the engine
passes a watermark: the oldest intended offset still in flight); closed buckets keep only their
percentiles and encoded histogram. A record for a closed bucket reopens it (exact, rare).

Two latency views per step: *success* (answered with a status < 400: what the p95 target judges)
and *all* (every arrival: errors at the time they failed, timeouts at the timeout, and arrivals
dropped at the send deadline at the wait they had when they were given up). Overload therefore
shows in the all-requests percentiles, and a run of fast failures cannot look fast.
Time-series buckets hold the all-requests view.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from perf_tasks.load.histo import SERIES_SIGNIFICANT_FIGURES, SIGNIFICANT_FIGURES, LatencyHistogram, decode
from perf_tasks.load.result import EndpointResult, TimeSeries

FLUSH_EVERY = 8192
OK, ERROR, DROPPED = 0, 1, 2  # the kind in a record's code (two bits)
MAX_BUCKETS = 3600  # buckets grow past 1 s for long runs so a series keeps at most this many points


def bucket_width_s(duration_s: float, requested: float | None = None) -> float:
    """1 s, or wider for runs longer than MAX_BUCKETS seconds (8 h -> 8 s)."""
    if requested is not None:
        if not requested > 0:
            raise ValueError(f"bucket_s must be > 0, got {requested!r}")
        return float(requested)
    return float(max(1, math.ceil(duration_s / MAX_BUCKETS)))


class Recorder:
    def __init__(self, step_names: Sequence[str], *, bucket_s: float, late_threshold_ms: float,
                 duration_s: float) -> None:
        self.step_names = tuple(step_names)
        self.bucket_us = int(round(bucket_s * 1e6))
        self.bucket_s = bucket_s
        self.late_threshold_ns = int(late_threshold_ms * 1e6)
        self.late_threshold_ms = late_threshold_ms
        self.t0_ns = 0
        self._lat: list[int] = []
        self._off: list[int] = []
        self._code: list[int] = []
        self._late: list[int] = []
        n = len(self.step_names)
        self.step_hists = [LatencyHistogram(SIGNIFICANT_FIGURES) for _ in range(n)]  # successes
        self.step_hists_all = [LatencyHistogram(SIGNIFICANT_FIGURES) for _ in range(n)]  # every arrival
        self.step_requests = np.zeros(n, dtype=np.int64)  # completed: answered or failed (not dropped)
        self.step_errors = np.zeros(n, dtype=np.int64)
        self.step_dropped = np.zeros(n, dtype=np.int64)
        self.lateness = LatencyHistogram(SIGNIFICANT_FIGURES)
        self.late_sends = 0
        self.dropped = 0
        self.errors_by_class: Counter[str] = Counter()
        self.errors_by_code: Counter[str] = Counter()
        self.error_samples: dict[str, str] = {}
        size = int(math.ceil(duration_s * 1e6 / self.bucket_us)) + 2
        self._sent = np.zeros(size, dtype=np.int64)
        self._completed = np.zeros(size, dtype=np.int64)
        self._errors = np.zeros(size, dtype=np.int64)
        self._open: dict[int, LatencyHistogram] = {}
        self._closed: dict[int, tuple[float, float, float, str]] = {}
        self._min_buckets = int(math.ceil(duration_s * 1e6 / self.bucket_us))

    # -- hot path ------------------------------------------------------------------------------
    def record(self, step: int, intended_ns: int, start_ns: int, end_ns: int) -> None:
        """A request answered with a success status. Latency runs from ``start_ns`` (the intended
        send time, or the actual send if that was earlier); the bucket is the intended time's."""
        self._lat.append((end_ns - start_ns) // 1000)
        self._off.append((intended_ns - self.t0_ns) // 1000)
        self._code.append(step << 2)
        if len(self._lat) >= FLUSH_EVERY:
            self.flush()

    def record_error(self, step: int, intended_ns: int, start_ns: int, end_ns: int, error_class: str,
                     code: int | None, message: str) -> None:
        """A failed request: HTTP >= 400 (``code``), timeout, connection error or other."""
        self._lat.append((end_ns - start_ns) // 1000)
        self._off.append((intended_ns - self.t0_ns) // 1000)
        self._code.append((step << 2) | ERROR)
        self.errors_by_class[error_class] += 1
        if code is not None:
            self.errors_by_code[str(code)] += 1
        if error_class not in self.error_samples:
            self.error_samples[error_class] = message[:300]
        if len(self._lat) >= FLUSH_EVERY:
            self.flush()

    def record_dropped(self, step: int, intended_ns: int, now_ns: int) -> None:
        """An arrival given up at the send deadline: counted in ``dropped`` and observed in the
        all-requests latency at the wait it had (``now_ns - intended_ns``)."""
        self.dropped += 1
        self._lat.append(max(0, now_ns - intended_ns) // 1000)
        self._off.append((intended_ns - self.t0_ns) // 1000)
        self._code.append((step << 2) | DROPPED)
        if len(self._lat) >= FLUSH_EVERY:
            self.flush()

    def late(self, lag_ns: int) -> None:
        self.late_sends += 1
        self._late.append(lag_ns // 1000)

    # -- batches -------------------------------------------------------------------------------
    def _grow(self, size: int) -> None:
        if size > len(self._sent):
            extra = max(size - len(self._sent), len(self._sent) // 2)
            self._sent, self._completed, self._errors = (np.concatenate([a, np.zeros(extra, dtype=np.int64)])
                                                         for a in (self._sent, self._completed, self._errors))

    def _bucket_hist(self, b: int) -> LatencyHistogram:
        h = self._open.get(b)
        if h is None:
            closed = self._closed.pop(b, None)
            h = decode(closed[3], SERIES_SIGNIFICANT_FIGURES) if closed else LatencyHistogram(SERIES_SIGNIFICANT_FIGURES)
            self._open[b] = h
        return h

    def flush(self) -> None:
        if self._late:
            self.lateness.record_many(self._late)
            self._late = []
        if not self._lat:
            return
        lat = np.array(self._lat, dtype=np.int64)
        off = np.maximum(np.array(self._off, dtype=np.int64), 0)
        code = np.array(self._code, dtype=np.int64)
        self._lat, self._off, self._code = [], [], []
        steps, kind = code >> 2, code & 3
        err, dropped = (kind == ERROR).astype(np.int64), kind == DROPPED
        n = len(self.step_names)
        self.step_requests += np.bincount(steps[~dropped], minlength=n)[:n]
        self.step_errors += np.bincount(steps, weights=err, minlength=n)[:n].astype(np.int64)
        self.step_dropped += np.bincount(steps[dropped], minlength=n)[:n]
        ok = kind == OK
        for s in np.unique(steps):
            mine = steps == s
            self.step_hists_all[int(s)].record_many(lat[mine])
            self.step_hists[int(s)].record_many(lat[mine & ok])
        b = off // self.bucket_us
        cb = (off + np.maximum(lat, 0)) // self.bucket_us
        self._grow(int(max(b.max(), cb.max())) + 1)
        sent = ~dropped
        if sent.any():
            self._sent[: b[sent].max() + 1] += np.bincount(b[sent])
            self._completed[: cb[sent].max() + 1] += np.bincount(cb[sent])
        failed = (kind != OK).astype(np.int64)  # errors and drops, by intended time
        self._errors[: b.max() + 1] += np.bincount(b, weights=failed).astype(np.int64)
        order = np.argsort(b, kind="stable")
        bs, lat_sorted = b[order], lat[order]
        edges = np.flatnonzero(np.diff(bs)) + 1
        for chunk_b, chunk in zip(np.split(bs, edges), np.split(lat_sorted, edges)):
            self._bucket_hist(int(chunk_b[0])).record_many(chunk)

    def close_buckets_before(self, bucket: int) -> None:
        """Summarise and drop open buckets below ``bucket`` (nothing sent in them is in flight)."""
        for b in [b for b in self._open if b < bucket]:
            h = self._open.pop(b)
            p50, p95, p99 = h.values_at_percentiles((50.0, 95.0, 99.0))
            self._closed[b] = (p50 / 1000.0, p95 / 1000.0, p99 / 1000.0, h.encode())

    def window(self, first_bucket: int) -> list[tuple[int, int, int, str]]:
        """(bucket, observations, failures, encoded all-requests histogram) of every bucket from
        ``first_bucket`` on that holds an observation: the live view (perf_tasks.load.live)."""
        out = []
        for b in sorted(set(self._open) | {b for b in self._closed if b >= first_bucket}):
            if b < first_bucket:
                continue
            h = self._open.get(b)
            encoded = h.encode() if h is not None else self._closed[b][3]
            count = h.total_count if h is not None else 0
            if h is None and encoded:
                count = decode(encoded, SERIES_SIGNIFICANT_FIGURES).total_count
            if count:
                out.append((b, count, int(self._errors[b]) if b < len(self._errors) else 0, encoded))
        return out

    # -- results -------------------------------------------------------------------------------
    @property
    def out_of_range(self) -> int:
        return sum(h.out_of_range for h in self.step_hists_all)

    def overall(self, *, successes_only: bool = True) -> LatencyHistogram:
        h = LatencyHistogram(SIGNIFICANT_FIGURES)
        for s in (self.step_hists if successes_only else self.step_hists_all):
            h.add(s)
        return h

    def endpoints(self, methods: Sequence[str]) -> tuple[EndpointResult, ...]:
        return tuple(EndpointResult(name, methods[i], int(self.step_requests[i]), int(self.step_errors[i]),
                                    self.step_hists[i].summary(), self.step_hists[i].encode(),
                                    dropped=int(self.step_dropped[i]),
                                    latency_all=self.step_hists_all[i].summary(),
                                    histogram_all=self.step_hists_all[i].encode())
                     for i, name in enumerate(self.step_names))

    def series(self) -> TimeSeries:
        self.flush()
        self.close_buckets_before(10**12)
        used = np.flatnonzero(self._sent + self._completed)
        n = max(self._min_buckets, int(used.max()) + 1 if used.size else 0)
        self._grow(n)
        empty = (0.0, 0.0, 0.0, "")
        rows = [self._closed.get(i, empty) for i in range(n)]
        return TimeSeries(
            bucket_s=self.bucket_s,
            t_s=tuple(round(i * self.bucket_us / 1e6, 6) for i in range(n)),
            sent=tuple(int(x) for x in self._sent[:n]),
            completed=tuple(int(x) for x in self._completed[:n]),
            errors=tuple(int(x) for x in self._errors[:n]),
            p50_ms=tuple(r[0] for r in rows), p95_ms=tuple(r[1] for r in rows), p99_ms=tuple(r[2] for r in rows),
            histograms=tuple(r[3] for r in rows),
        )
