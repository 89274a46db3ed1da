from __future__ import annotations

import numpy as np
from hdrh.histogram import HdrHistogram

from perf_tasks.load.histo import HIGHEST_US, LatencyHistogram, decode, merge_encoded


def _values(seed: int, n: int = 20_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.integers(0, 5000, n // 4), rng.lognormal(9, 1.5, n).astype(np.int64)])


def test_batch_recording_matches_record_value_exactly():
    v = _values(1)
    for sf in (2, 3):
        ours, ref = LatencyHistogram(sf), HdrHistogram(1, HIGHEST_US, sf)
        ours.record_many(v)
        for x in v.tolist():
            assert ref.record_value(min(x, HIGHEST_US))
        assert list(ours.hdr.counts) == list(ref.counts)
        assert ours.total_count == ref.total_count
        pcts = [0, 1, 50, 90, 95, 99, 99.9, 100]
        assert ours.values_at_percentiles(pcts) == [ref.get_value_at_percentile(p) for p in pcts]
        assert abs(ours.mean_us() - ref.get_mean_value()) < 1e-6 * ref.get_mean_value()


def test_out_of_range_values_are_counted_and_recorded_at_the_top():
    h = LatencyHistogram()
    bad = h.record_many([100, HIGHEST_US + 1, 10**12, -5])
    assert bad == 3 and h.out_of_range == 3 and h.total_count == 4
    assert h.values_at_percentiles([100])[0] >= HIGHEST_US  # conservative: max stays at the top
    assert h.values_at_percentiles([0])[0] == 0  # the negative one is clamped to 0


def test_percentiles_are_within_hdr_precision_of_exact_ones():
    v = _values(2)
    h = LatencyHistogram()
    h.record_many(v)
    s = np.sort(v)
    for p in (50, 90, 99, 99.9):
        exact = s[max(int(p / 100 * len(s) + 0.5), 1) - 1]
        got = h.values_at_percentiles([p])[0]
        assert exact <= got <= exact * 1.001 + 1


def test_encoded_shards_merge_to_the_same_histogram():
    v = _values(3)
    whole = LatencyHistogram()
    whole.record_many(v)
    parts = []
    for chunk in np.array_split(v, 4):
        h = LatencyHistogram()
        h.record_many(chunk)
        parts.append(h.encode())
    merged = merge_encoded(parts)
    assert list(merged.hdr.counts) == list(whole.hdr.counts)
    assert merged.summary() == whole.summary()
    assert decode(whole.encode()).total_count == len(v)
    assert LatencyHistogram().encode() == "" and merge_encoded(["", ""]).total_count == 0
