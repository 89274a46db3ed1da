"""Burst: the spec's burst rate (100,000 requests/min = 1,667/s) with 10,000 virtual users.

Open model, Poisson arrivals, max 10,000 requests in flight, against a loopback server in its own
process on the other core (log-normal service time, median 20 ms, so a few dozen requests are in
flight; ``--stall-s`` adds a periodic freeze that fills up to rate x stall users). Reports the
achieved rate (target: >= 99 % of 1,667/s), late and dropped sends, latency, and the engine's CPU
and memory (psutil, the engine's own process).

    PYTHONPATH=. .venv/bin/python benchmarks/load_burst.py [--rate 1667] [--users 10000] [--duration 10]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perf_tasks.load.journey import JourneySpec, ParamSpec, StepSpec  # noqa: E402
from perf_tasks.load.plan import LoadPlan  # noqa: E402
from perf_tasks.load.runner import run_plan  # noqa: E402

CLIENT_CPU, SERVER_CPU = 0, 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=100_000 / 60)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--median-ms", type=float, default=20.0)
    ap.add_argument("--stall-every-s", type=float, default=0.0)
    ap.add_argument("--stall-s", type=float, default=0.0)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-m", "devtools.loopback", "--port", "0", "--cpu",
                               str(SERVER_CPU), "--median-ms", str(args.median_ms), "--sigma", "0.5",
                               "--stall-every-s", str(args.stall_every_s), "--stall-s", str(args.stall_s)],
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().split()[1])  # type: ignore[union-attr]
        os.sched_setaffinity(0, {CLIENT_CPU})
        journey = JourneySpec(params={"symbol": ParamSpec(range=(0, 49), format="SYM{:03d}")},
                              steps=[StepSpec(name="market_data", path="/market-data/{symbol}")])
        plan = LoadPlan(scenario="burst", target_url=f"http://127.0.0.1:{port}", journey_name="burst",
                        journey=journey, duration_s=args.duration, users=args.users, rate_per_s=args.rate,
                        arrival="poisson", seed=1, timeout_s=10.0, sample_interval_s=0.5, target_pid=server.pid)
        rss0 = psutil.Process().memory_info().rss
        t0 = time.perf_counter()
        r = run_plan(plan)
        wall = time.perf_counter() - t0
        er, tr = r.engine_resources, r.target_resources
        pct = 100.0 * r.achieved_rate_per_s / args.rate
        print(f"burst: {args.rate:.0f} req/s intended for {args.duration:g} s, {args.users} users (max in flight), "
              f"engine on CPU {CLIENT_CPU}, server on CPU {SERVER_CPU} (log-normal, median {args.median_ms:g} ms"
              + (f", freeze {args.stall_s:g} s every {args.stall_every_s:g} s" if args.stall_s else "") + ")")
        print(f"  schedule: {r.intended_requests} arrivals ({r.intended_rate_per_s:.1f}/s realised by the Poisson "
              f"draw); sent {r.requests}, achieved {r.achieved_rate_per_s:.1f}/s = {pct:.2f} % of {args.rate:.0f}/s "
              f"and {100 * r.requests / max(r.intended_requests, 1):.2f} % of the schedule")
        print(f"  late sends (> {r.late_threshold_ms:g} ms) {r.late_sends}, dropped {r.dropped}, errors {r.errors} "
              f"{r.errors_by_class or ''}")
        lat = r.latency
        print(f"  latency ms: p50 {lat.p50_ms:.2f}  p95 {lat.p95_ms:.2f}  p99 {lat.p99_ms:.2f}  max {lat.max_ms:.2f}")
        print(f"  per-second sent: min {min(r.timeseries.sent[:-1] or (0,))} max {max(r.timeseries.sent or (0,))}")
        print(f"  engine: CPU {er.process_cpu_pct_mean:.0f} % mean / {er.process_cpu_pct_max:.0f} % max of one core, "
              f"RSS max {er.rss_max_bytes / 2**20:.0f} MiB (before the run {rss0 / 2**20:.0f} MiB, "
              f"{(er.rss_max_bytes - rss0) / args.users / 1024:.1f} KiB per user), wall {wall:.1f} s")
        if tr is not None:
            print(f"  server: CPU {tr.process_cpu_pct_mean:.0f} % mean, RSS {tr.rss_max_bytes / 2**20:.0f} MiB")
        ok = r.requests >= 0.99 * r.intended_requests and r.dropped == 0
        print(f"achieved >= 99 % of the schedule with no drops: {'YES' if ok else 'NO'}")
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
