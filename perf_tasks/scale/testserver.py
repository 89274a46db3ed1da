"""A loopback HTTP/1.1 server of known capacity: ``concurrency`` slots, each request holds one for
``service_ms``; the rest wait in a FIFO queue. Its throughput limit is ``concurrency / service_ms``
(requests per second, per instance), so the ideal scaling curve of N instances behind a balancer is
known exactly: the knee finder and the capacity model are tested against it.

Paths: ``/ready`` and ``/health`` answer at once (balancer health checks, readiness polls);
``/counters`` answers ``{"requests": n, "served": n, "pid": p}`` at once (this instance's own
counters, for the request distribution); anything else is a unit of work. Binds loopback only.

Run as a process: ``python -m perf_tasks.scale.testserver --port 8099 --concurrency 4 --service-ms 20``;
it prints ``ready <port>``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections import deque

_HEAD = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n"
# The default loop fires timers up to ~1 ms late (epoll's ms resolution); aim early by the mean.
TIMER_SLACK_S = 0.00075


def _reply(body: bytes) -> bytes:
    return _HEAD.format(len(body)).encode() + body


class CapacityServer:
    def __init__(self, concurrency: int, service_ms: float) -> None:
        if concurrency < 1 or not service_ms > 0:
            raise ValueError(f"concurrency must be >= 1 and service_ms > 0, got {concurrency}, {service_ms}")
        self.concurrency = concurrency
        self.service_s = service_ms / 1000.0
        self.busy = 0
        self.queue: deque = deque()
        self.requests = 0
        self.served = 0

    def submit(self, proto: _Protocol, seq: int) -> None:
        self.requests += 1
        if self.busy < self.concurrency:
            self._start(proto, seq)
        else:
            self.queue.append((proto, seq))

    def _start(self, proto: _Protocol, seq: int) -> None:
        self.busy += 1
        loop = asyncio.get_running_loop()
        loop.call_at(loop.time() + self.service_s - TIMER_SLACK_S, self._done, proto, seq)

    def _done(self, proto: _Protocol, seq: int) -> None:
        self.busy -= 1
        self.served += 1
        proto.complete(seq, _reply(b'{"ok":true}'))
        while self.queue and self.busy < self.concurrency:
            p, s = self.queue.popleft()
            self._start(p, s)


class _Protocol(asyncio.Protocol):
    """Pipelined requests on one connection are answered in order."""

    def __init__(self, server: CapacityServer) -> None:
        self.server = server
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.next_seq = 0
        self.next_out = 0
        self.ready: dict[int, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            parts = head.split(b" ", 2)
            path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
            seq, self.next_seq = self.next_seq, self.next_seq + 1
            if path in ("/ready", "/health"):
                self.complete(seq, _reply(b'{"status":"ready"}'))
            elif path == "/counters":
                s = self.server
                self.complete(seq, _reply(json.dumps({"requests": s.requests, "served": s.served,
                                                      "pid": os.getpid()}).encode()))
            else:
                self.server.submit(self, seq)

    def complete(self, seq: int, payload: bytes) -> None:
        self.ready[seq] = payload
        out = []
        while self.next_out in self.ready:
            out.append(self.ready.pop(self.next_out))
            self.next_out += 1
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, concurrency: int, service_ms: float) -> None:
    server = CapacityServer(concurrency, service_ms)
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: _Protocol(server), "127.0.0.1", port, backlog=4096, reuse_address=True)
    print(f"ready {srv.sockets[0].getsockname()[1]}", flush=True)
    async with srv:
        await srv.serve_forever()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perf_tasks.scale.testserver", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--service-ms", type=float, default=20.0)
    args = ap.parse_args(argv)
    try:
        asyncio.run(serve(args.port, args.concurrency, args.service_ms))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
