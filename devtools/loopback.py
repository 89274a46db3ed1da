"""A loopback HTTP/1.1 server to calibrate load generators against: fast, or with known latency.

Used by the load benchmarks and tests (and handy to smoke-test the engine on a new host). It
binds to 127.0.0.1 only. Paths:

- ``/status/<code>`` answers with that status; ``/sleep/<ms>`` answers after that many ms;
  ``/drop`` closes the connection without answering; anything else answers 200 with a small JSON.
- With a :class:`LatencyModel`, every request is delayed by the model: a log-normal service
  time (deterministic per ``request_index`` when the path ends in ``/<integer>``) and periodic
  stalls during which the server answers nothing (requests arriving or finishing inside a stall
  are answered when it ends). :func:`true_latency_s` computes what a request arriving at a given
  time should see, so an open-model client's numbers can be checked against the truth.

Run as a process: ``python -m devtools.loopback --port 8099 [--cpu 1] [--median-ms 10
--sigma 0.5 --stall-every-s 5 --stall-s 0.5 --epoch-s T]``; it prints ``ready <port>``.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import math
import os
import random
import socket
import threading
import time
from dataclasses import dataclass

_BODY = b'{"ok":true}'
_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
# The default asyncio loop wakes 0..2 ms late (epoll's ms timeout, rounded up): measured mean
# 0.78 ms on a 2-core VM. Aim that much early so the injected latency is right on average.
TIMER_SLACK_S = 0.00075


def _response(code: int, body: bytes = _BODY) -> bytes:
    reason = _REASONS.get(code, "Status")
    return (f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


_OK = _response(200)


@dataclass(frozen=True)
class LatencyModel:
    """Service time ``median_ms * exp(sigma * z)`` plus stalls of ``stall_s`` every ``stall_every_s``
    (on the system-wide monotonic clock, from ``epoch_s``)."""

    median_ms: float = 10.0
    sigma: float = 0.5
    stall_every_s: float = 0.0  # 0: no stalls
    stall_s: float = 0.0
    epoch_s: float = 0.0  # time.monotonic() value where the first period starts
    seed: int = 0

    def service_s(self, request_index: int) -> float:
        z = random.Random(f"{self.seed}:{request_index}").gauss(0.0, 1.0)
        return self.median_ms * math.exp(self.sigma * z) / 1000.0

    def stall_end(self, t: float) -> float | None:
        """End of the stall containing monotonic time ``t``, or None when ``t`` is outside stalls."""
        if self.stall_every_s <= 0 or self.stall_s <= 0:
            return None
        phase = (t - self.epoch_s) % self.stall_every_s
        return t - phase + self.stall_s if phase < self.stall_s else None


def true_latency_s(model: LatencyModel, arrival_s: float, request_index: int) -> float:
    """What a request arriving at monotonic time ``arrival_s`` waits for its answer (pure)."""
    start = model.stall_end(arrival_s) or arrival_s
    done = start + model.service_s(request_index)
    done = model.stall_end(done) or done
    return done - arrival_s


class _Protocol(asyncio.Protocol):
    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.counter = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buf) < end + 4 + length:
                break
            self.buf = self.buf[end + 4 + length:]
            path = head.split(b" ", 2)[1].decode("latin-1") if b" " in head else "/"
            self.server.requests += 1
            reply = self.server.reply(path, self)
            if reply is not None:
                out.append(reply)
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def send_at(self, when: float, payload: bytes) -> None:
        loop = asyncio.get_running_loop()
        loop.call_at(max(loop.time(), when - TIMER_SLACK_S), self._write, payload)

    def _write(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class LoopbackServer:
    """``start()`` serves on 127.0.0.1 in a background thread; ``stop()`` ends it. Or ``serve()``."""

    def __init__(self, port: int = 0, model: LatencyModel | None = None, *, use_uvloop: bool = False,
                 host: str = "127.0.0.1") -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the loopback server binds loopback addresses only, got {host!r}")
        self.host = host
        self.port = port
        self.model = model
        self.use_uvloop = use_uvloop
        self.requests = 0
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def reply(self, path: str, proto: _Protocol) -> bytes | None:
        if path.startswith("/status/"):
            return _response(int(path[8:]))
        if path.startswith("/sleep/"):
            proto.send_at(time.monotonic() + float(path[7:]) / 1000.0, _OK)
            return None
        if path == "/drop":
            if proto.transport is not None:
                proto.transport.close()
            return None
        if self.model is None:
            return _OK
        tail = path.rsplit("/", 1)[-1]
        if tail.isdigit():
            index = int(tail)
        else:
            index, self._seq = self._seq, self._seq + 1
        now = time.monotonic()
        # the loop's clock is time.monotonic() on the default loop (not on uvloop: see use_uvloop)
        proto.send_at(now + true_latency_s(self.model, now, index), _OK)
        return None

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        server = await loop.create_server(lambda: _Protocol(self), self.host, self.port, backlog=4096,
                                          reuse_address=True)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await server.serve_forever()

    def _run(self) -> None:
        if self.use_uvloop:
            import uvloop
            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.serve())
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(target=self._run, name="loopback-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loopback server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            loop = self._loop
            loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        if self._thread is not None:
            self._thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devtools.loopback", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    ap.add_argument("--median-ms", type=float, default=None, help="inject log-normal service times")
    ap.add_argument("--sigma", type=float, default=0.5)
    ap.add_argument("--stall-every-s", type=float, default=0.0)
    ap.add_argument("--stall-s", type=float, default=0.0)
    ap.add_argument("--epoch-s", type=float, default=None, help="time.monotonic() of the first stall period")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    model = None
    if args.median_ms is not None:
        model = LatencyModel(args.median_ms, args.sigma, args.stall_every_s, args.stall_s,
                             time.monotonic() if args.epoch_s is None else args.epoch_s, args.seed)
    # the fast server runs on uvloop; a latency model needs the default loop (monotonic timers)
    server = LoopbackServer(args.port, model, use_uvloop=model is None).start()
    print(f"ready {server.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
