from __future__ import annotations

from pathlib import Path

import pytest

from perf_tasks.load.locust_adapter import (
    LocustError,
    classify_failure,
    locust_command,
    result_from_locust_csv,
    run_locustfile,
)
from devtools.loopback import LoopbackServer
from perf_tasks.load.safety import TargetNotAllowedError

LOCUSTFILE = '''
from locust import FastHttpUser, constant, task

class Shopper(FastHttpUser):
    wait_time = constant(0.02)

    @task(3)
    def ok(self):
        self.client.get("/market-data/SYM001", name="market_data")

    @task(1)
    def broken(self):
        self.client.get("/status/500", name="broken")
'''


@pytest.fixture(scope="module")
def server():
    s = LoopbackServer().start()
    yield s
    s.stop()


def test_runs_a_locustfile_headless_and_converts_its_csv(server, tmp_path):
    lf = tmp_path / "locustfile.py"
    lf.write_text(LOCUSTFILE)
    r = run_locustfile(lf, server.url, users=2, duration_s=2, workdir=tmp_path)
    assert r.source == "locust" and r.model == "closed" and not r.co_corrected
    names = {e.name: e for e in r.endpoints}
    assert set(names) == {"market_data", "broken"}
    assert names["market_data"].requests > 20 and names["market_data"].errors == 0
    assert names["broken"].errors == names["broken"].requests > 5
    assert r.errors_by_class == {"5xx": names["broken"].errors} and r.errors_by_code == {"500": r.errors}
    assert r.requests == sum(e.requests for e in r.endpoints) and r.latency.count == r.requests
    assert r.histogram == "" and any("not corrected for coordinated omission" in n for n in r.notes)
    assert r.engine_resources is not None  # the Locust process was sampled
    assert sum(r.timeseries.completed) <= r.requests


def test_refuses_a_target_outside_the_allowlist_before_starting(tmp_path):
    lf = tmp_path / "locustfile.py"
    lf.write_text(LOCUSTFILE)
    with pytest.raises(TargetNotAllowedError, match="example.com"):
        run_locustfile(lf, "http://example.com", users=1, duration_s=1, workdir=tmp_path)
    assert not list(tmp_path.glob("*.csv"))


def test_locust_is_killed_at_its_time_limit(server, tmp_path):
    lf = tmp_path / "locustfile.py"
    lf.write_text(LOCUSTFILE)
    with pytest.raises(LocustError, match="past its 2 s limit"):
        run_locustfile(lf, server.url, users=1, duration_s=60, timeout_s=2, workdir=tmp_path)


STATS = """Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
GET,/a,100,10,5,6.5,1.0,90.0,11.0,10.0,1.0,5,6,7,8,9,12,20,40,90,90,90
,Aggregated,100,10,5,6.5,1.0,90.0,11.0,10.0,1.0,5,6,7,8,9,12,20,40,90,90,90
"""
FAILURES = """Method,Name,Error,Occurrences,First Seen,Last Seen
GET,/a,LocustBadStatusCode(code=503),6,x,y
GET,/a,HTTPConnectionClosed('connection closed.'),3,x,y
"""
HISTORY = """Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size
1000,0,,Aggregated,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0
1001,5,,Aggregated,0,0,5,6,7,8,9,12,20,40,90,90,90,40,4,5,6.0,1,90,11
1001,5,,Aggregated,0,0,5,6,7,8,9,12,20,40,90,90,90,45,4,5,6.0,1,90,11
1002,5,,Aggregated,0,0,4,6,7,8,9,11,20,30,90,90,90,100,10,5,6.0,1,90,11
"""


def test_csv_conversion_keeps_counts_and_never_loses_failures(tmp_path):
    prefix = tmp_path / "run"
    Path(f"{prefix}_stats.csv").write_text(STATS)
    Path(f"{prefix}_failures.csv").write_text(FAILURES)  # 9 listed, 10 counted: one goes to "other"
    Path(f"{prefix}_stats_history.csv").write_text(HISTORY)
    r = result_from_locust_csv(prefix, scenario="x", target_url="http://127.0.0.1:1", users=5, duration_s=10,
                               started_at="t")
    assert (r.requests, r.errors, r.error_rate_pct) == (100, 10, 10.0)
    assert r.errors_by_class == {"5xx": 6, "connection": 3, "other": 1} and r.errors_by_code == {"503": 6}
    assert (r.latency.p50_ms, r.latency.p95_ms, r.latency.p99_ms, r.latency.max_ms) == (5, 12, 40, 90)
    ts = r.timeseries
    assert ts.t_s == (0.0, 1.0, 2.0) and ts.completed == (0, 45, 55) and ts.errors == (0, 4, 6)
    assert ts.p95_ms == (0.0, 12.0, 11.0)
    with pytest.raises(LocustError, match="missing or empty"):
        result_from_locust_csv(tmp_path / "nothing", scenario="x", target_url="u", users=1, duration_s=1,
                               started_at="t")


@pytest.mark.parametrize("error,expected", [
    ("LocustBadStatusCode(code=404)", ("4xx", "404")),
    ("HTTPError('500 Server Error: INTERNAL SERVER ERROR for url: /x')", ("5xx", "500")),
    ("ConnectionRefusedError(111, 'Connection refused')", ("connection", None)),
    ("ReadTimeout('timed out')", ("timeout", None)),
    ("CatchResponseError('bad body')", ("other", None)),
])
def test_failure_messages_are_classified(error, expected):
    assert classify_failure(error) == expected


def test_command_line_is_headless_and_bounded():
    cmd = locust_command("lf.py", "http://127.0.0.1:8000", users=10, spawn_rate=5, duration_s=30, csv_prefix="p")
    assert cmd[1:3] == ["-m", "locust"] and "--headless" in cmd and "--only-summary" in cmd
    assert cmd[cmd.index("-t") + 1] == "30s" and cmd[cmd.index("-u") + 1] == "10"
