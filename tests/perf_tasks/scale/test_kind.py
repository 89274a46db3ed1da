"""The scale kind's option checking (before anything starts), the instances' pinning and memory
limit notes, and the multi-worker fallback when HAProxy is missing (a real service on loopback)."""
from __future__ import annotations

import os

import pytest

from perf_tasks.errors import UserError
from perf_tasks.kinds import scale
from perf_tasks.pipeline import RunSpec
from perf_tasks.scale import runner
from perf_tasks.scale.instances import memory_limit_support, start_instances
from perf_tasks.scale.runner import SweepConfig, run_size
from perf_tasks.scale.sweep import SweepTargets
from tests.conftest import REPO


def _prepare(profile: str = "smoke", **options):
    spec = RunSpec(dag_id=scale.DAG_ID, run_id="t", kind="scale", profile=profile, options=options,
                   config_dir=str(REPO / "config"))
    return scale.prepare(spec, None)  # type: ignore[arg-type]


def test_prepare_resolves_the_profile_and_lists_one_step_per_size():
    spec = _prepare("standard")
    assert spec.suites == ("scalability",)
    assert spec.expected_steps == ("run_size.instances_1", "run_size.instances_2", "run_size.cores_1",
                                   "run_size.cores_2", "fit_model")
    opts = scale.options_of(spec)
    assert opts.p99_ms == 250 and opts.sut == "service" and opts.cost_per_core_hour == 0.04
    assert scale.tasks(spec) == ["instances_1", "instances_2", "cores_1", "cores_2"]
    assert scale.options_of(_prepare(instances="1,3", axes=["instances"])).instances == (1, 3)  # CLI strings


@pytest.mark.parametrize("options, needle", [
    ({"nope": 1}, "param 'nope': not an option of a scale run"),
    ({"cores": [os.cpu_count() + 1], "axes": ["cores"]}, "param 'cores'"),
    ({"instances": [0]}, "param 'instances'"),
    ({"instances": "a,b"}, "param 'instances'"),
    ({"sut": "urls"}, "param 'urls'"),
    ({"sut": "urls", "urls": ["http://10.1.2.3:8000"], "axes": ["instances"]}, "10.1.2.3"),
    ({"journey": "no_such_journey"}, "no_such_journey"),
    ({"balancer": "nginx"}, "param 'balancer'"),
    ({"multipliers": [1, -2]}, "param 'multipliers'"),
    ({"replicas_url": "http://example.com/replicas"}, "example.com"),
])
def test_prepare_refuses_bad_options_naming_them(options, needle):
    with pytest.raises(UserError, match=needle):  # ConfigError, or TargetNotAllowedError for the allowlist
        _prepare(**options)


def test_instances_are_pinned_and_a_memory_limit_says_whether_it_applied(tmp_path):
    core = sorted(os.sched_getaffinity(0))[0]
    with start_instances(tmp_path, 1, kind="testserver", cpus=[(core,)], memory_limit_bytes=256 * 2**20) as s:
        assert os.sched_getaffinity(s.pids[0]) == {core}
        root, why = memory_limit_support()
        if root is None:
            assert why in s.notes and s.instances[0].memory_limit_bytes is None
        else:
            assert s.instances[0].memory_limit_bytes == 256 * 2**20 or any("memory.max" in n for n in s.notes)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in s.pids)


def test_without_haproxy_the_service_runs_multi_worker_and_says_so(tmp_path, monkeypatch):
    from perf_tasks.scale.sweep import simple_journey

    monkeypatch.setattr(runner, "haproxy_path", lambda: None)
    cfg = SweepConfig(journey=simple_journey("/health"), journey_name="health", targets=SweepTargets(p99_ms=500.0),
                      base_rate_per_s=20.0, multipliers=(1.0,), point_duration_s=1.0)
    r = run_size(tmp_path, "instances", 2, cfg)
    assert r.balancer.startswith("multi-worker (2 uvicorn workers")
    assert any("HAProxy is not installed" in n and "multi-worker" in n for n in r.notes)
    assert r.knee.status == "beyond_sweep" and r.knee.points[0].per_instance == {}
    assert r.knee.points[0].throughput_per_s > 10


@pytest.mark.parametrize("body, expected", [
    (b"3", 3.0), (b'{"replicas": 4}', 4.0), (b'{"spec": {}, "status": {"replicas": 5}}', 5.0),
    (b'{"status": "success", "data": {"result": [{"value": [1764460800, "6"]}]}}', 6.0), (b'{"x": 1}', None),
])
def test_replicas_are_read_from_the_url_the_user_gives(body, expected):
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        assert runner.read_replicas(f"http://127.0.0.1:{srv.server_port}/q", ("127.0.0.1",)) == expected
    finally:
        srv.shutdown()
    with pytest.raises(UserError, match="replicas_url"):
        runner.read_replicas("http://example.com/q", ("127.0.0.1",))


def test_teardown_ends_what_a_size_left_running_and_nothing_else(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, scale.MARKER_ENV: str(tmp_path)}
    left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             env={**os.environ, scale.MARKER_ENV: str(tmp_path / "another-run")})
    try:
        import time

        time.sleep(0.3)  # the children have exec'd: their environment is readable
        killed = scale.teardown(tmp_path)
        assert killed == [left.pid]
        assert left.wait(5) != 0 and other.poll() is None
    finally:
        for p in (left, other):
            if p.poll() is None:
                p.kill()
                p.wait()
