"""Soak: the RSS trend (least squares + a one-sided lower bound on the slope) and its verdict."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from perf_tasks.stress.soak import MB, rss_trend
from tests.perf_tasks.stress.failure_support import Leftovers, run


def test_a_steady_leak_is_found_and_noise_alone_is_not():
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 3600.0, 10.0)
    base = 300 * MB + rng.normal(0, 2 * MB, t.size)
    leak = rss_trend(t, base + t / 3600.0 * 40 * MB)  # 40 MB/h
    assert leak.slope_mb_per_h == pytest.approx(40, abs=3) and 30 < leak.slope_low_mb_per_h < 40
    flat = rss_trend(t, base)
    assert abs(flat.slope_mb_per_h) < 3 and flat.slope_low_mb_per_h < 1


def test_the_warm_up_share_is_left_out():
    t = np.arange(100.0)
    rss = np.where(t < 20, t * 10 * MB, 200 * MB)  # start-up growth, then flat
    assert rss_trend(t, rss, warmup_share=0.2).slope_mb_per_h == pytest.approx(0, abs=1e-9)
    assert rss_trend(t, rss, warmup_share=0.0).slope_mb_per_h > 0


def test_too_few_samples_or_mismatched_arrays_are_refused():
    with pytest.raises(ValueError, match=">= 3 samples"):
        rss_trend(np.array([0.0, 1.0]), np.array([1.0, 2.0]), warmup_share=0)
    with pytest.raises(ValueError, match="differ in shape"):
        rss_trend(np.arange(5.0), np.arange(4.0))


def test_a_smoke_soak_measures_but_is_too_short_to_judge(tmp_path: Path):
    before = Leftovers()
    result = run("soak", tmp_path, config={"targets": {"rss_growth_per_h_low_bytes": {"max": 50 * MB}},
                                           "profiles": {"smoke": {"soak_s": 3.0}}})
    by = {m.name.rsplit(".", 1)[1]: m for m in result.metrics}
    assert by["rss_growth_per_h_low_bytes"].target.max == 50 * MB
    assert "too short" in by["rss_growth_per_h_low_bytes"].invalid_reason  # never a pass on 3 s
    assert by["rss_max_bytes"].value > 50 * MB and result.info["acked"] > 100
    before.check(tmp_path)
