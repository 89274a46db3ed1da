"""The fault proxy against a real HTTP server on loopback: each fault does what it says, can be
switched while connections are open, and nothing is left listening after stop."""
from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from perf_tasks.errors import UserError
from perf_tasks.stress.faultproxy import FaultProxy, Faults


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # /<n>: n bytes of body
        body = b"x" * int(self.path.strip("/") or 10)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:  # the proxy reset us: expected in these tests
            pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield int(srv.server_address[1])
    srv.shutdown()
    srv.server_close()


def _get(url: str, timeout: float = 5.0) -> tuple[float, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        n = len(resp.read())
    return time.perf_counter() - t0, n


def _median_s(url: str, n: int = 5) -> float:
    return sorted(_get(url)[0] for _ in range(n))[n // 2]


def test_forwards_unchanged_without_faults(upstream: int) -> None:
    with FaultProxy("127.0.0.1", upstream) as proxy:
        _, n = _get(proxy.url + "/70000")
        assert n == 70000
        s = proxy.stats()
    assert s.bytes_to_client > 70000 and s.bytes_to_upstream > 0 and s.resets == 0


def test_latency_adds_about_twice_the_one_way_delay_per_round_trip(upstream: int) -> None:
    with FaultProxy("127.0.0.1", upstream) as proxy:
        base = _median_s(proxy.url + "/10")
        proxy.set_faults(latency_ms=40)
        slow = _median_s(proxy.url + "/10")
    # stated tolerance: +80 ms (2 x 40) within -5 / +40 ms on a loaded 2-core box
    assert 0.075 <= slow - base <= 0.120, (base, slow)


def test_jitter_spreads_the_delay_but_keeps_its_centre(upstream: int) -> None:
    with FaultProxy("127.0.0.1", upstream, faults=Faults(latency_ms=30, jitter_ms=25), seed=3) as proxy:
        times = sorted(_get(proxy.url + "/10")[0] for _ in range(15))
    assert times[-1] - times[0] > 0.02  # spread
    assert 0.03 <= times[len(times) // 2] <= 0.12  # centre about 2 x 30 ms


def test_bandwidth_limit_paces_a_large_response(upstream: int) -> None:
    with FaultProxy("127.0.0.1", upstream, faults=Faults(bandwidth_bytes_per_s=400_000)) as proxy:
        elapsed, n = _get(proxy.url + "/400000")
    assert n == 400000
    # 400 kB at 400 kB/s: 1 s less the 16 KiB burst; tolerance -10 % / +30 %
    assert 0.9 <= elapsed <= 1.3, elapsed


def test_resets_answer_a_request_with_a_tcp_reset(upstream: int) -> None:
    with FaultProxy("127.0.0.1", upstream, faults=Faults(reset_pct=100)) as proxy:
        with pytest.raises((ConnectionResetError, urllib.error.URLError)):
            _get(proxy.url + "/10")
        proxy.set_faults(reset_pct=50)
        outcomes = []
        for _ in range(40):
            try:
                _get(proxy.url + "/10")
                outcomes.append(True)
            except (ConnectionError, urllib.error.URLError):
                outcomes.append(False)
        stats = proxy.stats()
    assert 8 <= outcomes.count(False) <= 32  # about half of 40 (binomial, p=0.5: outside is < 1e-4)
    assert stats.resets == 1 + outcomes.count(False)


def test_blackhole_answers_nothing_and_clearing_it_restores_service(upstream: int) -> None:
    with FaultProxy("127.0.0.1", upstream) as proxy:
        proxy.set_faults(blackhole=True)
        t0 = time.monotonic()
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            _get(proxy.url + "/10", timeout=0.5)
        assert time.monotonic() - t0 >= 0.45
        proxy.clear()
        assert _get(proxy.url + "/10")[1] == 10
        assert proxy.stats().blackholed_bytes > 0


def test_refuse_resets_new_connections_and_reset_all_drops_open_ones(upstream: int) -> None:
    with FaultProxy("127.0.0.1", upstream) as proxy:
        held = socket.create_connection(("127.0.0.1", proxy.port))
        time.sleep(0.1)
        assert proxy.stats().connections_open == 1
        proxy.set_faults(refuse=True)
        with pytest.raises((ConnectionResetError, urllib.error.URLError)):
            _get(proxy.url + "/10")
        assert proxy.reset_all() == 1
        held.settimeout(2)
        with pytest.raises(ConnectionResetError):
            held.sendall(b"GET /10 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert held.recv(100) == b""  # some kernels report the reset on the next call
            held.recv(100)
        held.close()
        assert proxy.stats().refused == 1


def test_unreachable_upstream_resets_the_client_and_is_counted() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # closed when the with ends: nothing listens there
    with FaultProxy("127.0.0.1", dead_port) as proxy:
        with pytest.raises((ConnectionError, urllib.error.URLError)):
            _get(proxy.url + "/10")
        assert proxy.stats().upstream_failures == 1


def test_max_connections_caps_open_connections(upstream: int) -> None:
    with FaultProxy("127.0.0.1", upstream, max_connections=2) as proxy:
        socks = [socket.create_connection(("127.0.0.1", proxy.port)) for _ in range(3)]
        time.sleep(0.2)
        stats = proxy.stats()
        for s in socks:
            s.close()
    assert stats.connections_open == 2 and stats.refused == 1


def test_stop_leaves_no_listening_socket_no_thread_and_is_idempotent(upstream: int) -> None:
    before = {t.ident for t in threading.enumerate()}
    proxy = FaultProxy("127.0.0.1", upstream).start()
    held = socket.create_connection(("127.0.0.1", proxy.port))
    port = proxy.port
    proxy.stop()
    proxy.stop()
    held.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert {t.ident for t in threading.enumerate()} <= before


@pytest.mark.parametrize("bad", [dict(latency_ms=-1), dict(reset_pct=101), dict(jitter_ms=float("nan"))])
def test_refuses_bad_fault_values_naming_them(bad: dict) -> None:
    with pytest.raises(UserError, match=next(iter(bad))):
        Faults(**bad)


def test_refuses_a_non_loopback_listen_address() -> None:
    with pytest.raises(UserError, match="0.0.0.0"):
        FaultProxy("127.0.0.1", 1, listen_host="0.0.0.0")
