"""The load client's pool against raw loopback servers: informational 1xx responses (GET and
HEAD), bytes a server sends unasked, a reset mid-response, waiting for the one connection and
giving up, and closing the pool under waiters."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from perf_tasks.load.client import BadResponseError, HttpConnectionError, HttpPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.base_events.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def _requests(reader: asyncio.StreamReader):
    """Each request head on the connection (these tests send no bodies)."""
    while True:
        try:
            yield await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return


def test_a_100_continue_before_the_response_is_skipped_for_get_and_head():
    async def handler(reader, writer):
        async for head in _requests(reader):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)  # the informational response arrives on its own
            body = b"" if head.startswith(b"HEAD") else b"0123456789"
            writer.write(b"HTTP/1.1 200 Fine\r\nContent-Length: 10\r\n\r\n" + body)
            await writer.drain()
        writer.close()

    async def main():
        server, url = await _serve(handler)
        pool = HttpPool.for_url(url, 1)
        try:
            assert await pool.request("GET", "/a") == (200, "Fine")
            assert await pool.request("HEAD", "/b") == (200, "Fine")  # no body follows a HEAD's headers
            assert await pool.request("GET", "/c") == (200, "Fine")  # and the connection is still in step
            assert pool.connects == 1 and pool.idle_connections == 1
        finally:
            await pool.close()
            server.close()

    asyncio.run(main())


def test_bytes_a_server_sends_unasked_close_that_connection_and_the_next_request_opens_another():
    async def handler(reader, writer):
        async for _head in _requests(reader):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.write(b"HTTP/1.1 200 OK\r\n")  # nobody asked
            await writer.drain()
        writer.close()

    async def main():
        server, url = await _serve(handler)
        pool = HttpPool.for_url(url, 2)
        try:
            assert await pool.request("GET", "/") == (200, "OK")
            assert pool.idle_connections == 1
            for _ in range(100):  # the unasked bytes arrive
                if pool.open_connections == 0:
                    break
                await asyncio.sleep(0.01)
            assert pool.open_connections == 0 and pool.idle_connections == 0
            assert await pool.request("GET", "/") == (200, "OK")
            assert pool.connects == 2
        finally:
            await pool.close()
            server.close()

    asyncio.run(main())


def test_a_reset_mid_response_is_a_connection_error_that_says_so():
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.transport.abort()  # RST, not FIN

    async def main():
        server, url = await _serve(handler)
        pool = HttpPool.for_url(url, 1)
        try:
            with pytest.raises(HttpConnectionError, match="connection closed by the server mid-response"):
                await pool.request("GET", "/")
            assert pool.open_connections == 0
        finally:
            await pool.close()
            server.close()

    asyncio.run(main())


def test_a_request_that_gives_up_waiting_for_the_only_connection_leaves_the_pool_intact():
    async def main():
        gate = asyncio.Event()

        async def handler(reader, writer):
            async for head in _requests(reader):
                if b"/slow" in head:
                    await gate.wait()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
            writer.close()

        server, url = await _serve(handler)
        pool = HttpPool.for_url(url, 1)
        try:
            slow = asyncio.create_task(pool.request("GET", "/slow"))
            await asyncio.sleep(0.05)
            with pytest.raises(asyncio.TimeoutError):  # waits for the one connection, then gives up
                await asyncio.wait_for(pool.request("GET", "/fast"), 0.1)
            waiting = asyncio.create_task(pool.request("GET", "/fast"))  # this one waits it out
            await asyncio.sleep(0.05)
            gate.set()
            assert await slow == (200, "OK") and await waiting == (200, "OK")
            assert pool.connects == 1 and pool.open_connections == 1 and pool.idle_connections == 1
        finally:
            await pool.close()
            server.close()

    asyncio.run(main())


def test_closing_the_pool_fails_its_waiters_and_later_requests():
    async def main():
        hold = asyncio.Event()

        async def handler(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            await hold.wait()
            writer.close()

        server, url = await _serve(handler)
        pool = HttpPool.for_url(url, 1)
        in_flight = asyncio.create_task(pool.request("GET", "/"))
        await asyncio.sleep(0.05)
        waiter = asyncio.create_task(pool.request("GET", "/"))
        await asyncio.sleep(0.05)
        await pool.close()
        with pytest.raises(HttpConnectionError, match="the pool is closed"):
            await waiter
        with pytest.raises(HttpConnectionError):
            await in_flight
        with pytest.raises(HttpConnectionError, match="the pool is closed"):
            await pool.request("GET", "/")
        hold.set()
        server.close()

    asyncio.run(main())


@pytest.mark.parametrize("make, needle", [
    (lambda: HttpPool("127.0.0.1", 80, 0), "pool limit must be >= 1, got 0"),
    (lambda: HttpPool.for_url("https://127.0.0.1:8443", 1), "HttpPool speaks plain http only, got 'https://"),
    (lambda: HttpPool.for_url("http:///path", 1), "'http:///path' names no host"),
    (lambda: HttpPool("h", 80, 1).encode("GET", "/", headers={"": "x"}), "bad header ''"),
    (lambda: HttpPool("h", 80, 1).encode("GET", "/", headers={"X-A:b": "x"}), "bad header 'X-A:b'"),
    (lambda: HttpPool("h", 80, 1).encode("GET", "/", headers={"X-A": "x\r\nInjected: 1"}), "bad header 'X-A'"),
])
def test_bad_pools_and_headers_are_refused_naming_the_value(make, needle):
    with pytest.raises(ValueError) as err:
        make()
    assert needle in str(err.value)


def test_requests_are_encoded_once_and_host_and_framing_headers_are_ours():
    pool = HttpPool.for_url("http://[::1]:8080/api/", 1)

    class Req:
        method, path, body = "POST", "/orders", b'{"q": 1}'
        headers = {"Content-Length": "999", "Transfer-Encoding": "chunked", "X-Trace": "t1"}

    req = Req()
    data = pool.encoded(req)
    assert pool.encoded(req) is data  # cached by identity
    head, body = data.split(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /api/orders HTTP/1.1" and "Host: [::1]:8080" in lines
    assert "X-Trace: t1" in lines and "Content-Length: 8" in lines and body == b'{"q": 1}'
    assert not any(line.startswith(("Content-Length: 999", "Transfer-Encoding")) for line in lines)
    own = pool.encode("GET", "/x", headers={"Host": "svc.internal", "User-Agent": "me"}).decode()
    assert "Host: svc.internal" in own and "User-Agent: me" in own and "[::1]" not in own
    assert "Content-Length" not in own and HttpPool("h", 80, 1).host_header == "h"


def test_an_unparseable_status_line_is_a_bad_response():
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    async def main():
        server, url = await _serve(handler)
        pool = HttpPool.for_url(url, 1)
        try:
            with pytest.raises(BadResponseError, match="unparseable response"):
                await pool.request("GET", "/")
            assert pool.open_connections == 0
        finally:
            await pool.close()
            server.close()

    asyncio.run(main())
