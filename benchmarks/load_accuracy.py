"""Latency accuracy against a server with a known latency distribution: engine vs ground truth vs Locust.

The loopback server (devtools.loopback, its own process on one core) answers request
``/work/<k>`` after a log-normal service time that is a pure function of k, and freezes for
``--stall-s`` every ``--stall-every-s`` seconds (requests arriving or finishing in a freeze are
answered when it ends). For an open arrival process the truth of each request's latency follows
from its intended arrival time (``true_latency_s``). Our engine (open model, Poisson arrivals,
on the other core) must report p50/p95/p99 within 2 % or 1 ms of the truth. Locust (closed users,
paced to the same mean rate) runs next against the same server: its numbers are shown beside.

    PYTHONPATH=. .venv/bin/python benchmarks/load_accuracy.py [--rate 100] [--duration 30]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perf_tasks.load.engine import Engine  # noqa: E402
from perf_tasks.load.journey import JourneySpec, StepSpec  # noqa: E402
from perf_tasks.load.locust_adapter import run_locustfile  # noqa: E402
from devtools.loopback import LatencyModel, true_latency_s  # noqa: E402
from perf_tasks.load.plan import LoadPlan  # noqa: E402

CLIENT_CPU, SERVER_CPU = 0, 1
LOCUSTFILE = '''
import itertools
from locust import FastHttpUser, constant_throughput, task

_ids = itertools.count(50_000_000)  # other request indexes than the engine's: same distribution

class Paced(FastHttpUser):
    wait_time = constant_throughput({per_user_rate})

    @task
    def work(self):
        self.client.get(f"/work/{{next(_ids)}}", name="/work/[k]")
'''


def hdr_rank_percentile(values: np.ndarray, p: float) -> float:
    """The value at rank max(1, round(p/100 * n)) of the sorted values (HdrHistogram's convention)."""
    s = np.sort(values)
    rank = max(int(p / 100.0 * len(s) + 0.5), 1)
    return float(s[rank - 1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=100.0, help="requests/s")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per client")
    ap.add_argument("--median-ms", type=float, default=10.0)
    ap.add_argument("--sigma", type=float, default=0.5)
    ap.add_argument("--stall-every-s", type=float, default=5.0)
    ap.add_argument("--stall-s", type=float, default=0.5)
    ap.add_argument("--locust-users", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    epoch = time.monotonic() + 1.37  # the first freeze starts 1.37 s from now (any phase works)
    model = LatencyModel(args.median_ms, args.sigma, args.stall_every_s, args.stall_s, epoch, args.seed)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-m", "devtools.loopback", "--port", "0", "--cpu",
                               str(SERVER_CPU), "--median-ms", str(args.median_ms), "--sigma", str(args.sigma),
                               "--stall-every-s", str(args.stall_every_s), "--stall-s", str(args.stall_s),
                               "--epoch-s", repr(epoch), "--seed", str(args.seed)],
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().split()[1])  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        os.sched_setaffinity(0, {CLIENT_CPU})
        plan = LoadPlan(scenario="accuracy", target_url=url, journey_name="work",
                        journey=JourneySpec(steps=[StepSpec(name="work", path="/work/{request_index}")]),
                        duration_s=args.duration, users=2000, rate_per_s=args.rate, arrival="poisson",
                        seed=args.seed, timeout_s=10.0)
        import uvloop
        engine = Engine(plan)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(engine.run())
        offsets = plan.schedule()
        t0_s = engine.t0_ns / 1e9  # type: ignore[operator]
        truth_ms = np.array([true_latency_s(model, t0_s + off, k) for k, off in enumerate(offsets)]) * 1000.0
        stalled = sum(1 for off in offsets if model.stall_end(t0_s + off) is not None)
        print(f"server {url}: log-normal service (median {args.median_ms:g} ms, sigma {args.sigma:g}), "
              f"freeze {args.stall_s:g} s every {args.stall_every_s:g} s")
        print(f"engine: open model, Poisson {args.rate:g}/s for {args.duration:g} s: {result.requests} requests, "
              f"{result.errors} errors, {stalled} arrived during a freeze, late sends {result.late_sends}, "
              f"dropped {result.dropped}")

        workdir = Path(tempfile.mkdtemp(prefix="load-accuracy-"))
        lf = workdir / "locustfile.py"
        lf.write_text(LOCUSTFILE.format(per_user_rate=args.rate / args.locust_users))
        locust = run_locustfile(lf, url, users=args.locust_users, duration_s=args.duration, scenario="accuracy",
                                workdir=workdir, cpu=CLIENT_CPU)

        print(f"\n{'':22}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'requests':>10}")
        truth = {p: hdr_rank_percentile(truth_ms, p) for p in (50, 95, 99)}
        lat = result.latency
        ours = {50: lat.p50_ms, 95: lat.p95_ms, 99: lat.p99_ms}  # type: ignore[union-attr]
        loc = {50: locust.latency.p50_ms, 95: locust.latency.p95_ms, 99: locust.latency.p99_ms}  # type: ignore[union-attr]
        print(f"{'ground truth':22}" + "".join(f"{truth[p]:10.2f}" for p in (50, 95, 99)) + f"{len(truth_ms):10d}")
        print(f"{'engine (open model)':22}" + "".join(f"{ours[p]:10.2f}" for p in (50, 95, 99))
              + f"{result.requests:10d}")
        print(f"{'locust (closed users)':22}" + "".join(f"{loc[p]:10.2f}" for p in (50, 95, 99))
              + f"{locust.requests:10d}")
        ok = True
        print()
        for p in (50, 95, 99):
            err = ours[p] - truth[p]
            tol = max(0.02 * truth[p], 1.0)
            ok &= abs(err) <= tol
            print(f"p{p}: engine {err:+.2f} ms ({100 * err / truth[p]:+.2f} %) vs truth, tolerance +-{tol:.2f} ms: "
                  f"{'OK' if abs(err) <= tol else 'MISSED'}; locust {loc[p] - truth[p]:+.2f} ms "
                  f"({100 * (loc[p] - truth[p]) / truth[p]:+.1f} %)")
        print(f"\naccuracy within 2 % or 1 ms at p50/p95/p99: {'YES' if ok else 'NO'}")
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
