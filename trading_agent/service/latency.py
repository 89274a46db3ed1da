"""Per-endpoint latency and throughput of the service over loopback (a measurement script).

``python -m trading_agent.service.latency [--url http://127.0.0.1:8000] [--requests 2000] ...``
starts its own server (unless ``--url`` is given), then for each endpoint:

1. *latency*: ``--requests`` requests one after another on one keep-alive connection (after
   ``--warmup`` unmeasured ones): the service time a lone client sees, p50/p99;
2. *throughput*: ``--concurrency`` clients in closed loops for ``--duration-s`` seconds: the
   completed request rate, a rough single-process maximum, with the latencies under that load.
   Closed loops hide queueing the way an open arrival process would not (coordinated
   omission), so these latencies are a floor, not what an open load at that rate would see.

On a small machine client and server compete for the same cores; ``--server-cpus`` and
``--client-cpus`` pin them apart. Every non-2xx answer is counted and reported, never dropped.
Results go to stdout as a table and, with ``--json``, to a file.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

SCHEMA_VERSION = 1  # 1: {schema_version, base_url, server, results: [EndpointResult]}


@dataclass(frozen=True)
class LatencyStats:
    """Latencies of ``n`` requests in milliseconds."""

    n: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


def summarise(latencies_s: np.ndarray) -> LatencyStats:
    """Percentiles of latencies given in seconds (linear interpolation)."""
    if len(latencies_s) == 0:
        raise ValueError("no latencies to summarise")
    ms = np.asarray(latencies_s, dtype=float) * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return LatencyStats(len(ms), float(p50), float(p90), float(p99), float(ms.max()), float(ms.mean()))


@dataclass(frozen=True)
class EndpointResult:
    name: str
    latency: LatencyStats
    throughput_rps: float
    concurrency: int
    under_load: LatencyStats
    unexpected_statuses: dict[str, int]  # status -> count, over both phases


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict | None = None


def endpoint_requests(n_symbols: int, n_accounts: int) -> dict[str, Callable[[int], Request]]:
    """The i-th request of each measured endpoint (symbols and accounts rotate)."""
    def sym(i: int) -> str:
        return f"SYM{i % n_symbols:03d}"

    def acct(i: int) -> str:
        return f"acct-{i % n_accounts + 1}"

    return {
        "health": lambda i: Request("GET", "/health"),
        "market_data": lambda i: Request("GET", f"/market-data/{sym(i)}"),
        "portfolio": lambda i: Request("GET", f"/portfolio/{acct(i)}"),
        "risk": lambda i: Request("GET", f"/risk/{acct(i)}"),
        "risk_monte_carlo_10k": lambda i: Request("GET", f"/risk/{acct(i)}?method=monte_carlo&scenarios=10000"),
        "recommendations": lambda i: Request("GET", f"/recommendations/{sym(i)}"),
        "orders": lambda i: Request("POST", "/orders", {"account": acct(i), "symbol": sym(i // 2),
                                                       "side": "buy" if i % 2 else "sell", "type": "market",
                                                       "quantity": 100}),
    }


async def _send(session, base_url: str, req: Request, bad: dict[str, int]) -> float:
    t0 = time.perf_counter()
    async with session.request(req.method, base_url + req.path, json=req.body) as r:
        await r.read()
    dt = time.perf_counter() - t0
    if not 200 <= r.status < 300:
        bad[str(r.status)] = bad.get(str(r.status), 0) + 1
    return dt


async def measure_endpoint(base_url: str, name: str, make: Callable[[int], Request], *, requests: int, warmup: int,
                           concurrency: int, duration_s: float) -> EndpointResult:
    import aiohttp

    bad: dict[str, int] = {}
    counter = itertools.count()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        for _ in range(warmup):
            await _send(session, base_url, make(next(counter)), {})
        lat = np.array([await _send(session, base_url, make(next(counter)), bad) for _ in range(requests)])
        loaded: list[float] = []
        stop = time.perf_counter() + duration_s

        async def user() -> None:
            while time.perf_counter() < stop:
                loaded.append(await _send(session, base_url, make(next(counter)), bad))

        t0 = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return EndpointResult(name, summarise(lat), len(loaded) / elapsed, concurrency, summarise(np.array(loaded)), bad)


def format_table(results: Sequence[EndpointResult]) -> str:
    head = (f"{'endpoint':<22} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} | {'req/s':>8} {'conc':>4} "
            f"{'p50 ms':>8} {'p99 ms':>8} | non-2xx")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.name:<22} {r.latency.p50_ms:8.2f} {r.latency.p99_ms:8.2f} {r.latency.max_ms:8.2f} | "
                     f"{r.throughput_rps:8.0f} {r.concurrency:4d} {r.under_load.p50_ms:8.2f} "
                     f"{r.under_load.p99_ms:8.2f} | {r.unexpected_statuses or '-'}")
    return "\n".join(lines)


def _pin(pid: int, cpus: str | None) -> None:
    if cpus:
        os.sched_setaffinity(pid, {int(c) for c in cpus.split(",")})


async def run(base_url: str, args: argparse.Namespace) -> list[EndpointResult]:
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    makers = endpoint_requests(args.symbols, args.accounts)
    names = args.endpoints.split(",") if args.endpoints else list(makers)
    unknown = sorted(set(names) - set(makers))
    if unknown:
        raise SystemExit(f"unknown endpoints {unknown}; known: {sorted(makers)}")
    out = []
    for name in names:
        heavy = name == "risk_monte_carlo_10k"
        out.append(await measure_endpoint(base_url, name, makers[name],
                                          requests=max(args.requests // 10, 50) if heavy else args.requests,
                                          warmup=args.warmup, concurrency=args.concurrency,
                                          duration_s=args.duration_s))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trading_agent.service.latency", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running service; default: start one on a free loopback port")
    p.add_argument("--server-args", default="--log-level warning", help="arguments for the started server")
    p.add_argument("--requests", type=int, default=2000, help="sequential requests per endpoint (Monte Carlo: 1/10)")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration-s", type=float, default=5.0)
    p.add_argument("--endpoints", default="", help="comma-separated subset of the endpoint names")
    p.add_argument("--symbols", type=int, default=50)
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--server-cpus", help="pin the started server, e.g. '0'")
    p.add_argument("--client-cpus", help="pin this client, e.g. '1'")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    _pin(0, args.client_cpus)
    server = None
    if args.url is None:
        from trading_agent.service.launcher import start_server

        server = start_server(args.server_args.split())
        _pin(server.proc.pid, args.server_cpus)
        base_url = server.base_url
        sys.stdout.write(f"server ready in {server.ready_s:.2f} s at {base_url}\n")
    else:
        base_url = args.url.rstrip("/")
    try:
        results = asyncio.run(run(base_url, args))
    finally:
        if server is not None:
            server.stop()
    sys.stdout.write(format_table(results) + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"schema_version": SCHEMA_VERSION, "base_url": base_url,
                       "server": None if server is None else {"args": args.server_args, "ready_s": server.ready_s},
                       "results": [asdict(r) for r in results]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
