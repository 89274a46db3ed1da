"""HDR histograms of latency in microseconds: batch recording, percentiles, encode and merge.

Wraps ``hdrh.histogram.HdrHistogram`` (pure Python: ``record_value`` costs about 1 us and its
``get_value_at_percentile`` walks every counter). Here values are recorded in batches with numpy
straight into the histogram's counter array (the same bucket arithmetic, checked against
``record_value`` in the tests), and percentiles come from one cumulative sum.

Out-of-range values are never lost: a value above the highest trackable value (or below 0) is
counted in :attr:`LatencyHistogram.out_of_range` and recorded clamped at the highest trackable
value, so percentiles stay conservative (high, never low). The owner reports that count.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000  # 60 s
SIGNIFICANT_FIGURES = 3  # per-endpoint and overall histograms
SERIES_SIGNIFICANT_FIGURES = 2  # per-second histograms of the time series: 1 % resolution, 8x smaller
PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)


@dataclass(frozen=True)
class LatencySummary:
    """Summary of a latency histogram, in milliseconds; percentiles are HDR bucket upper bounds."""

    count: int
    min_ms: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"LatencySummary.count must be >= 0, got {self.count}")
        if self.count and not (self.p50_ms <= self.p90_ms <= self.p95_ms <= self.p99_ms <= self.p999_ms):
            raise ValueError(f"percentiles out of order: p50={self.p50_ms} p90={self.p90_ms} p95={self.p95_ms} "
                             f"p99={self.p99_ms} p999={self.p999_ms}")


class LatencyHistogram:
    """An HDR histogram of microseconds with batch recording and an out-of-range count."""

    def __init__(self, significant_figures: int = SIGNIFICANT_FIGURES, *, lowest_us: int = LOWEST_US,
                 highest_us: int = HIGHEST_US) -> None:
        self.hdr = HdrHistogram(lowest_us, highest_us, significant_figures)
        self.out_of_range = 0
        self._counts = np.ctypeslib.as_array(self.hdr.counts)  # a view: writes land in the hdr counters
        h = self.hdr
        self._mask = h.sub_bucket_mask
        self._unit = h.unit_magnitude
        self._half_mag = h.sub_bucket_half_count_magnitude
        self._half = h.sub_bucket_half_count
        self._top_index = int(h._counts_index_for(highest_us))

    @property
    def total_count(self) -> int:
        return int(self.hdr.total_count)

    def counts_index(self, values_us: np.ndarray) -> np.ndarray:
        """Counter index of each value: ``HdrHistogram._counts_index_for`` vectorised."""
        v = values_us.astype(np.int64, copy=False)
        # bit length of (v | mask); exact through float64 for values < 2**53
        _, exp = np.frexp((v | self._mask).astype(np.float64))
        bucket = exp.astype(np.int64) - self._unit - (self._half_mag + 1)
        sub = v >> (bucket + self._unit)
        return ((bucket + 1) << self._half_mag) + sub - self._half

    def record_many(self, values_us: Sequence[int] | np.ndarray) -> int:
        """Record integer microseconds; returns how many were out of range (recorded clamped)."""
        v = np.asarray(values_us, dtype=np.int64)
        if v.size == 0:
            return 0
        bad = (v < 0) | (v > self.hdr.highest_trackable_value)
        n_bad = int(bad.sum())
        if n_bad:
            v = np.where(v < 0, 0, np.minimum(v, self.hdr.highest_trackable_value))
            self.out_of_range += n_bad
        idx = self.counts_index(v)
        self._counts += np.bincount(idx, minlength=len(self._counts))[: len(self._counts)].astype(np.uint64)
        h = self.hdr
        h.total_count += int(v.size)
        h.min_value = min(h.min_value, int(v.min()))
        h.max_value = max(h.max_value, int(v.max()))
        return n_bad

    def record(self, value_us: int) -> int:
        return self.record_many(np.array([value_us], dtype=np.int64))

    def add(self, other: LatencyHistogram) -> None:
        """Add another histogram of the same layout (exact: counters add)."""
        self.hdr.add(other.hdr)
        self.out_of_range += other.out_of_range

    def add_encoded(self, encoded: str | bytes) -> None:
        if encoded:
            self.hdr.decode_and_add(encoded)

    def encode(self) -> str:
        """Base64 of the compressed HDR V2 blob ("" when empty); other processes ``decode_and_add`` it."""
        if self.total_count == 0:
            return ""
        blob = self.hdr.encode()
        return blob.decode("ascii") if isinstance(blob, bytes) else str(blob)

    def values_at_percentiles(self, percentiles: Iterable[float]) -> list[int]:
        """Same answer as ``HdrHistogram.get_value_at_percentile`` (microseconds), via one cumsum."""
        total = self.total_count
        out: list[int] = []
        if total == 0:
            return [0 for _ in percentiles]
        cum = np.cumsum(self._counts, dtype=np.int64)
        for p in percentiles:
            target = max(int(min(p, 100.0) * total / 100 + 0.5), 1)
            index = int(np.searchsorted(cum, target, side="left"))
            value = self.hdr.get_value_from_index(index)
            out.append(int(self.hdr.get_highest_equivalent_value(value) if p else
                           self.hdr.get_lowest_equivalent_value(value)))
        return out

    def mean_us(self) -> float:
        total = self.total_count
        if total == 0:
            return 0.0
        nz = np.nonzero(self._counts)[0]
        mids = np.array([self.hdr._hdr_median_equiv_value(self.hdr.get_value_from_index(int(i))) for i in nz],
                        dtype=np.float64)
        return float((mids * self._counts[nz]).sum() / total)

    def summary(self) -> LatencySummary | None:
        if self.total_count == 0:
            return None
        p50, p90, p95, p99, p999 = self.values_at_percentiles(PERCENTILES)
        return LatencySummary(
            count=self.total_count,
            min_ms=self.hdr.get_min_value() / 1000.0,
            mean_ms=self.mean_us() / 1000.0,
            p50_ms=p50 / 1000.0, p90_ms=p90 / 1000.0, p95_ms=p95 / 1000.0, p99_ms=p99 / 1000.0,
            p999_ms=p999 / 1000.0,
            max_ms=self.hdr.get_max_value() / 1000.0,
        )


def decode(encoded: str, significant_figures: int = SIGNIFICANT_FIGURES) -> LatencyHistogram:
    h = LatencyHistogram(significant_figures)
    h.add_encoded(encoded)
    return h


def merge_encoded(encoded: Iterable[str], significant_figures: int = SIGNIFICANT_FIGURES) -> LatencyHistogram:
    """One histogram holding the sum of several encoded ones (empty strings are empty histograms)."""
    h = LatencyHistogram(significant_figures)
    for e in encoded:
        h.add_encoded(e)
    return h
