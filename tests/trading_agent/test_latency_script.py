"""The latency measurement script (trading_agent.service.latency) against a small loopback server.

The script is a client: it runs in the caller's process (it only starts the service as a
subprocess when no ``--url`` is given), so its functions are tested in-process here, against a
real HTTP server on loopback that answers some paths with errors.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trading_agent.service.latency import (
    SCHEMA_VERSION,
    EndpointResult,
    LatencyStats,
    Request,
    endpoint_requests,
    format_table,
    main,
    measure_endpoint,
    summarise,
)


class _Service:
    """Answers 200 with a small JSON body, 404 for ``/market-data/SYM001``, 503 for ``/risk/...``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the script expects

            def _answer(self, body: Any) -> None:
                service.seen.append((self.command, self.path, body))
                if self.path == "/market-data/SYM001":
                    status = 404
                elif self.path.startswith("/risk/"):
                    status = 503
                else:
                    status = 200
                payload = json.dumps({"ok": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                self._answer(None)

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                n = int(self.headers.get("Content-Length", 0))
                self._answer(json.loads(self.rfile.read(n)) if n else None)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Service:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service() -> Iterator[_Service]:
    with _Service() as s:
        yield s


@pytest.fixture(autouse=True)
def _restore_event_loop_policy() -> Iterator[None]:
    # run() installs uvloop's policy process-wide; put the default back for the other tests.
    yield
    asyncio.set_event_loop_policy(None)


def test_summarise_gives_milliseconds_and_interpolated_percentiles():
    stats = summarise(np.array([0.001, 0.002, 0.003, 0.004, 0.010]))
    assert stats == LatencyStats(n=5, p50_ms=pytest.approx(3.0), p90_ms=pytest.approx(7.6),
                                 p99_ms=pytest.approx(9.76), max_ms=pytest.approx(10.0), mean_ms=pytest.approx(4.0))


def test_summarise_refuses_no_latencies():
    with pytest.raises(ValueError, match="no latencies"):
        summarise(np.array([]))


def test_endpoint_requests_rotate_symbols_and_accounts():
    makers = endpoint_requests(n_symbols=3, n_accounts=2)
    assert set(makers) == {"health", "market_data", "portfolio", "risk", "risk_monte_carlo_10k",
                           "recommendations", "orders"}
    assert [makers["market_data"](i).path for i in range(4)] == [
        "/market-data/SYM000", "/market-data/SYM001", "/market-data/SYM002", "/market-data/SYM000"]
    assert [makers["portfolio"](i).path for i in range(3)] == ["/portfolio/acct-1", "/portfolio/acct-2",
                                                               "/portfolio/acct-1"]
    assert makers["risk_monte_carlo_10k"](1).path == "/risk/acct-2?method=monte_carlo&scenarios=10000"
    buy, sell = makers["orders"](3), makers["orders"](4)
    assert buy == Request("POST", "/orders", {"account": "acct-2", "symbol": "SYM001", "side": "buy",
                                              "type": "market", "quantity": 100})
    assert sell.body["side"] == "sell" and sell.body["symbol"] == "SYM002"
    assert makers["health"](7) == Request("GET", "/health")


def test_measure_endpoint_counts_every_non_2xx_answer(service: _Service):
    makers = endpoint_requests(n_symbols=2, n_accounts=1)
    result = asyncio.run(measure_endpoint(service.url, "market_data", makers["market_data"], requests=10, warmup=2,
                                          concurrency=2, duration_s=0.2))
    assert result.name == "market_data" and result.concurrency == 2
    assert result.latency.n == 10 and result.under_load.n > 0
    assert result.throughput_rps > 0
    # symbols alternate SYM000 / SYM001 and the warm-up's answers are not counted: 5 of the 10
    # measured requests, plus about half of the loaded ones, were 404s.
    loaded_404 = result.unexpected_statuses["404"] - 5
    assert set(result.unexpected_statuses) == {"404"}
    assert 0 < loaded_404 <= result.under_load.n
    assert len(service.seen) == 2 + 10 + result.under_load.n


def test_main_against_a_running_service_writes_table_and_json(service: _Service, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "latency.json"
    rc = main(["--url", service.url + "/", "--requests", "6", "--warmup", "1", "--concurrency", "2",
               "--duration-s", "0.1", "--endpoints", "health,orders,risk_monte_carlo_10k", "--json", str(out)])
    assert rc == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("endpoint") and "non-2xx" in table
    assert [line.split()[0] for line in table.splitlines()[2:]] == ["health", "orders", "risk_monte_carlo_10k"]
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION and doc["base_url"] == service.url and doc["server"] is None
    by_name = {r["name"]: r for r in doc["results"]}
    assert by_name["health"]["latency"]["n"] == 6 and by_name["health"]["unexpected_statuses"] == {}
    # the heavy Monte Carlo endpoint runs max(requests // 10, 50) sequential requests, all 503 here
    mc = by_name["risk_monte_carlo_10k"]
    assert mc["latency"]["n"] == 50
    assert mc["unexpected_statuses"]["503"] == 50 + mc["under_load"]["n"]
    posted = [(path, body) for method, path, body in service.seen if method == "POST"]
    assert posted and {path for path, _ in posted} == {"/orders"}
    posted = [body for _, body in posted]
    assert {b["side"] for b in posted} == {"buy", "sell"} and all(b["quantity"] == 100 for b in posted)


def test_main_refuses_unknown_endpoints_naming_them_and_the_known_ones(service: _Service):
    with pytest.raises(SystemExit, match=r"unknown endpoints \['nope'\]; known: \['health'"):
        main(["--url", service.url, "--endpoints", "health,nope"])
    assert service.seen == []  # refused before any request


def test_format_table_shows_a_dash_when_every_answer_was_2xx():
    stats = LatencyStats(3, 1.0, 2.0, 3.0, 4.0, 1.5)
    ok = EndpointResult("health", stats, 1234.4, 8, stats, {})
    bad = EndpointResult("risk", stats, 10.0, 8, stats, {"503": 7})
    lines = format_table([ok, bad]).splitlines()
    assert len(lines) == 4 and set(lines[1]) == {"-"} and len(lines[1]) == len(lines[0])
    assert lines[2].split()[0] == "health" and lines[2].endswith("| -") and " 1234 " in lines[2]
    assert lines[3].endswith("{'503': 7}")


def test_pin_sets_the_cpu_affinity_of_a_process_and_none_leaves_it():
    import subprocess
    import sys

    from trading_agent.service.latency import _pin

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        before = os.sched_getaffinity(proc.pid)
        _pin(proc.pid, None)
        assert os.sched_getaffinity(proc.pid) == before
        cpu = min(before)
        _pin(proc.pid, str(cpu))
        assert os.sched_getaffinity(proc.pid) == {cpu}
    finally:
        proc.kill()
        proc.wait(5)
