"""The engine's HTTP client (perf_tasks.load.client) against real loopback servers."""
from __future__ import annotations

import asyncio
import socket

import pytest

from perf_tasks.load.client import BadResponseError, HttpConnectionError, HttpPool
from perf_tasks.load.engine import Engine
from perf_tasks.load.journey import JourneySpec, StepSpec
from devtools.loopback import LoopbackServer, free_port
from perf_tasks.load.plan import LoadPlan


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Server:
    """A tiny HTTP/1.1 server whose paths misbehave on purpose; counts connections and requests."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body) as received
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1") -> Server:
        self.server = await asyncio.start_server(self._handle, host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append((head, body))
                method, path = head.split(b" ", 2)[:2]
                if not await self._answer(method.decode(), path.decode(), writer):
                    return
        finally:
            writer.close()

    async def _answer(self, method: str, path: str, w: asyncio.StreamWriter) -> bool:
        """Write the response; False closes the connection."""
        if path.startswith("/status/"):
            code = int(path[8:])
            w.write(f"HTTP/1.1 {code} Custom Reason\r\nContent-Length: 4\r\n\r\nnope".encode())
        elif path == "/chunked":
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await w.drain()
            await asyncio.sleep(0.01)  # the body comes in two packets
            w.write(b"6\r\n world\r\n0\r\n\r\n")
        elif path == "/close":
            w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
            await w.drain()
            return False
        elif path == "/eof-body":  # no framing: the body ends with the connection
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close")
            await w.drain()
            return False
        elif path == "/cut":  # promises 100 bytes, sends 10, closes
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            await w.drain()
            return False
        elif path == "/silent-close":
            return False
        elif path == "/garbage":
            w.write(b"this is not HTTP at all\r\n\r\n")
        elif path == "/hang":
            await asyncio.sleep(3600)
        elif path == "/big":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1_000_000)
        elif method == "HEAD":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 123\r\n\r\n")
        else:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
        await w.drain()
        return True


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """Run a coroutine on the default loop and on uvloop (the engine's loop)."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        factory = uvloop.new_event_loop
    else:
        factory = None

    def _run(coro):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    return _run


async def _with_server(fn, host: str = "127.0.0.1"):
    srv = await Server().start(host)
    pool = HttpPool.for_url(srv.url, 4)
    try:
        return await asyncio.wait_for(fn(srv, pool), 20)  # a stuck pool fails the test, never hangs it
    finally:
        await pool.close()
        await srv.stop()


def test_keep_alive_reuses_one_connection_and_builds_the_request(run):
    async def go(srv, pool):
        for _ in range(20):
            assert await pool.request("GET", "/x?a=1") == (200, "OK")
        assert srv.connections == 1 and pool.connects == 1 and pool.idle_connections == 1
        assert await pool.request("POST", "/orders", b'{"qty":5}', {"Content-Type": "application/json",
                                                                    "X-Trace": "t1"}) == (200, "OK")
        head, body = srv.requests[-1]
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /orders HTTP/1.1"
        assert f"Host: 127.0.0.1:{srv.port}" in lines and "User-Agent: perf-tasks-load/1" in lines
        assert "Content-Length: 9" in lines and "X-Trace: t1" in lines and body == b'{"qty":5}'
        assert srv.requests[0][0].startswith(b"GET /x?a=1 HTTP/1.1\r\n")
        assert srv.connections == 1
    run(_with_server(go))


def test_concurrent_requests_stay_within_the_pool_limit(run):
    async def go(srv, pool):
        results = await asyncio.gather(*[pool.request("GET", f"/n/{i}") for i in range(50)])
        assert results == [(200, "OK")] * 50
        assert srv.connections == 4 and pool.open_connections == 4 and len(srv.requests) == 50
    run(_with_server(go))


def test_chunked_body_and_status_codes_with_their_reason(run):
    async def go(srv, pool):
        assert await pool.request("GET", "/chunked") == (200, "OK")
        assert await pool.request("GET", "/status/404") == (404, "Custom Reason")
        assert await pool.request("GET", "/status/503") == (503, "Custom Reason")
        assert await pool.request("GET", "/x") == (200, "OK")
        assert await pool.request("HEAD", "/x") == (200, "OK")  # Content-Length, but no body
        assert await pool.request("GET", "/big") == (200, "OK")
        assert await pool.request("GET", "/x") == (200, "OK")
        assert srv.connections == 1  # all on one keep-alive connection
    run(_with_server(go))


def test_connection_close_and_server_closing_are_not_reused(run):
    async def go(srv, pool):
        assert await pool.request("GET", "/close") == (200, "OK")
        assert pool.open_connections == 0
        assert await pool.request("GET", "/eof-body") == (200, "OK")  # body delimited by the close
        assert await pool.request("GET", "/x") == (200, "OK")
        assert srv.connections == 3
        with pytest.raises(HttpConnectionError, match="mid-response"):
            await pool.request("GET", "/cut")
        with pytest.raises(HttpConnectionError, match="before any response"):
            await pool.request("GET", "/silent-close")
        assert await pool.request("GET", "/x") == (200, "OK")
        assert pool.open_connections == 1
    run(_with_server(go))


def test_garbage_is_a_bad_response_and_refused_is_a_connection_error(run):
    async def go(srv, pool):
        with pytest.raises(BadResponseError):
            await pool.request("GET", "/garbage")
        assert pool.open_connections == 0
        assert await pool.request("GET", "/x") == (200, "OK")

    run(_with_server(go))

    async def refused():
        pool = HttpPool("127.0.0.1", free_port(), 2)
        with pytest.raises(ConnectionRefusedError):
            await pool.request("GET", "/")
        assert pool.open_connections == 0 and pool._count == 0
        await pool.close()
    run(refused())
    assert issubclass(HttpConnectionError, OSError) and not issubclass(BadResponseError, OSError)


def test_a_cancelled_request_closes_its_connection_and_the_pool_carries_on(run):
    async def go(srv, pool):
        pool.limit = 1  # one connection: a poisoned one would break the next request
        task = asyncio.ensure_future(pool.request("GET", "/hang"))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(pool.request("GET", "/x"))  # queued for the only slot
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.wait_for(waiting, 5) == (200, "OK")
        assert await asyncio.wait_for(pool.request("GET", "/x"), 5) == (200, "OK")
        assert srv.connections == 2 and pool.open_connections == 1
        # a request cancelled while it waits for a slot leaves no trace either
        hang = asyncio.ensure_future(pool.request("GET", "/hang"))
        await asyncio.sleep(0.02)
        queued = asyncio.ensure_future(pool.request("GET", "/x"))
        await asyncio.sleep(0.01)
        queued.cancel()
        hang.cancel()
        await asyncio.gather(hang, queued, return_exceptions=True)
        assert not pool._waiters and pool._count == pool.open_connections <= 1
        assert await pool.request("GET", "/x") == (200, "OK")
    run(_with_server(go))


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this host")
def test_ipv6_loopback_target(run):
    async def go(srv, pool):
        assert srv.url.startswith("http://[::1]:")
        assert await pool.request("GET", "/x") == (200, "OK")
        assert f"Host: [::1]:{srv.port}".encode() in srv.requests[0][0]
    run(_with_server(go, host="::1"))


def test_bad_request_lines_and_headers_are_refused_before_sending():
    pool = HttpPool("127.0.0.1", 80, 1, base_path="/api/")
    assert pool.encode("GET", "/x").startswith(b"GET /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert b"Content-Length: 0\r\n" in pool.encode("POST", "/x")
    with pytest.raises(ValueError, match="bad request path"):
        pool.encode("GET", "/a b")
    with pytest.raises(ValueError, match="bad header"):
        pool.encode("GET", "/x", headers={"X-A": "1\r\nInjected: yes"})
    with pytest.raises(ValueError, match="plain http"):
        HttpPool.for_url("https://127.0.0.1:8443", 1)


def _plan(url: str, *paths: str, **kw) -> LoadPlan:
    base = dict(scenario="t", target_url=url, journey_name="j", duration_s=1.0, users=20,
                journey=JourneySpec(steps=[StepSpec(name=f"s{i}", path=p) for i, p in enumerate(paths)]),
                rate_per_s=40.0, arrival="constant", sample_interval_s=0.2, timeout_s=0.3)
    return LoadPlan(**{**base, **kw})


def test_engine_uses_the_client_and_classifies_its_errors(run):
    async def go():
        srv = await Server().start()
        try:
            r = await Engine(_plan(srv.url, "/x", "/garbage", "/cut", "/hang", "/status/404")).run()
        finally:
            await srv.stop()
        assert r.requests == 40
        assert r.errors_by_class == {"other": 8, "connection": 8, "timeout": 8, "4xx": 8}
        assert "BadResponseError" in r.error_samples["other"] and "/garbage" in r.error_samples["other"]
        assert "HttpConnectionError" in r.error_samples["connection"]
        assert r.error_samples["4xx"] == "HTTP 404 Custom Reason: GET /status/404"
        # timeouts closed their connections; successes kept one connection per user at most
        assert srv.connections <= 20 + 8 + 8 + 8
    run(go())


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this host")
def test_engine_against_the_ipv6_loopback_server():
    srv = LoopbackServer(host="::1").start()
    try:
        from perf_tasks.load.runner import run_plan
        url = f"http://[::1]:{srv.port}"
        r = run_plan(_plan(url, "/a", "/status/503", rate_per_s=20.0, duration_s=0.5))
        assert r.target == url and r.requests == 10
        assert r.errors_by_class == {"5xx": 5} and srv.requests == 10
    finally:
        srv.stop()
