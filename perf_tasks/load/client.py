"""The load engine's HTTP/1.1 client: asyncio protocols, httptools parsing, a keep-alive pool.

One :class:`HttpPool` talks to one ``http://host:port`` (IPv4, IPv6 literal or a name). At most
``limit`` TCP connections are open or opening; a request takes an idle connection (or opens one,
or waits for one), writes its prebuilt bytes and waits for the response. Pipelining is off: a
connection carries one request at a time. Response bodies (Content-Length, chunked, or up to the
server's close) are parsed by httptools and discarded; only the status and reason come back.

A connection goes back to the pool only after a complete response that allows keep-alive. It is
closed (never reused) when the response says ``Connection: close`` (or is HTTP/1.0 without
keep-alive), when the server closes it, when the response cannot be parsed, and when the request
is cancelled (the engine's timeout): a half-read connection is never handed to another request.

Errors: a refused, reset or closed connection raises :class:`HttpConnectionError` (an
``OSError``: the engine counts it as "connection"); an unparseable response raises
:class:`BadResponseError` (counted as "other"). https is not handled here (the engine uses aiohttp).

Hot path per request: a cache hit for the request bytes, a list pop, ``transport.write``, one
future resolved from ``data_received`` (httptools callbacks: status, headers, message complete),
a list append.
"""
from __future__ import annotations

import asyncio
import socket
from collections import deque
from typing import Any, Protocol
from urllib.parse import urlsplit

import httptools

USER_AGENT = "perf-tasks-load/1"
_ENCODE_CACHE = 20_000  # encoded requests kept (keyed by the identity of the engine's Request objects)
_FORBIDDEN = ("\r", "\n", "\0")


class HttpConnectionError(ConnectionError):
    """The connection was refused, reset, or closed before the response was complete."""


class BadResponseError(Exception):
    """The server's bytes are not a valid HTTP/1.x response (or came unasked)."""


class RequestLike(Protocol):
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str] | None


class _OneOff:
    __slots__ = ("method", "path", "body", "headers")

    def __init__(self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None) -> None:
        self.method, self.path, self.body, self.headers = method, path, body, headers


class _Connection(asyncio.Protocol):
    """One TCP connection: parses responses, resolves the waiting request's future."""

    __slots__ = ("pool", "transport", "parser", "waiter", "reason", "status", "framed", "headers_done",
                 "keep_alive", "closed", "head", "error")

    def __init__(self, pool: HttpPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None  # the request in flight
        self.reason = b""
        self.status = 0
        self.framed = False  # the response has Content-Length or Transfer-Encoding
        self.headers_done = False
        self.keep_alive = True
        self.closed = False
        self.head = False  # the request in flight is a HEAD (its response has no body)
        self.error: BaseException | None = None  # why the connection ended, for the next request

    # -- transport callbacks ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # nothing asked: a confused server; never reuse this connection
            self._fail(BadResponseError(f"{len(data)} bytes arrived with no request in flight"))
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadResponseError(f"unparseable response: {exc}"))

    def eof_received(self) -> None:
        self._ended(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    # -- httptools callbacks ------------------------------------------------------------------
    def on_status(self, reason: bytes) -> None:
        self.reason += reason  # may come in pieces

    def on_header(self, name: bytes, value: bytes) -> None:
        n = len(name)
        if n == 14 or n == 17:
            low = name.lower()
            if low == b"content-length" or low == b"transfer-encoding":
                self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.head and self.parser.get_status_code() >= 200:
            # the parser does not know the request was HEAD: it would wait for Content-Length
            # bytes that never come. The response ends here; the parser is replaced (see send).
            self._complete(True)

    def on_message_complete(self) -> None:
        if not self.head:
            self._complete(False)
        elif self.parser.get_status_code() < 200:  # 1xx before a HEAD's response
            self.reason, self.framed, self.headers_done = b"", False, False

    # -- internals ----------------------------------------------------------------------------
    def _complete(self, replace_parser: bool) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if status < 200:  # 1xx informational: the real response follows
            self.reason, self.framed, self.headers_done = b"", False, False
            return
        self.status = status
        self.keep_alive = parser.should_keep_alive()
        if replace_parser:
            self.parser = httptools.HttpResponseParser(self)
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(status)

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def _ended(self, exc: Exception | None) -> None:
        """The server closed the connection (EOF) or it was lost."""
        waiter = self.waiter
        if waiter is not None and not waiter.done() and self.headers_done and not self.framed and not exc:
            # a body delimited by the end of the connection (no Content-Length, not chunked)
            self.keep_alive = False
            self._complete(False)
        elif waiter is not None:
            state = "mid-response" if self.headers_done or self.reason else "before any response"
            err = HttpConnectionError(f"connection closed by the server {state}"
                                      + (f": {exc}" if exc else ""))
            if exc is not None:
                err.__cause__ = exc
            self._fail(err)
        self.close()

    def close(self) -> None:
        """Close now and leave the pool (idempotent)."""
        if not self.closed:
            self.closed = True
            self.pool._closed(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class HttpPool:
    """Keep-alive HTTP/1.1 connections to one host:port; ``await send(req)`` -> (status, reason).

    ``base_path`` is prepended to every request path (a target like ``http://h:p/api``).
    """

    def __init__(self, host: str, port: int, limit: int, *, base_path: str = "") -> None:
        if limit < 1:
            raise ValueError(f"pool limit must be >= 1, got {limit!r}")
        self.host = host.strip("[]")
        self.port = int(port)
        self.limit = int(limit)
        self.base_path = base_path.rstrip("/")
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = netloc if self.port == 80 else f"{netloc}:{self.port}"
        self._idle: list[_Connection] = []  # connected, no request in flight
        self._conns: set[_Connection] = set()  # every open connection
        self._count = 0  # open or opening: never above limit
        self._waiters: deque[asyncio.Future] = deque()
        self._encoded: dict[int, tuple[Any, bytes]] = {}
        self._closing = False
        self.connects = 0  # connections opened (for tests and diagnostics)

    @classmethod
    def for_url(cls, base_url: str, limit: int) -> HttpPool:
        """A pool for ``http://host[:port][/base]`` (https is refused: use aiohttp for it)."""
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"HttpPool speaks plain http only, got {base_url!r}")
        if not parts.hostname:
            raise ValueError(f"{base_url!r} names no host")
        return cls(parts.hostname, parts.port or 80, limit, base_path=parts.path)

    # -- requests -----------------------------------------------------------------------------
    def encode(self, method: str, path: str, body: bytes | None = None,
               headers: dict[str, str] | None = None) -> bytes:
        """The request's bytes: request line, Host, User-Agent, caller headers, Content-Length, body."""
        target = self.base_path + path
        if not target.startswith("/") or " " in target or any(c in target for c in _FORBIDDEN):
            raise ValueError(f"bad request path {target!r}")
        lines = [f"{method} {target} HTTP/1.1"]
        given = {k.lower() for k in headers} if headers else set()
        if "host" not in given:
            lines.append(f"Host: {self.host_header}")
        if "user-agent" not in given:
            lines.append(f"User-Agent: {USER_AGENT}")
        if headers:
            for k, v in headers.items():
                if k.lower() in ("content-length", "transfer-encoding"):
                    continue  # framing is ours
                if any(c in k or c in v for c in _FORBIDDEN) or ":" in k or not k:
                    raise ValueError(f"bad header {k!r}: {v!r}")
                lines.append(f"{k}: {v}")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b"")

    def encoded(self, req: RequestLike) -> bytes:
        """``encode`` for an immutable request object, cached by identity (the cache holds the
        object, so its id cannot be reused while the entry lives)."""
        hit = self._encoded.get(id(req))
        if hit is not None and hit[0] is req:
            return hit[1]
        data = self.encode(req.method, req.path, req.body, req.headers)
        if len(self._encoded) >= _ENCODE_CACHE:
            self._encoded.clear()
        self._encoded[id(req)] = (req, data)
        return data

    async def send(self, req: RequestLike) -> tuple[int, str]:
        """Send ``req`` (method, path, body, headers) on a pooled connection and read the whole
        response; (status, reason). Cancelling it closes the connection."""
        hit = self._encoded.get(id(req))
        data = hit[1] if hit is not None and hit[0] is req else self.encoded(req)
        idle = self._idle
        conn = idle.pop() if idle else await self._acquire()
        conn.reason = b""
        conn.framed = conn.headers_done = False
        conn.head = req.method == "HEAD"
        waiter = conn.waiter = asyncio.get_running_loop().create_future()
        conn.transport.write(data)  # type: ignore[union-attr]
        try:
            status = await waiter
        except BaseException:
            conn.waiter = None
            conn.close()  # cancelled or failed: never reuse a connection in an unknown state
            raise
        if conn.keep_alive and not conn.closed:
            if self._waiters:
                self._handoff(conn)
            else:
                idle.append(conn)
        else:
            conn.close()
        return status, conn.reason.decode("latin-1")

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, str]:
        """``send`` for a one-off request (not cached)."""
        req = _OneOff(method, path, body, headers)
        self._encoded[id(req)] = (req, self.encode(method, path, body, headers))
        try:
            return await self.send(req)
        finally:
            self._encoded.pop(id(req), None)

    # -- the pool -----------------------------------------------------------------------------
    async def _acquire(self) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            if self._closing:
                raise HttpConnectionError("the pool is closed")
            if self._idle:
                return self._idle.pop()
            if self._count < self.limit:
                self._count += 1
                try:
                    _transport, conn = await loop.create_connection(lambda: _Connection(self), self.host,
                                                                     self.port)
                except BaseException:
                    self._count -= 1
                    self._wake()
                    raise
                self.connects += 1
                if conn.closed:  # lost before we got it (it was never counted as open)
                    self._count -= 1
                    self._wake()
                    continue
                self._conns.add(conn)
                return conn
            fut = loop.create_future()
            self._waiters.append(fut)
            try:
                conn = await fut
            except BaseException:
                if fut.done() and not fut.cancelled():  # handed a connection (or a slot) as we were cancelled
                    got = fut.result()
                    if got is not None:
                        self._release(got)
                    else:
                        self._wake()
                else:
                    try:
                        self._waiters.remove(fut)
                    except ValueError:
                        pass
                raise
            if conn is not None and not conn.closed:
                return conn

    def _release(self, conn: _Connection) -> None:
        if conn.closed:
            return
        if self._waiters:
            self._handoff(conn)
        else:
            self._idle.append(conn)

    def _handoff(self, conn: _Connection) -> None:
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(conn)
                return
        self._idle.append(conn)

    def _wake(self) -> None:
        """A slot came free: let one waiter open a connection."""
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    def _closed(self, conn: _Connection) -> None:
        """Called once per connection when it closes."""
        if conn in self._conns:
            self._conns.discard(conn)
            self._count -= 1
            try:
                self._idle.remove(conn)
            except ValueError:
                pass
            self._wake()

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def close(self) -> None:
        """Close every connection (requests in flight fail with HttpConnectionError)."""
        self._closing = True
        for conn in list(self._conns):
            conn.close()
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_exception(HttpConnectionError("the pool is closed"))
        await asyncio.sleep(0)  # let the transports run connection_lost
