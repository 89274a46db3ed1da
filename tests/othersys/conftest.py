"""A system that is not the bundled demo: the ledger of examples/ledger (stdlib HTTP server over
Redis), driven by the platform from its config folder only (issue 20)."""
from __future__ import annotations

import http.client
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
LEDGER_ROOT = REPO / "examples" / "ledger"
CONFIG = LEDGER_ROOT / "config"
REDIS = ("127.0.0.1", 6379)

if str(LEDGER_ROOT) not in sys.path:  # the ledger's own package (its checks and scratch store)
    sys.path.insert(0, str(LEDGER_ROOT))


def redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis() -> tuple[str, int]:
    if not redis_answers():
        pytest.skip(f"the ledger's store, Redis at {REDIS[0]}:{REDIS[1]}, does not answer")
    return REDIS


@pytest.fixture
def scratch(redis: tuple[str, int]) -> Iterator[str]:
    """A fresh store URL (its own prefix), every key deleted afterwards."""
    from ledger.checks import scratch_store

    with scratch_store(f"redis://{redis[0]}:{redis[1]}/0", label="othersys") as url:
        yield url


@pytest.fixture(scope="session")
def ledger_system() -> Any:
    from perf_tasks.system import load_system

    return load_system(CONFIG)


class Http:
    """One keep-alive connection; ``call`` returns (status, JSON body, lower-case headers, seconds)."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port, self.timeout_s = host, int(port), timeout_s
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any, dict, float]:
        import time

        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        t0 = time.monotonic()
        try:
            self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            r = self.conn.getresponse()
            payload = r.read()
        except BaseException:
            self.close()
            raise
        dt = time.monotonic() - t0
        headers = {k.lower(): v for k, v in r.getheaders()}
        if headers.get("connection") == "close":
            self.close()
        return r.status, (json.loads(payload) if payload else None), headers, dt

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
