"""Metrics to a real Pushgateway, scraped by a real Prometheus, queried back over its HTTP API
(both from Debian's packages: prometheus, prometheus-pushgateway; .ci/run installs them)."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from perf_tasks.monitor.prom import delete_live, push_live, push_run
from perf_tasks.results import Evaluation, Metric, RunResults, SuiteResult, Target
from tests.support.servers import free_port

pytestmark = pytest.mark.skipif(not (shutil.which("prometheus") and shutil.which("prometheus-pushgateway")),
                                reason="Debian packages prometheus and prometheus-pushgateway are not installed "
                                       "(apt-get install -y prometheus prometheus-pushgateway)")


def _wait_http(url: str, timeout_s: float = 20.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout_s:g} s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict[str, str]]:
    d = tmp_path_factory.mktemp("prom")
    gw_port, prom_port = free_port(), free_port()
    gateway = f"http://127.0.0.1:{gw_port}"
    (d / "prometheus.yml").write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "pushgateway", "honor_labels": True,
                            "static_configs": [{"targets": [f"127.0.0.1:{gw_port}"]}]}]}))
    procs = [subprocess.Popen(["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{gw_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen(["prometheus", f"--config.file={d / 'prometheus.yml'}",
                               f"--web.listen-address=127.0.0.1:{prom_port}", f"--storage.tsdb.path={d / 'data'}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_http(f"{gateway}/-/ready")
        _wait_http(f"http://127.0.0.1:{prom_port}/-/ready")
        yield {"gateway": gateway, "prometheus": f"http://127.0.0.1:{prom_port}"}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def _query(prometheus: str, promql: str, *, want: int = 1, timeout_s: float = 20.0) -> list[dict]:
    """Poll Prometheus's HTTP API until the query returns at least ``want`` series."""
    t0 = time.monotonic()
    result: list[dict] = []
    while time.monotonic() - t0 < timeout_s:
        url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as resp:
            result = json.loads(resp.read())["data"]["result"]
        if len(result) >= want:
            return result
        time.sleep(0.5)
    return result


def _run(run_id: str, p95: float) -> tuple[RunResults, Evaluation]:
    from perf_tasks.alerts.rules import evaluate
    from perf_tasks.results import BenchmarkResult

    m = Metric("risk.var_historical.latency_p95_ms", p95, "ms", "lower", Target(max=1000), samples=500)
    bench = BenchmarkResult(suite="risk", name="var_historical", callable="x:y", params={}, items_per_call=1,
                            item_unit="call", warmups=0, calls_per_observation=1, observation_s=(), latency_s=None,
                            metrics=(m,), resources=None, calls=500, errors=0)
    suite = SuiteResult("risk", "smoke", "t0", "t1", (bench,))
    results = RunResults(dag_id="perf_daily", run_id=run_id, profile="smoke", started_at="t0", fingerprint={},
                         suites=(suite,))
    return results, evaluate(results, [])


def test_a_run_is_pushed_scraped_and_queried_back_with_its_verdicts(stack):
    results, evaluation = _run("r1", 12.5)
    assert push_run(stack["gateway"], results, evaluation, verdict="PASS") == ""
    got = _query(stack["prometheus"], 'perf_metric{dag="perf_daily",metric="latency_p95_ms"}')
    assert got and float(got[0]["value"][1]) == 12.5
    assert got[0]["metric"]["benchmark"] == "var_historical" and got[0]["metric"]["profile"] == "smoke"
    status = _query(stack["prometheus"], 'perf_target_status{dag="perf_daily",status="pass"} == 1')
    assert status and status[0]["metric"]["metric"] == "risk.var_historical.latency_p95_ms"
    # the next run replaces the series of its DAG and profile
    results2, evaluation2 = _run("r2", 1500.0)
    assert push_run(stack["gateway"], results2, evaluation2, verdict="CRITICAL") == ""
    crit = _query(stack["prometheus"], 'perf_target_status{dag="perf_daily",status="critical"} == 1')
    assert crit, "the critical verdict of run r2 reached Prometheus"
    info = _query(stack["prometheus"], 'perf_run_info{dag="perf_daily",run_id="r2",verdict="CRITICAL"}')
    assert info


def test_live_windows_are_pushed_and_removed_when_the_scenario_ends(stack):
    assert push_live(stack["gateway"], dag="perf_load_weekly", scenario="normal", run_id="r1", window_s=60.0,
                     observations=600, failures=6, p95_ms=42.0) == ""
    got = _query(stack["prometheus"], 'perf_live_p95_ms{scenario="normal"}')
    assert got and float(got[0]["value"][1]) == 42.0
    rate = _query(stack["prometheus"], 'perf_live_error_rate_pct{scenario="normal"}')
    assert rate and float(rate[0]["value"][1]) == pytest.approx(1.0)
    delete_live(stack["gateway"], dag="perf_load_weekly", scenario="normal")
    with urllib.request.urlopen(f"{stack['gateway']}/metrics", timeout=5) as resp:
        assert "perf_live_p95_ms" not in resp.read().decode()


def test_an_unreachable_gateway_is_reported_not_raised():
    results, evaluation = _run("r3", 1.0)
    error = push_run(f"http://127.0.0.1:{free_port()}", results, evaluation)
    assert error and ("Connection refused" in error or "URLError" in error)
    assert push_run("", results, evaluation) == ""  # off


def test_the_pipeline_pushes_each_sealed_run_when_a_gateway_is_configured(stack, tmp_path, monkeypatch):
    from perf_tasks.store import FileStore
    from tests.perf_tasks.test_pipeline import _full_run, small_config

    monkeypatch.setenv("PERF_PUSHGATEWAY_URL", stack["gateway"])
    _full_run(tmp_path, small_config(tmp_path), FileStore(tmp_path / "store"), "piped-1")
    got = _query(stack["prometheus"], 'perf_run_info{dag="perf_daily",run_id="piped-1"}')
    assert got and got[0]["metric"]["verdict"] in ("PASS", "WARNING", "INVALID", "CRITICAL")
    tick = _query(stack["prometheus"], 'perf_metric{dag="perf_daily",benchmark="tick_handling",metric="latency_p95_ms"}')
    assert tick and float(tick[0]["value"][1]) > 0


def test_stress_and_scale_load_goes_live_to_the_gateway_while_it_runs_and_is_removed_after(stack):
    """run_plan_live inside pushing(): the engine's rolling window reaches the Pushgateway (and
    Prometheus) while the plan runs; its series is deleted when the plan ends; outside a pushing()
    block nothing is pushed."""
    import threading

    from devtools.loopback import LoopbackServer
    from perf_tasks.load.live_push import pushing, run_plan_live
    from tests.perf_tasks.load.test_engine import _journey, _plan

    server = LoopbackServer().start()
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            with urllib.request.urlopen(f"{stack['gateway']}/metrics", timeout=5) as resp:
                text = resp.read().decode()
            seen.extend(line for line in text.splitlines()
                        if line.startswith("perf_live_rate_per_s{") and 'scenario="scale@40.0"' in line)
            time.sleep(0.25)

    try:
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with pushing(stack["gateway"], dag="perf_scalability_quarterly", run_id="r-live", window_s=2.0, every_s=0.5):
            r = run_plan_live(_plan(server.url, _journey("/a"), scenario="scale@40.0", rate_per_s=40.0,
                                    duration_s=4.0))
        done.set()
        watcher.join(timeout=10)
        assert r.requests == 160 and r.errors == 0  # the measurement is the engine's own, unchanged
        assert seen, "no live window reached the Pushgateway while the plan ran"
        assert 'run_id="r-live"' in seen[-1] and 'dag="perf_scalability_quarterly"' in seen[-1]
        assert max(float(line.rsplit(" ", 1)[1]) for line in seen) > 0
        with urllib.request.urlopen(f"{stack['gateway']}/metrics", timeout=5) as resp:
            assert 'scenario="scale@40.0"' not in resp.read().decode()  # deleted at the end
        r2 = run_plan_live(_plan(server.url, _journey("/a"), scenario="quiet", rate_per_s=20.0, duration_s=1.0))
        assert r2.requests == 20
        with urllib.request.urlopen(f"{stack['gateway']}/metrics", timeout=5) as resp:
            assert 'scenario="quiet"' not in resp.read().decode()  # no pushing() block: nothing pushed
    finally:
        done.set()
        server.stop()
