"""The reference service's scaling curve on this machine: knee per size, efficiency, what limited
each point, the USL fit (or why there is none) and its predictions.

    PYTHONPATH=. .venv/bin/python benchmarks/scalability_reference.py \
        [--axes instances,cores] [--instances 1,2] [--cores 1,2] [--sut service|testserver] \
        [--journey mixed_traffic] [--base-rate 50] [--multipliers 1,2,...] [--point-s 5] [--p99-ms 250] \
        [--max-refine 3] [--arrival poisson|constant] [--json out.json]

Uses the scale kind's own pieces (perf_tasks.scale.runner.run_size, perf_tasks.scale.model), the
knee definition and cost from config/scalability.yaml unless overridden. Prints one line per point
and a markdown summary (what benchmarks/results/scalability.md quotes).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

from perf_tasks.load.journey import load_journeys, resolve_journey
from perf_tasks.results import to_dict
from perf_tasks.scale.model import analyse_axis
from perf_tasks.scale.runner import SweepConfig, run_size
from perf_tasks.scale.settings import load_scale_config
from perf_tasks.scale.sweep import SweepTargets, simple_journey

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--axes", default="instances,cores")
    ap.add_argument("--instances", default="1,2")
    ap.add_argument("--cores", default="1,2")
    ap.add_argument("--sut", default="service", choices=["service", "testserver"])
    ap.add_argument("--journey", default="")
    ap.add_argument("--base-rate", type=float, default=50.0)
    ap.add_argument("--multipliers", default="1,2,3,4,5,6,7,8,9,10")
    ap.add_argument("--point-s", type=float, default=5.0)
    ap.add_argument("--p99-ms", type=float, default=0.0)
    ap.add_argument("--max-refine", type=int, default=3)
    ap.add_argument("--arrival", default="", choices=["", "poisson", "constant"], help="default: config's")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("perf_tasks.load", "perf_tasks.sut"):
        logging.getLogger(name).setLevel(logging.WARNING)
    sc = load_scale_config(REPO / "config" / "scalability.yaml")
    journey_name = args.journey or sc.journey
    journey = (simple_journey("/work") if args.sut == "testserver" else
               resolve_journey(load_journeys(REPO / "config" / "load_journeys.yaml"), journey_name,
                               source="--journey"))
    cfg = SweepConfig(journey=journey, journey_name=journey_name,
                      targets=SweepTargets(args.p99_ms or sc.knee.p99_ms, sc.knee.error_rate_pct),
                      base_rate_per_s=args.base_rate, multipliers=tuple(float(m) for m in args.multipliers.split(",")),
                      point_duration_s=args.point_s, users=sc.users, arrival=args.arrival or sc.arrival, timeout_s=sc.timeout_s,
                      max_refine=args.max_refine, sut=args.sut, check_inter_ms=sc.balancer.check_inter_ms,
                      cores_per_instance=sc.cores_per_instance)
    work = Path(tempfile.mkdtemp(prefix="scale-ref-"))
    print(f"host: {platform.node()} {os.cpu_count()} CPUs, load average {os.getloadavg()}; work {work}", flush=True)
    out: dict = {"config": {"journey": journey_name, "p99_ms": cfg.targets.p99_ms,
                            "base_rate_per_s": cfg.base_rate_per_s,
                            "multipliers": list(cfg.multipliers), "point_s": cfg.point_duration_s, "sut": args.sut},
                 "axes": {}}
    t0 = time.monotonic()
    for axis in args.axes.split(","):
        results = []
        for n in (int(x) for x in getattr(args, axis).split(",")):
            t = time.monotonic()
            r = run_size(work / f"{axis}_{n}", axis, n, cfg)
            results.append(r)
            print(f"\n## {axis} = {n} ({r.balancer}; {time.monotonic() - t:.0f} s)")
            for p in r.knee.points:
                print(f"  {p.rate_per_s:8.1f}/s -> {p.throughput_per_s:8.1f}/s p99 {p.p99_ms:8.1f} ms err "
                      f"{p.error_rate_pct:5.2f} % {'valid' if p.valid else 'INVALID'} "
                      f"{'meets' if p.meets_targets else 'MISSES'} [{p.bottleneck}] service CPU "
                      f"{p.resources.get('service_cpu_pct_mean', 0):.0f} % "
                      f"host {p.resources.get('system_cpu_pct_mean', 0):.0f} % "
                      f"balancer {p.resources.get('balancer_cpu_pct_mean', 0):.0f} % generator "
                      f"{p.resources.get('generator_cpu_pct_mean', 0):.0f} % per instance {p.per_instance}", flush=True)
            print(f"  knee {r.knee.status}: {r.knee.throughput_per_s:.1f}/s ({r.knee.note}); limited by "
                  f"{r.knee.limited_by}: {r.knee.limited_reason}", flush=True)
        model = analyse_axis(results, cost_per_core_hour=sc.cost_per_core_hour, predict=sc.predict,
                             linear_claim_n=sc.linear_claim.n, min_efficiency=sc.linear_claim.min_efficiency)
        out["axes"][axis] = {"model": model, "sizes": [to_dict(r) for r in results]}
        print(f"\n### model of {axis}\n" + json.dumps({k: v for k, v in model.items() if k != "sizes"}, indent=1,
                                                      default=str), flush=True)
    print(f"\ntotal {time.monotonic() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
