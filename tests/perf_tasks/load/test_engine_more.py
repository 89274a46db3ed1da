"""The load engine's edges: the generator verdict's pure rules (unsampled CPU, a busy host, a
lagging loop, closed users), refusals before any request (an unsampleable target pid, a common
start far away), a late common start, https through aiohttp, and closed users whose think time
runs past the end."""
from __future__ import annotations

import logging
import time

import pytest

from devtools.loopback import LoopbackServer, free_port
from perf_tasks.errors import UserError
from perf_tasks.load.engine import GENERATOR_SATURATED, SATURATED_CPU_PCT, generator_health
from perf_tasks.load.journey import JourneySpec, StepSpec
from perf_tasks.load.plan import LoadPlan
from perf_tasks.load.runner import run_plan


@pytest.fixture(scope="module")
def server():
    s = LoopbackServer().start()
    yield s
    s.stop()


def _plan(url: str, *paths: str, think: float = 0.0, **kw) -> LoadPlan:
    journey = JourneySpec(mode="sequence", steps=[StepSpec(name=f"s{i}", path=p, think_time_s=think)
                                                  for i, p in enumerate(paths or ("/a",))])
    base = dict(scenario="t", target_url=url, journey_name="j", journey=journey, duration_s=0.5, users=5,
                rate_per_s=20.0, arrival="constant", sample_interval_s=0.2)
    return LoadPlan(**{**base, **kw})


def _health(**kw):
    base = dict(model="open", cpu_pct_mean=20.0, cpu_pct_max=30.0, lag_ms=[1.0] * 100, sent=1000, late=0,
                dropped=0, intended=1000)
    return generator_health(**{**base, **kw})


def test_an_unsampled_generator_is_unknown_never_ok():
    g = _health(cpu_pct_mean=None, lag_ms=[])
    assert g.verdict == "unknown" and g.reason == "engine CPU was not sampled"
    assert g.loop_lag_p99_ms == 0.0 and g.achieved_pct == 100.0


def test_a_generator_that_waited_for_cpu_and_fell_behind_blames_other_work():
    g = _health(cpu_pct_mean=50.0, cpu_wait_pct=40.0, sent=900, late=50)
    assert g.verdict == "saturated" and g.reason.startswith(GENERATOR_SATURATED)
    assert "waited 40 % of the time for one" in g.reason and "Other work on this host delayed it" in g.reason
    assert "5.6 % of sends were late" in g.reason and "it sent 90.0 % of the intended rate" in g.reason
    assert g.cpu_wait_pct == 40.0 and g.shards_needed == 2


def test_a_lagging_loop_with_drops_is_saturated_and_says_how_many_shards():
    g = _health(cpu_pct_mean=SATURATED_CPU_PCT + 5, lag_ms=[80.0] * 100, dropped=7)
    assert g.verdict == "saturated"
    assert "its event loop lagged 80 ms at p99" in g.reason and "7 arrivals were dropped" in g.reason
    assert "Run about 2 shards (one core each)" in g.reason


def test_busy_but_on_time_is_ok_and_closed_users_waiting_on_a_busy_generator_are_not():
    assert _health(cpu_pct_mean=95.0).verdict == "ok"  # busy, but every arrival went out on time
    closed = _health(model="closed", cpu_pct_mean=95.0)
    assert closed.verdict == "saturated" and "closed-model users wait for the generator" in closed.reason


def test_a_target_pid_that_cannot_be_sampled_is_refused_before_any_request(server):
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)
    before = server.requests
    with pytest.raises(UserError, match=rf"target pid {gone.pid}: cannot sample it"):
        run_plan(_plan(server.url, target_pid=gone.pid))
    assert server.requests == before


def test_a_common_start_too_far_away_is_a_planning_error(server):
    before = server.requests
    with pytest.raises(UserError, match=r"scenario 't' shard 0: start_at_unix is \d+ s away \(more than 600 s\)"):
        run_plan(_plan(server.url, start_at_unix=time.time() + 3600))
    assert server.requests == before


def test_a_shard_that_missed_the_common_start_runs_at_once_and_says_how_late(server, caplog):
    with caplog.at_level(logging.WARNING, logger="perf_tasks.load.engine"):
        r = run_plan(_plan(server.url, start_at_unix=time.time() - 2.0))
    assert r.requests == 10 and r.errors == 0
    assert "load t shard 0: started" in caplog.text and "after the common start time" in caplog.text


def test_https_goes_through_aiohttp_and_a_refused_connection_is_counted():
    r = run_plan(_plan(f"https://127.0.0.1:{free_port()}", rate_per_s=10.0, duration_s=0.5))
    assert r.requests == 5 and r.errors == 5 and r.errors_by_class == {"connection": 5}
    assert "/a" in r.error_samples["connection"]


def test_closed_users_whose_answer_comes_after_the_end_stop_without_thinking(server):
    t0 = time.monotonic()
    r = run_plan(_plan(server.url, "/sleep/700", model="closed", users=2, duration_s=0.3, think=30.0))
    assert r.requests == 2 and r.errors == 0  # one request each; no second one, no 30 s think
    assert time.monotonic() - t0 < 10
