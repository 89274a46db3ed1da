"""A loopback TCP fault proxy: added latency, jitter, a bandwidth limit, connection resets,
blackholing and refusing, switchable while it runs.

The kernel here has ``tbf`` but no ``netem``, so delay, jitter and resets between a client (the load
engine, the service's database driver) and a server are made in user space: the client connects to
the proxy, the proxy to the real upstream, and every chunk read on one side is written to the other
after the faults in force at that moment.

    with FaultProxy("127.0.0.1", service_port) as proxy:     # listens on 127.0.0.1:<free port>
        proxy.set_faults(Faults(latency_ms=50, jitter_ms=10))
        run_load(proxy.url)                                   # http://127.0.0.1:<proxy port>
        proxy.set_faults(Faults(blackhole=True))              # the upstream "disappears"
        ...
        print(proxy.stats())

Semantics (each fault applies to chunks forwarded *after* it is set):

* ``latency_ms``: every chunk is delayed by this much in *each* direction, so an HTTP round trip
  gains about twice it. ``jitter_ms``: each chunk's delay is drawn uniformly from
  ``latency +- jitter`` (never below 0); chunks of one direction keep their order (a chunk never
  overtakes the one before it, as on a TCP stream).
* ``bandwidth_bytes_per_s``: one token bucket per direction shared by every connection (a link's
  limit, not a per-connection one); burst 16 KiB. 0: unlimited.
* ``reset_pct``: that share of client->upstream chunks (with keep-alive HTTP: of requests) is
  answered by a TCP reset of both sides (RST, SO_LINGER 0) instead of being forwarded.
* ``blackhole``: chunks are read and dropped in both directions, connections stay open, nothing
  answers (clients time out); new connections are accepted and blackholed too.
* ``refuse``: new connections are reset at once (the dependency is down); open ones are left alone
  (call :meth:`FaultProxy.reset_all` to drop them too).

Bounded: at most ``max_connections`` open at once (more are reset and counted as ``refused``), an
upstream connect timeout, and :meth:`FaultProxy.stop` (also on ``with`` exit) closes the listening
socket, resets every connection and joins the proxy's thread, so nothing is left behind. The proxy
runs its own event loop in a daemon thread: usable from synchronous code and from code that runs
its own event loop (the load engine), in the same process. Listens on loopback only.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from perf_tasks.errors import UserError

log = logging.getLogger(__name__)

CHUNK_BYTES = 16 * 1024
BURST_BYTES = 16 * 1024
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class Faults:
    """The faults in force; immutable, swapped whole by :meth:`FaultProxy.set_faults`."""

    latency_ms: float = 0.0  # per chunk, each direction
    jitter_ms: float = 0.0  # uniform +- around latency_ms
    bandwidth_bytes_per_s: float = 0.0  # per direction, shared by all connections; 0: unlimited
    reset_pct: float = 0.0  # of client->upstream chunks answered by a TCP reset
    blackhole: bool = False
    refuse: bool = False

    def __post_init__(self) -> None:
        for name in ("latency_ms", "jitter_ms", "bandwidth_bytes_per_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise UserError(f"fault proxy: {name} must be a finite number >= 0, got {v!r}")
        if not (isinstance(self.reset_pct, (int, float)) and 0 <= self.reset_pct <= 100):
            raise UserError(f"fault proxy: reset_pct must be within [0, 100], got {self.reset_pct!r}")

    @property
    def clean(self) -> bool:
        return self == Faults()


@dataclass(frozen=True)
class ProxyStats:
    connections_total: int  # accepted (including refused and those whose upstream failed)
    connections_open: int
    refused: int  # reset at accept: refuse mode or over max_connections
    upstream_failures: int  # the upstream could not be reached
    resets: int  # connections reset by reset_pct
    chunks_to_upstream: int  # client->upstream chunks read (with keep-alive HTTP: about one per request)
    bytes_to_upstream: int
    bytes_to_client: int
    blackholed_bytes: int  # read and dropped while blackholed
    delayed_chunks: int  # chunks forwarded with a delay > 0


class _Bucket:
    """A token bucket shared by the connections of one direction (runs on the proxy's loop)."""

    def __init__(self) -> None:
        self._free_at = 0.0  # monotonic time at which the link is free again

    async def take(self, n: int, rate: float) -> None:
        if rate <= 0:
            return
        now = time.monotonic()
        start = max(now - BURST_BYTES / rate, self._free_at)
        self._free_at = start + n / rate
        wait = self._free_at - now
        if wait > 0:
            await asyncio.sleep(wait)


def _hard_reset(writer: asyncio.StreamWriter | None) -> None:
    """Close with RST (SO_LINGER 0), not FIN: the peer sees ECONNRESET."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """A TCP proxy from ``listen_host:listen_port`` (0: a free port) to ``upstream_host:upstream_port``."""

    def __init__(self, upstream_host: str, upstream_port: int, *, listen_host: str = "127.0.0.1",
                 listen_port: int = 0, faults: Faults | None = None, max_connections: int = 1024,
                 connect_timeout_s: float = 5.0, seed: int = 0) -> None:
        if listen_host not in LOOPBACK:
            raise UserError(f"fault proxy: listen_host must be loopback ({', '.join(LOOPBACK)}), got {listen_host!r}")
        if not (isinstance(max_connections, int) and max_connections >= 1):
            raise UserError(f"fault proxy: max_connections must be an integer >= 1, got {max_connections!r}")
        self.upstream = (upstream_host, int(upstream_port))
        self.listen_host = listen_host
        self._listen_port = listen_port
        self.max_connections = max_connections
        self.connect_timeout_s = connect_timeout_s
        self._faults = faults or Faults()
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._up_bucket, self._down_bucket = _Bucket(), _Bucket()
        self._counts = dict(connections_total=0, refused=0, upstream_failures=0, resets=0, chunks_to_upstream=0,
                            bytes_to_upstream=0,
                            bytes_to_client=0, blackholed_bytes=0, delayed_chunks=0)
        self.port = 0

    # -- public API --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port`` of the proxy (for HTTP upstreams)."""
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"http://{host}:{self.port}"

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the faults (``faults``), or change some fields of the current ones (``**changes``).
        Takes effect for the next chunk read; returns the faults now in force."""
        new = faults if faults is not None else replace(self._faults, **changes)
        if not isinstance(new, Faults):
            raise UserError(f"fault proxy: expected Faults, got {type(new).__name__}")
        self._faults = new
        log.info("fault proxy :%d -> %s:%d: %s", self.port, *self.upstream, new)
        return new

    def clear(self) -> None:
        """No faults: forward as fast as possible."""
        self.set_faults(Faults())

    def reset_all(self) -> int:
        """Reset every open connection now (both sides); returns how many."""
        return self._call(self._reset_all())

    def stats(self) -> ProxyStats:
        return ProxyStats(connections_open=len(self._conns), **self._counts)

    def start(self) -> FaultProxy:
        if self._thread is not None:
            raise RuntimeError("fault proxy already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"faultproxy->{self.upstream[1]}", daemon=True)
        self._thread.start()
        try:
            self.port = self._call(self._start_server())
        except BaseException:
            self._shutdown_loop()
            raise
        log.info("fault proxy listening on %s:%d -> %s:%d", self.listen_host, self.port, *self.upstream)
        return self

    def stop(self) -> None:
        """Close the listening socket, reset every connection, stop the thread. Idempotent."""
        if self._thread is None:
            return
        try:
            self._call(self._stop_server(), timeout_s=10.0)
        finally:
            self._shutdown_loop()
        log.info("fault proxy :%d stopped (%s)", self.port, self.stats())

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- loop side ---------------------------------------------------------------------------

    def _call(self, coro: Any, timeout_s: float = 15.0) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("fault proxy is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10.0)
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = self._thread = None

    async def _start_server(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.listen_host, self._listen_port,
                                                  reuse_address=True, limit=CHUNK_BYTES)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop_server(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset_all()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)

    async def _reset_all(self) -> int:
        conns = list(self._conns)
        for client, upstream in conns:
            _hard_reset(client)
            _hard_reset(upstream)
        self._conns.clear()
        return len(conns)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        self._counts["connections_total"] += 1
        faults = self._faults
        if faults.refuse or len(self._conns) >= self.max_connections:
            self._counts["refused"] += 1
            _hard_reset(writer)
            return
        up_writer: asyncio.StreamWriter | None = None
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
        self._conns.add(pair)
        try:
            if not faults.blackhole:
                try:
                    up_reader, up_writer = await asyncio.wait_for(
                        asyncio.open_connection(*self.upstream, limit=CHUNK_BYTES), self.connect_timeout_s)
                except (OSError, asyncio.TimeoutError) as exc:
                    self._counts["upstream_failures"] += 1
                    log.debug("fault proxy: upstream %s:%d unreachable: %s", *self.upstream, exc)
                    _hard_reset(writer)
                    return
                self._conns.discard(pair)
                pair = (writer, up_writer)
                self._conns.add(pair)
                await asyncio.gather(self._pipe(reader, up_writer, pair, upstream=True),
                                     self._pipe(up_reader, writer, pair, upstream=False))
            else:  # accepted while blackholed: swallow until the client gives up
                await self._pipe(reader, None, pair, upstream=True)
        except asyncio.CancelledError:
            pass
        finally:
            self._conns.discard(pair)
            for w in (writer, up_writer):
                if w is not None and not w.is_closing():
                    w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None,
                    pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None], *, upstream: bool) -> None:
        """Forward one direction: read, apply the faults, deliver in order (a delivery queue so a
        delay does not stop reading, as a link's delay does not stop the sender)."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        deliver = asyncio.ensure_future(self._deliver(queue, writer, upstream=upstream)) if writer else None
        last_due = 0.0
        try:
            while True:
                try:
                    data = await reader.read(CHUNK_BYTES)
                except (ConnectionError, OSError):
                    break
                if not data:
                    break
                f = self._faults
                if f.blackhole or writer is None:
                    self._counts["blackholed_bytes"] += len(data)
                    continue
                if upstream:
                    self._counts["chunks_to_upstream"] += 1
                if upstream and f.reset_pct > 0 and self._rng.random() * 100 < f.reset_pct:
                    self._counts["resets"] += 1
                    for w in pair:
                        _hard_reset(w)
                    break
                delay = max(0.0, f.latency_ms + (self._rng.uniform(-f.jitter_ms, f.jitter_ms) if f.jitter_ms else 0.0))
                due = max(time.monotonic() + delay / 1000.0, last_due)
                last_due = due
                await queue.put((due, data))
        except asyncio.CancelledError:
            if deliver is not None:
                deliver.cancel()
            raise
        finally:
            if deliver is not None and not deliver.cancelled():
                await queue.put(None)
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await deliver

    async def _deliver(self, queue: asyncio.Queue[tuple[float, bytes] | None], writer: asyncio.StreamWriter,
                       *, upstream: bool) -> None:
        bucket = self._up_bucket if upstream else self._down_bucket
        key = "bytes_to_upstream" if upstream else "bytes_to_client"
        while True:
            item = await queue.get()
            if item is None:
                break
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                self._counts["delayed_chunks"] += 1
                await asyncio.sleep(wait)
            if self._faults.blackhole:
                self._counts["blackholed_bytes"] += len(data)
                continue
            await bucket.take(len(data), self._faults.bandwidth_bytes_per_s)
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                break
            self._counts[key] += len(data)
        # half-close towards this side when the other side closed (HTTP clients rarely rely on it)
        if not writer.is_closing() and writer.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                writer.write_eof()
