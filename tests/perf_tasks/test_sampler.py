from __future__ import annotations

import time

from perf_tasks.monitor.fingerprint import fingerprint, mismatches
from perf_tasks.monitor.sampler import IoTotals, ResourceSampler, Sample, summarize_samples


def test_sampler_takes_samples_at_its_rate_and_sees_cpu_and_memory():
    sampler = ResourceSampler(interval_s=0.02).start()
    t_end = time.perf_counter() + 0.3
    blob = []
    while time.perf_counter() < t_end:  # busy: the process CPU must show it
        blob.append(bytearray(10_000))
    out = sampler.stop()
    # a GIL-holding loop delays the sampler thread; it still samples several times, never more
    # often than asked
    assert 3 <= out.summary.samples <= 16
    assert out.summary.process_cpu_pct_max > 30
    assert out.summary.rss_max_bytes > 10_000_000
    assert all(b.t_s >= a.t_s for a, b in zip(out.series, out.series[1:]))


def test_summary_of_a_known_series():
    def s(t, cpu, rss):
        return Sample(t, cpu, rss, 50.0, 40.0)
    summary = summarize_samples([s(0.1, 10.0, 100), s(0.2, 30.0, 300), s(0.3, 20.0, 200)], 0.1,
                                IoTotals(disk_write_bytes=10))
    assert summary.process_cpu_pct_mean == 20.0 and summary.process_cpu_pct_max == 30.0
    assert summary.rss_max_bytes == 300 and summary.disk_write_bytes == 10


def test_fingerprint_describes_machine_and_code():
    fp = fingerprint()
    assert fp["cpu_count_logical"] >= 1 and fp["memory_total_bytes"] > 0
    assert fp["python"].count(".") == 2 and "numpy" in fp["packages"]
    assert mismatches(fp, fp) == []
    other = {**fp, "cpu_model": "Other CPU"}
    assert mismatches(fp, other) == [f"cpu_model: {fp['cpu_model']!r} vs 'Other CPU'"]
