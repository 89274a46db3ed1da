"""What the psutil sampler costs a microsecond benchmark: in the benchmark's process (the old
runner: a thread taking the GIL every interval) vs in a parent process watching the worker's pid
(the runner now) vs no sampler at all.

    PYTHONPATH=. .venv/bin/python benchmarks/sampler_overhead.py [--blocks 7] [--calls 20000]

For each workload, blocks of single-call timings run in turn under the three modes (interleaved,
so drift on a noisy host hits every mode alike); it prints per mode the median over blocks of the
mean and p99 per call, and their ratio to "none".
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from perf_tasks.bench.runner import resolve_callable
from perf_tasks.monitor.sampler import ResourceSampler

WORKLOADS = [
    ("trading.position_update", "trading_agent.trading.bench:position_update", {"n_symbols": 200, "n_accounts": 8}),
    ("risk.risk_pre_trade_check", "trading_agent.risk.bench_extra:risk_limit_check",
     {"n_positions": 200, "mode": "pre_trade"}),
    ("market_data.tick_handling", "trading_agent.market_data.bench:market_data_ticks",
     {"n_ticks": 10000, "n_symbols": 50}),
]
WATCHER = ("import sys, time; from perf_tasks.monitor.sampler import ResourceSampler; "
           "s = ResourceSampler(float(sys.argv[2]), pid=int(sys.argv[1])).start(); "
           "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.readline(); s.stop()")


def _block(op, calls: int) -> np.ndarray:
    out = np.empty(calls)
    clock = time.perf_counter
    for i in range(calls):
        t0 = clock()
        op()
        out[i] = clock() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--interval", type=float, default=0.05, help="sampler period, s (smoke profile: 0.05)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; sampler every {args.interval * 1e3:.0f} ms; "
          f"{args.blocks} blocks x {args.calls} calls per mode")
    probe = ResourceSampler(args.interval).start()
    takes = []
    for _ in range(200):
        t0 = time.perf_counter()
        probe._take()
        takes.append(time.perf_counter() - t0)
    probe.stop()
    take = float(np.median(takes))
    print(f"one in-process sample takes {take * 1e6:.0f} us (median of 200) = {take / args.interval * 100:.2f} % "
          f"of the benchmark's time at this period; a call that meets a sample waits up to that long")
    print(f"{'workload':28} {'mode':10} {'mean us':>9} {'p99 us':>9} {'mean/none':>10} {'p99/none':>9}")
    for name, spec, params in WORKLOADS:
        op = resolve_callable(spec)(**params)
        _block(op, 2000)  # warm up
        res: dict[str, list[tuple[float, float]]] = {"none": [], "in-process": [], "parent": []}
        for _ in range(args.blocks):
            for mode in res:
                watcher = sampler = None
                if mode == "in-process":
                    sampler = ResourceSampler(args.interval).start()
                elif mode == "parent":
                    watcher = subprocess.Popen([sys.executable, "-c", WATCHER, str(os.getpid()), str(args.interval)],
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                    watcher.stdout.readline()
                x = _block(op, args.calls)
                if sampler is not None:
                    sampler.stop()
                if watcher is not None:
                    watcher.communicate("stop\n")
                res[mode].append((float(x.mean()), float(np.percentile(x, 99))))
        base_mean = np.median([m for m, _ in res["none"]])
        base_p99 = np.median([p for _, p in res["none"]])
        for mode, vals in res.items():
            mean = np.median([m for m, _ in vals])
            p99 = np.median([p for _, p in vals])
            print(f"{name:28} {mode:10} {mean * 1e6:9.2f} {p99 * 1e6:9.2f} {mean / base_mean:10.3f} {p99 / base_p99:9.3f}")
        close = getattr(op, "close", None)
        if callable(close):
            close()


if __name__ == "__main__":
    main()
