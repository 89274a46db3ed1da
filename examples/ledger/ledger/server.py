"""The ledger service: ``python -m ledger.server --listen HOST:PORT --store URL [--processes N]``.

Standard library only (``http.server.ThreadingHTTPServer``, HTTP/1.1 keep-alive); the store is
Redis (:mod:`ledger.store`).

Paths:

* ``GET /up`` readiness: 200 when the store answers, else 503 (with ``Retry-After``);
* ``GET /healthz`` liveness: 200 while the process serves, whatever the store does;
* ``POST /entries`` ``{"account": str, "amount": int}`` -> 201 ``{"id", "account", "amount",
  "seq", "balance"}`` once the store holds the entry (``seq``: its position in the account);
  422 on a bad body; 503 with ``Retry-After`` when the store cannot be reached, within the store
  client's deadline (``--connect-timeout`` + ``--store-timeout``), never a hang;
* ``GET /balance/<account>`` -> 200 ``{"account", "balance", "entries"}`` (0 and 0 for an account
  without entries);
* ``GET /entries/<id>`` -> 200 the entry, 404 when there is none.

``--processes N`` (> 1): a supervisor binds the socket once and forks N workers that share it; a
worker that dies is replaced (after a short back-off when it keeps dying at once). SIGTERM or
SIGINT stops everything cleanly: workers finish the requests in flight (bounded) and exit, the
supervisor waits for them (then SIGKILLs what is left after ``--stop-grace``). A worker whose
supervisor disappeared stops by itself.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ledger.model import ACCOUNT, InvalidEntry, parse_entry
from ledger.store import Store, StoreError, StoreUnavailable, parse_url

log = logging.getLogger("ledger.server")

MAX_BODY = 64 * 1024


class LedgerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ledger/0.1"
    timeout = 60  # an idle keep-alive connection is closed after this long
    server: LedgerHTTPServer

    # -- plumbing ------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def _counted(self, method: Any) -> None:
        """A request being answered (idle keep-alive connections are not counted)."""
        with self.server.inflight_lock:
            self.server.inflight += 1
        try:
            method()
        finally:
            with self.server.inflight_lock:
                self.server.inflight -= 1

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.server.stopping:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _unavailable(self, exc: Exception) -> None:
        log.warning("store unavailable: %s", exc)
        self._send(503, {"detail": "store unavailable, retry later"},
                   {"Retry-After": str(self.server.retry_after_s)})

    def _route(self) -> tuple[str, str]:
        path = self.path.split("?", 1)[0]
        head, _, rest = path.lstrip("/").partition("/")
        return head, rest

    # -- methods -------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._counted(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._counted(self._post)

    def _get(self) -> None:
        head, rest = self._route()
        store = self.server.store
        try:
            if head == "healthz" and not rest:
                self._send(200, {"status": "alive", "pid": os.getpid()})
            elif head == "up" and not rest:
                if store.ping():
                    self._send(200, {"status": "ready"})
                else:
                    self._send(503, {"status": "store unreachable"}, {"Retry-After": str(self.server.retry_after_s)})
            elif head == "balance" and rest:
                if not ACCOUNT.match(rest):
                    self._send(422, {"detail": f"account must be 1-64 of [A-Za-z0-9_.-], got {rest!r}"})
                    return
                balance, entries = store.balance(rest)
                self._send(200, {"account": rest, "balance": balance, "entries": entries})
            elif head == "entries" and rest.isdigit():
                entry = store.entry(int(rest))
                if entry is None:
                    self._send(404, {"detail": f"no entry {int(rest)}"})
                else:
                    self._send(200, entry)
            elif head == "entries" and not rest:
                self._send(405, {"detail": "POST an entry to /entries"}, {"Allow": "POST"})
            else:
                self._send(404, {"detail": f"no such resource {self.path}"})
        except StoreUnavailable as exc:
            self._unavailable(exc)
        except StoreError as exc:
            log.error("store error on GET %s: %s", self.path, exc)
            self._send(500, {"detail": f"store error: {exc}"})

    def _post(self) -> None:
        head, rest = self._route()
        if head != "entries" or rest:
            self._drain()
            if head in ("up", "healthz", "balance") or head == "entries":
                self._send(405, {"detail": f"{self.path} does not take POST"}, {"Allow": "GET"})
            else:
                self._send(404, {"detail": f"no such resource {self.path}"})
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._send(411, {"detail": "Content-Length required"})
            return
        if int(length) > MAX_BODY:
            self.close_connection = True
            self._send(413, {"detail": f"body over {MAX_BODY} bytes"})
            return
        raw = self.rfile.read(int(length))
        try:
            account, amount = parse_entry(raw)
        except InvalidEntry as exc:
            self._send(422, {"detail": str(exc)})
            return
        try:
            entry = self.server.store.append(account, amount)
        except StoreUnavailable as exc:
            self._unavailable(exc)
            return
        except StoreError as exc:
            log.error("store error on POST /entries: %s", exc)
            self._send(500, {"detail": f"store error: {exc}"})
            return
        self._send(201, entry, {"Location": f"/entries/{entry['id']}"})

    def _drain(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) <= MAX_BODY:
            self.rfile.read(int(length))
        else:
            self.close_connection = True


class LedgerHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, sock: socket.socket, store: Store, *, retry_after_s: int = 1, parent_pid: int | None = None):
        super().__init__(sock.getsockname()[:2], LedgerHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock  # bound and listening already (shared by the workers)
        self.server_address = sock.getsockname()
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])
        self.store, self.retry_after_s, self.parent_pid = store, retry_after_s, parent_pid
        self.inflight, self.inflight_lock = 0, threading.Lock()
        self.stopping = False

    def service_actions(self) -> None:
        # a worker whose supervisor is gone (SIGKILLed alone) stops instead of serving orphaned
        if self.parent_pid is not None and os.getppid() != self.parent_pid and not self.stopping:
            log.warning("worker %d: supervisor %d is gone: stopping", os.getpid(), self.parent_pid)
            self.request_stop()

    def request_stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            threading.Thread(target=self.shutdown, name="ledger-stop", daemon=True).start()

    def wait_inflight(self, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.inflight_lock:
                if self.inflight == 0:
                    return 0
            time.sleep(0.02)
        return self.inflight


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(LedgerHTTPServer.request_queue_size)
    # non-blocking: with several workers on one socket, a worker that lost the race for a
    # connection gets EAGAIN from accept (socketserver ignores it) instead of blocking in it
    sock.setblocking(False)
    return sock


def serve(sock: socket.socket, args: argparse.Namespace, *, parent_pid: int | None = None) -> int:
    """Serve on ``sock`` until SIGTERM/SIGINT; the requests in flight are given ``--drain-s``."""
    store = Store(parse_url(args.store), connect_timeout_s=args.connect_timeout, timeout_s=args.store_timeout)
    server = LedgerHTTPServer(sock, store, retry_after_s=args.retry_after, parent_pid=parent_pid)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("pid %d: %s: stopping", os.getpid(), signal.Signals(signum).name)
        server.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("pid %d serving on %s:%d, store %s", os.getpid(), server.server_name, server.server_port,
             store.address.url)
    try:
        server.serve_forever(poll_interval=0.25)
    finally:
        left = server.wait_inflight(args.drain_s)
        if left:
            log.warning("pid %d: %d request(s) still in flight after %.1f s", os.getpid(), left, args.drain_s)
        server.server_close()
        store.close()
    return 0


def supervise(sock: socket.socket, args: argparse.Namespace) -> int:
    """Fork ``args.processes`` workers on the shared socket, replace any that dies, stop them all
    on SIGTERM/SIGINT."""
    stopping = False
    me = os.getpid()

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            log.info("supervisor %d: %s: stopping %d worker(s)", me, signal.Signals(signum).name, len(workers))
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workers: dict[int, tuple[int, float]] = {}  # pid -> (slot, started at)
    quick_deaths = [0] * args.processes

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                code = serve(sock, args, parent_pid=me)
            except BaseException:  # noqa: BLE001 - a worker reports and exits, never returns to the loop
                log.exception("worker %d failed", os.getpid())
            finally:
                logging.shutdown()
                os._exit(code)
        workers[pid] = (slot, time.monotonic())
        log.info("supervisor %d: worker %d started (slot %d)", me, pid, slot)

    for slot in range(args.processes):
        spawn(slot)
    while not stopping:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pid, status = 0, 0
        if pid and pid in workers:
            slot, started = workers.pop(pid)
            why = (f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
                   else f"exit code {os.waitstatus_to_exitcode(status)}")
            quick_deaths[slot] = quick_deaths[slot] + 1 if time.monotonic() - started < 1.0 else 0
            backoff = min(2.0, 0.1 * 2 ** quick_deaths[slot]) if quick_deaths[slot] else 0.0
            log.warning("supervisor %d: worker %d (slot %d) ended (%s); replacing it%s", me, pid, slot, why,
                        f" in {backoff:.1f} s" if backoff else "")
            deadline = time.monotonic() + backoff
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.05)
            if not stopping:
                spawn(slot)
            continue
        time.sleep(0.05)
    for pid in list(workers):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + args.stop_grace
    while workers and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            workers.pop(pid, None)
        else:
            time.sleep(0.02)
    for pid in list(workers):
        log.warning("supervisor %d: worker %d did not stop within %.1f s: SIGKILL", me, pid, args.stop_grace)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    sock.close()
    log.info("supervisor %d: stopped", me)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ledger.server", description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", type=parse_listen, required=True, metavar="HOST:PORT")
    ap.add_argument("--store", required=True, metavar="URL", help="redis://HOST:PORT/DB?prefix=P")
    ap.add_argument("--processes", type=int, default=1, help="worker processes sharing the socket (default 1)")
    ap.add_argument("--connect-timeout", type=float, default=0.5, help="seconds to connect to the store")
    ap.add_argument("--store-timeout", type=float, default=1.0, help="seconds for one exchange with the store")
    ap.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds of a 503")
    ap.add_argument("--drain-s", type=float, default=3.0, help="seconds the requests in flight get at a stop")
    ap.add_argument("--stop-grace", type=float, default=8.0, help="supervisor: seconds workers get to stop")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    if args.processes < 1 or args.processes > 64:
        ap.error(f"--processes must be within 1..64, got {args.processes}")
    try:
        parse_url(args.store)
    except ValueError as exc:
        ap.error(str(exc))
    host, port = args.listen
    sock = bind(host, port)
    if args.processes == 1:
        return serve(sock, args)
    return supervise(sock, args)


if __name__ == "__main__":
    sys.exit(main())
