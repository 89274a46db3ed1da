"""Mid-run alerts: a rolling window judged while the scenario runs (real engine, real sockets)."""
from __future__ import annotations

import time
from pathlib import Path

from perf_tasks.load.histo import SERIES_SIGNIFICANT_FIGURES, LatencyHistogram
from perf_tasks.load.live import LiveMonitor, LiveSettings, read_window, write_live
from devtools.loopback import LoopbackServer
from perf_tasks.load.runner import run_plan
from tests.perf_tasks.load.test_engine import _journey, _plan


def _bucket(index: int, values_ms: list[float], failures: int) -> tuple[int, int, int, str]:
    h = LatencyHistogram(SERIES_SIGNIFICANT_FIGURES)
    h.record_many([int(v * 1000) for v in values_ms])
    return index, len(values_ms), failures, h.encode()


def _monitor(tmp_path: Path, alerts: list, **kw) -> LiveMonitor:
    base = dict(p95_target_ms=100.0, max_error_rate_pct=5.0, window_s=10.0, hold_s=4.0, every_s=1.0, abort=False,
                on_alert=alerts.append)
    return LiveMonitor("s", [tmp_path / "shard-0.json", tmp_path / "shard-1.json"], tmp_path / "abort",
                       **{**base, **kw})


def test_the_window_merges_shards_and_drops_old_buckets(tmp_path):
    settings = [LiveSettings(str(tmp_path / f"shard-{i}.json"), str(tmp_path / "abort")) for i in range(2)]
    start = 1000.0
    write_live(settings[0], shard=0, start_unix=start, bucket_s=1.0,
               buckets=[_bucket(0, [500.0] * 300, 0), _bucket(25, [10.0] * 150, 3)])
    write_live(settings[1], shard=1, start_unix=start, bucket_s=1.0, buckets=[_bucket(26, [20.0] * 150, 6)])
    w = read_window([Path(s.path) for s in settings], 10.0, now_unix=start + 30.0)
    assert w.observations == 300 and w.failures == 9  # bucket 0 is older than the 10 s window
    assert 10.0 <= w.p95_ms <= 21.0 and w.error_rate_pct == 3.0


def test_a_violation_must_hold_then_alerts_once_and_a_recovery_resets(tmp_path):
    alerts: list = []
    mon = _monitor(tmp_path, alerts)
    s0 = LiveSettings(str(tmp_path / "shard-0.json"), str(tmp_path / "abort"))
    start = 1000.0
    write_live(s0, shard=0, start_unix=start, bucket_s=1.0, buckets=[_bucket(9, [10.0] * 100, 50)])
    assert mon.check(now_unix=start + 10) is None  # 50 % errors: violation begins
    write_live(s0, shard=0, start_unix=start, bucket_s=1.0, buckets=[_bucket(11, [10.0] * 100, 0)])
    assert mon.check(now_unix=start + 12) is None  # recovered: the clock resets
    write_live(s0, shard=0, start_unix=start, bucket_s=1.0, buckets=[_bucket(13, [10.0] * 100, 40)])
    assert mon.check(now_unix=start + 14) is None
    assert mon.check(now_unix=start + 16) is None  # held 2 s of 4
    alert = mon.check(now_unix=start + 18.5)
    assert alert is not None and alerts == [alert] and alert.started_unix == start + 14
    assert "error rate 40.0 % > 5 %" in alert.text() and not (tmp_path / "abort").exists()
    assert mon.check(now_unix=start + 20) is None and len(alerts) == 1  # once


def test_a_server_that_starts_failing_mid_run_alerts_before_the_end_and_can_abort(tmp_path):
    """The engine writes its live window; a monitor thread alerts and aborts the scenario."""
    server = LoopbackServer().start()
    try:
        alerts: list = []
        live = LiveSettings(str(tmp_path / "shard-0.json"), str(tmp_path / "abort"), window_s=3.0, every_s=0.5)
        mon = LiveMonitor("t", [Path(live.path)], Path(live.abort_path), p95_target_ms=1000.0,
                          max_error_rate_pct=5.0, window_s=3.0, hold_s=1.0, every_s=0.5, abort=True,
                          on_alert=alerts.append)
        plan = _plan(server.url, _journey("/status/500"), rate_per_s=100.0, duration_s=20.0, live=live)
        t0 = time.time()
        with mon:
            r = run_plan(plan)
        took = time.time() - t0
        assert len(alerts) == 1 and alerts[0].aborted and "error rate" in alerts[0].text()
        assert took < 10.0, took  # aborted well before the 20 s schedule ended
        assert any("aborted by a live alert" in n for n in r.notes) and r.dropped == 0
    finally:
        server.stop()
