"""Requests per second per core: our load engine vs Locust FastHttpUser, side by side.

A trivial loopback endpoint (devtools.loopback, raw asyncio on uvloop) runs in its own
process pinned to one core; each client runs in its own process pinned to the other core, one at
a time, in alternating rounds. Both clients are closed loops of the same number of users with no
wait, so each sends as fast as its one core allows. Measured inside each client over its test:
requests / wall second, and requests / CPU second of the client process (robust when other work
shares the core). The server's CPU is reported too, to show it was not the bottleneck.

    PYTHONPATH=. .venv/bin/python benchmarks/load_capacity.py [--users 32] [--duration 10] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
CLIENT_CPU, SERVER_CPU = 0, 1

LOCUSTFILE = '''
import json, os, resource, time
from locust import FastHttpUser, constant, events, task

OUT = os.environ["CAPACITY_OUT"]
_mark = {}

def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

@events.test_start.add_listener
def _start(environment, **kw):
    _mark.update(t=time.perf_counter(), cpu=_cpu())

@events.test_stop.add_listener
def _stop(environment, **kw):
    s = environment.stats.total
    json.dump({"requests": s.num_requests, "failures": s.num_failures,
               "wall_s": time.perf_counter() - _mark["t"], "cpu_s": _cpu() - _mark["cpu"]}, open(OUT, "w"))

class Trivial(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/x")
'''


def _pin(cpu: int):
    return lambda: os.sched_setaffinity(0, {cpu})


def child_engine(url: str, users: int, duration_s: float, out: str) -> None:
    """Runs in the pinned child process: one closed-model run of our engine."""
    from perf_tasks.load.journey import JourneySpec, StepSpec
    from perf_tasks.load.plan import LoadPlan
    from perf_tasks.load.runner import run_plan

    plan = LoadPlan(scenario="capacity", target_url=url, journey_name="trivial",
                    journey=JourneySpec(steps=[StepSpec(name="get", path="/x")]), duration_s=duration_s,
                    users=users, model="closed", timeout_s=10.0)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = run_plan(plan)
    r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t0
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    Path(out).write_text(json.dumps({"requests": result.requests, "failures": result.errors, "wall_s": wall,
                                     "cpu_s": cpu, "p50_ms": result.latency.p50_ms if result.latency else None}))


def _run_client(cmd: list[str], env: dict[str, str], server: psutil.Process, timeout_s: float) -> tuple[dict, float]:
    s0, t0 = server.cpu_times(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, preexec_fn=_pin(CLIENT_CPU), capture_output=True, text=True,
                          timeout=timeout_s)
    s1, wall = server.cpu_times(), time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    server_cpu_pct = 100.0 * ((s1.user + s1.system) - (s0.user + s0.system)) / wall
    return json.loads(Path(env["CAPACITY_OUT"]).read_text()), server_cpu_pct


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=32)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child-engine", nargs=4, metavar=("URL", "USERS", "DURATION", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_engine:
        url, users, duration, out = args.child_engine
        child_engine(url, int(users), float(duration), out)
        return 0
    if len(os.sched_getaffinity(0)) < 2:
        print("needs 2 CPUs (client and server pinned apart)")
        return 2
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server_proc = subprocess.Popen([sys.executable, "-m", "devtools.loopback", "--port", "0", "--cpu",
                                    str(SERVER_CPU)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server_proc.stdout.readline().split()[1])  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        server = psutil.Process(server_proc.pid)
        tmp = Path(tempfile.mkdtemp(prefix="load-capacity-"))
        (tmp / "locustfile.py").write_text(LOCUSTFILE)
        runs: dict[str, list[dict]] = {"engine": [], "locust": []}
        print(f"server {url} on CPU {SERVER_CPU}; clients on CPU {CLIENT_CPU}; {args.users} users, "
              f"{args.duration:g} s per run, {args.rounds} rounds")
        for rnd in range(args.rounds):
            for name in ("engine", "locust"):
                out = str(tmp / f"{name}-{rnd}.json")
                cenv = {**env, "CAPACITY_OUT": out}
                if name == "engine":
                    cmd = [sys.executable, __file__, "--child-engine", url, str(args.users), str(args.duration), out]
                else:
                    cmd = [sys.executable, "-m", "locust", "-f", str(tmp / "locustfile.py"), "--headless",
                           "-u", str(args.users), "-r", str(args.users * 10), "-t", f"{args.duration:g}s",
                           "--host", url, "--only-summary", "--loglevel", "WARNING"]
                m, server_cpu = _run_client(cmd, cenv, server, args.duration + 60)
                m["rps"] = m["requests"] / m["wall_s"]
                m["rps_per_cpu_s"] = m["requests"] / m["cpu_s"]
                m["server_cpu_pct"] = server_cpu
                runs[name].append(m)
                print(f"  round {rnd + 1} {name:6s}: {m['rps']:8.0f} req/s wall, {m['rps_per_cpu_s']:8.0f} req per "
                      f"CPU-s (client CPU {100 * m['cpu_s'] / m['wall_s']:.0f} %), failures {m['failures']}, "
                      f"server CPU {server_cpu:.0f} %")
        med = {n: {k: statistics.median(r[k] for r in rs) for k in ("rps", "rps_per_cpu_s")} for n, rs in runs.items()}
        print("\nmedian over rounds:")
        for n in ("engine", "locust"):
            print(f"  {n:6s}: {med[n]['rps']:8.0f} req/s wall   {med[n]['rps_per_cpu_s']:8.0f} req/s per core")
        print(f"  ratio engine/locust: {med['engine']['rps'] / med['locust']['rps']:.2f}x wall, "
              f"{med['engine']['rps_per_cpu_s'] / med['locust']['rps_per_cpu_s']:.2f}x per core")
        return 0
    finally:
        server_proc.terminate()
        server_proc.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
