"""Failover: two real service instances behind a real HAProxy, one SIGKILLed under load."""
from __future__ import annotations

import pytest

from perf_tasks.scale.balancer import haproxy_path
from perf_tasks.scale.failover import run_failover
from perf_tasks.stress.base import StressContext


@pytest.mark.skipif(haproxy_path() is None, reason="HAProxy is not installed (apt-get install -y haproxy)")
def test_failover_kill_one_of_two(tmp_path):
    ctx = StressContext(name="failover", work=tmp_path, profile="smoke",
                        config={"profiles": {"smoke": {"duration_s": 4.0, "kill_at_s": 1.5}}})
    r = run_failover(ctx)
    m = {x.name.rsplit(".", 1)[1]: x for x in r.metrics}
    assert r.suite == "stress" and r.name == "failover"
    assert not m["detect_s"].no_data_reason, m["detect_s"]
    # health checks every 200 ms, fall 2: DOWN within ~3 intervals (+ polling and a loaded host)
    assert 0 < m["detect_s"].value < 2.0
    served = r.info["served"]
    assert served["s0"] > 0 and served["s1"] > 0  # both served before the kill
    assert served["s0"] > served["s1"]  # the survivor took the rest
    assert r.calls > 100 and r.info["client_errors"] >= 0
    assert m["instance_0_share_pct"].value > 50.0
    assert m["error_rate_pct"].value < 10.0  # redispatch: a refused connection is retried on the other
    assert m["time_to_full_service_s"].value >= 0.0
    from perf_tasks.results import RunResults, SuiteResult
    from perf_tasks.validate.results import validate_results

    check = validate_results(RunResults("d", "r", "smoke", "", {}, (SuiteResult("stress", "smoke", "", "", (r,)),)))
    assert check.passed, check.failures


def test_failover_without_haproxy_says_so(tmp_path, monkeypatch):
    import perf_tasks.scale.failover as fo

    monkeypatch.setattr(fo, "haproxy_path", lambda: None)
    r = run_failover(StressContext(name="failover", work=tmp_path, profile="smoke"))
    assert r.metrics and all("HAProxy is not installed" in x.no_data_reason for x in r.metrics)
