"""One size of one axis: what run_size refuses before it starts anything, the ``urls`` mode (the
user's running instances: here real known-capacity test servers on loopback), the replica count
read around each point, and a memory limit that could not apply there."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from perf_tasks.errors import UserError
from perf_tasks.load.safety import TargetNotAllowedError
from perf_tasks.scale import runner
from perf_tasks.scale.balancer import haproxy_path
from perf_tasks.scale.instances import InstanceSet, start_instances
from perf_tasks.scale.runner import SweepConfig, _hostport, read_replicas, run_size
from perf_tasks.scale.sweep import SweepTargets, simple_journey

needs_haproxy = pytest.mark.skipif(haproxy_path() is None,
                                   reason="HAProxy is not installed (apt-get install -y haproxy)")


def _cfg(**kw) -> SweepConfig:
    base = dict(journey=simple_journey("/work"), journey_name="work", targets=SweepTargets(p99_ms=500.0),
                base_rate_per_s=20.0, multipliers=(1.0,), point_duration_s=1.0, timeout_s=3.0)
    return SweepConfig(**{**base, **kw})


@pytest.fixture
def no_haproxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "haproxy_path", lambda: None)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InstanceSet]:
    """Two test servers of 4 slots x 5 ms (800 requests/s each): far above the rates used here."""
    with start_instances(tmp_path_factory.mktemp("servers"), 2, kind="testserver", capacity=(4, 5.0),
                         ready_timeout_s=30) as s:
        yield s


@pytest.mark.parametrize("axis, size, needle", [
    ("nodes", 1, r"axis must be 'instances' or 'cores', got 'nodes'"),
    ("instances", 0, r"size must be an integer >= 1, got 0"),
    ("cores", 2.0, r"size must be an integer >= 1, got 2\.0"),
    ("cores", 100_000, r"cores axis size 100000: only \d+ cores are available here"),
])
def test_run_size_refuses_a_bad_axis_or_size_naming_it(tmp_path: Path, axis, size, needle):
    with pytest.raises(UserError, match=needle):
        run_size(tmp_path / "w", axis, size, _cfg())
    assert not (tmp_path / "w").exists()


@pytest.mark.usefixtures("no_haproxy")
@pytest.mark.parametrize("cfg, needle", [
    (_cfg(balancer="haproxy"), r"balancer 'haproxy' was asked for: .*HAProxy is not installed"),
    (_cfg(sut="testserver"), r"the test server has no multi-worker mode: .*HAProxy is not installed"),
    (_cfg(sut="urls"), r"sut 'urls' needs at least one URL \(param urls\)"),
    (_cfg(sut="urls", urls=("http://127.0.0.1:9", "http://127.0.0.1:10")),
     r"several URLs need a balancer: .*HAProxy is not installed"),
])
def test_without_haproxy_what_needs_it_is_refused_saying_why(tmp_path: Path, cfg, needle):
    with pytest.raises(UserError, match=needle):
        run_size(tmp_path, "instances", 1, cfg)


def test_urls_outside_the_allowlist_are_refused_before_anything_is_sent(tmp_path: Path):
    with pytest.raises(TargetNotAllowedError, match=r"param urls: host .10\.9\.8\.7. .*not in the load-test allowlist"):
        run_size(tmp_path, "instances", 1, _cfg(sut="urls", urls=("http://10.9.8.7:8000",), balancer="multiworker"))


@pytest.mark.parametrize("url, hostport", [
    ("http://svc.local:8080/", "svc.local:8080"),
    ("http://svc.local", "svc.local:80"),
    ("https://svc.local/api", "svc.local:443"),
    ("http://[::1]:8000", "[::1]:8000"),
])
def test_hostport_gives_haproxy_server_addresses(url, hostport):
    assert _hostport(url) == hostport


def test_an_unreadable_replicas_url_is_none_not_an_error(tmp_path: Path):
    from perf_tasks.sut import free_port

    assert read_replicas(f"http://127.0.0.1:{free_port()}/replicas", ("127.0.0.1",)) is None  # refused
    with _Replicas(b"not json") as url:
        assert read_replicas(url, ("127.0.0.1",)) is None


class _Replicas:
    """A monitoring endpoint on loopback that answers ``body`` and counts the reads."""

    def __init__(self, body: bytes) -> None:
        self.reads = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                outer.reads += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.srv.server_port}/api/v1/query"

    def __exit__(self, *exc: object) -> None:
        self.srv.shutdown()
        self.srv.server_close()


def test_one_url_is_used_directly_with_replicas_read_around_each_point(tmp_path: Path, servers: InstanceSet):
    replicas = _Replicas(json.dumps({"status": "success", "data": {"result": [{"value": [0, "3"]}]}}).encode())
    with replicas as replicas_url:
        r = run_size(tmp_path, "instances", 1, _cfg(sut="urls", urls=(servers.urls[0] + "/",), balancer="multiworker",
                                                    replicas_url=replicas_url, memory_limit_bytes=2**30))
    assert r.balancer == "none (one URL)" and r.extra["target"] == servers.urls[0] and r.extra["sut"] == "urls"
    assert any("instances run elsewhere" in n for n in r.notes)
    assert r.knee.status == "beyond_sweep", r.knee.note
    (point,) = r.knee.points
    assert point.resources["replicas_before"] == 3.0 and point.resources["replicas_after"] == 3.0
    assert replicas.reads == 2
    assert point.throughput_per_s > 10 and point.per_instance == {}
    assert r.extra["memory_limit"].startswith("not applied")  # nothing was started here to limit


@needs_haproxy
def test_several_urls_are_round_robined_by_a_local_haproxy(tmp_path: Path, servers: InstanceSet):
    r = run_size(tmp_path, "instances", 2, _cfg(sut="urls", urls=tuple(servers.urls), check_inter_ms=200))
    assert r.balancer == "haproxy over 2 URL(s)" and r.cores == 2.0
    (point,) = r.knee.points
    assert r.knee.status == "beyond_sweep", r.knee.note
    assert len(point.per_instance) == 2 and all(n > 0 for n in point.per_instance.values())
    assert "memory_limit" not in r.extra
    assert not (tmp_path / "instance-0").exists()  # nothing was started for the user's URLs
