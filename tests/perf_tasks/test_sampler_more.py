"""The resource sampler's guards and a watched process that ends while it is sampled (a real
child process): the samples taken are kept, the loss is logged, nothing raises."""
from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from perf_tasks.monitor.sampler import ResourceSampler, summarize_samples


def test_bad_interval_and_misuse_are_refused():
    with pytest.raises(ValueError, match=r"sampler interval_s must be > 0, got 0"):
        ResourceSampler(0)
    s = ResourceSampler(0.05)
    with pytest.raises(RuntimeError, match="sampler was not started"):
        s.stop()
    s.start()
    try:
        with pytest.raises(RuntimeError, match="sampler already started"):
            s.start()
    finally:
        out = s.stop()
    assert out.summary.samples >= 1 and out.summary.rss_max_bytes > 0


def test_a_watched_process_that_ends_keeps_the_samples_taken(caplog):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.4)"])
    with caplog.at_level(logging.WARNING, logger="perf_tasks.monitor.sampler"):
        s = ResourceSampler(0.05, pid=proc.pid).start()
        proc.wait(10)
        deadline = time.monotonic() + 5
        while "resource sampler stopped" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        out = s.stop()  # the final sample fails too: still no error
    assert "resource sampler stopped" in caplog.text
    assert out.summary.samples == len(out.series) >= 1
    assert out.series[0].rss_bytes > 0 and out.summary.rss_max_bytes == max(x.rss_bytes for x in out.series)


def test_an_empty_series_summarises_to_zeros():
    summary = summarize_samples([], 0.5)
    assert summary.samples == 0 and summary.interval_s == 0.5 and summary.process_cpu_pct_max == 0.0


def test_a_zombie_is_not_sampled_as_a_live_process_using_nothing():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    try:
        s = ResourceSampler(0.05, pid=proc.pid).start()
        time.sleep(0.8)  # exits at ~0.3 s and stays a zombie: nobody waits for it yet
        out = s.stop()
    finally:
        proc.wait(10)
    assert all(x.rss_bytes > 0 for x in out.series), [x.rss_bytes for x in out.series]
