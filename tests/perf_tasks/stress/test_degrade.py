"""The degradation measurement: metrics from two load windows (pure), the invalid marking when
the stressor missed its target or the generator was saturated, and the stability probe against
real processes and sockets on loopback."""
from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from perf_tasks.alerts.rules import judge
from perf_tasks.load.histo import LatencyHistogram
from perf_tasks.load.result import GeneratorHealth, LoadResult, TimeSeries
from perf_tasks.load.safety import TargetNotAllowedError
from perf_tasks.stress.base import StressContext
from perf_tasks.stress.degrade import Stability, compare, degradation_result, probe_stability, service_for
from perf_tasks.stress.resources import StressorReading
from perf_tasks.sut import ServiceHandle

TARGETS = {"targets": {"p95_increase_pct": {"max": 300, "warning": 100}, "throughput_reduction_pct": {"max": 20},
                       "error_rate_increase_pct": {"max": 5}, "max_response_ms": {"max": 2000},
                       "crashed_pct": {"max": 0}, "hung_pct": {"max": 0}}}
STABLE = Stability(crashed=False, hung=False, probe_ms=1.0)


def _ctx(tmp_path: Path, **config) -> StressContext:
    return StressContext(name="cpu_saturation", work=tmp_path, profile="smoke", config={**TARGETS, **config})


def _window(values_ms: list[float], *, errors: int = 0, throughput: float | None = None,
            generator: GeneratorHealth | None = None) -> LoadResult:
    h = LatencyHistogram()
    h.record_many((np.array(values_ms) * 1000).astype(np.int64))
    n = len(values_ms)
    return LoadResult(
        scenario="s", model="open", source="perf_tasks.load", target="http://127.0.0.1:1",
        started_at="2026-01-01T00:00:00Z", duration_s=10.0, elapsed_s=10.0, users=50, intended_requests=n,
        intended_rate_per_s=n / 10, achieved_rate_per_s=n / 10,
        throughput_per_s=(n - errors) / 10 if throughput is None else throughput, requests=n, errors=errors,
        error_rate_pct=100.0 * errors / n, errors_by_class={"connection": errors} if errors else {},
        errors_by_code={}, error_samples={}, late_sends=0, late_threshold_ms=10.0, lateness=None,
        lateness_histogram="", dropped=0, out_of_range=0, latency=h.summary(), histogram=h.encode(), endpoints=(),
        timeseries=TimeSeries(1.0), latency_all=h.summary(), generator=generator)


def _reading(ok: bool = True) -> StressorReading:
    return StressorReading("cpu", 90.0, 92.0 if ok else 40.0, "% host CPU", 102.0 if ok else 44.0, ok,
                           "host CPU >= target - 5 points", {})


def _m(metrics, name):
    return next(m for m in metrics if m.name == f"stress.cpu_saturation.{name}")


def test_degradation_is_the_change_from_the_unstressed_window(tmp_path):
    base = _window([10.0] * 300)
    stressed = _window([10.0] * 270 + [30.0] * 30, errors=6)
    ms = compare(_ctx(tmp_path), base, stressed, _reading(), STABLE)
    p95 = _m(ms, "p95_increase_pct")
    assert p95.value == pytest.approx(200.0, rel=0.01)  # 10 ms -> 30 ms
    assert p95.samples == 300 and p95.target.max == 300
    assert _m(ms, "throughput_reduction_pct").value == pytest.approx(2.0)  # 30 -> 29.4 /s
    assert _m(ms, "error_rate_increase_pct").value == pytest.approx(2.0)  # 0 -> 2 points
    assert _m(ms, "max_response_ms").value == pytest.approx(30.0, rel=0.01)
    assert _m(ms, "crashed_pct").value == 0 and _m(ms, "hung_pct").value == 0
    assert judge(p95).status == "warning"  # over 2x, under 4x


def test_a_better_stressed_window_counts_as_no_degradation_and_keeps_the_sign_in_info(tmp_path):
    base = _window([20.0] * 300, errors=3)
    stressed = _window([10.0] * 300, throughput=31.0)
    bench = degradation_result(_ctx(tmp_path), base, stressed, _reading(), STABLE, description="x", params={},
                               elapsed_s=1.0)
    ms = bench.metrics
    assert _m(ms, "p95_increase_pct").value == 0.0
    assert _m(ms, "throughput_reduction_pct").value == 0.0
    assert _m(ms, "error_rate_increase_pct").value == 0.0
    assert bench.info["p95_change_pct"] == pytest.approx(-50.0, rel=0.01)
    assert bench.info["error_rate_change_pts"] == pytest.approx(-1.0)
    assert bench.info["throughput_change_pct"] > 0


def test_a_stressor_that_missed_its_target_makes_the_degradation_invalid_but_not_stability(tmp_path):
    ms = compare(_ctx(tmp_path), _window([10.0] * 300), _window([50.0] * 300), _reading(ok=False),
                 Stability(crashed=True, hung=False, probe_ms=None, detail="gone"))
    for name in ("p95_increase_pct", "throughput_reduction_pct", "error_rate_increase_pct"):
        v = judge(_m(ms, name))
        assert v.status == "invalid" and "missed its target" in v.reason, name
    assert judge(_m(ms, "crashed_pct")).status == "critical"  # a crash is a crash
    assert _m(ms, "stressor_achieved_pct").value == 44.0


def test_a_saturated_load_generator_makes_the_degradation_invalid(tmp_path):
    sat = GeneratorHealth("saturated", reason="engine at 100 % of a core", dropped=40, achieved_pct=80.0)
    ms = compare(_ctx(tmp_path), _window([10.0] * 300), _window([50.0] * 300, generator=sat), _reading(), STABLE)
    v = judge(_m(ms, "p95_increase_pct"))
    assert v.status == "invalid" and "stressed window" in v.reason and "100 % of a core" in v.reason


def test_too_few_requests_for_a_p95_is_invalid_not_a_pass(tmp_path):
    ms = compare(_ctx(tmp_path), _window([10.0] * 300), _window([10.0] * 50), _reading(), STABLE)
    assert judge(_m(ms, "p95_increase_pct")).status == "invalid"


def test_no_success_in_the_stressed_window_fails_the_p95_target(tmp_path):
    dead = dataclasses.replace(_window([5000.0] * 300, errors=300), latency=None, throughput_per_s=0.0)
    ms = compare(_ctx(tmp_path), _window([10.0] * 300), dead, _reading(), STABLE)
    p95 = _m(ms, "p95_increase_pct")
    assert judge(p95).status == "critical" and "no successful request" in p95.no_data_reason
    assert _m(ms, "throughput_reduction_pct").value == pytest.approx(100.0)
    assert judge(_m(ms, "max_response_ms")).status == "critical"


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_stability_probe_stable_hung_and_crashed():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        assert probe_stability(ServiceHandle(f"http://127.0.0.1:{srv.server_address[1]}", None)) == \
            Stability(False, False, probe_ms=pytest.approx(0, abs=1000))
    finally:
        srv.shutdown()
        srv.server_close()
    # accepts connections, never answers: hung
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        s = probe_stability(ServiceHandle(f"http://127.0.0.1:{silent.getsockname()[1]}", None), hung_after_s=0.5)
        assert s.hung and not s.crashed and "no health answer" in s.detail
    finally:
        silent.close()
    # a service we started whose process is gone: crashed
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    s = probe_stability(ServiceHandle("http://127.0.0.1:1", proc.pid), hung_after_s=0.5)
    assert s.crashed and not s.hung


def test_service_url_outside_the_allowlist_is_refused(tmp_path):
    ctx = StressContext(name="x", work=tmp_path, profile="smoke", service_url="http://example.com:8000")
    with pytest.raises(TargetNotAllowedError, match="example.com"):
        with service_for(ctx):
            pass
