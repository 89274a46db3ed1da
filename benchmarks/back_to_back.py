"""False changes between back-to-back runs of the same code on the same machine.

    PYTHONPATH=. .venv/bin/python benchmarks/back_to_back.py [--pairs 3] [--profile smoke] [--suites risk,data]

Runs the daily pipeline 2 x pairs times through the CLI into a fresh artifact store (no Slack),
each run compared with the previous one (same key), and counts, for the second run of each pair,
the metrics the comparison called a regression or an improvement (significant at alpha and beyond
the threshold) and those significant at any magnitude. Nothing changed between the runs, so every
one of them is a false change. Prints one line per pair and the wall time of each run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--suites", default="")
    ap.add_argument("--store", default=None, help="artifact folder (default: a new temporary one)")
    args = ap.parse_args()
    root = Path(args.store or tempfile.mkdtemp(prefix="b2b-"))
    print(f"store {root}; profile {args.profile}; {args.pairs} pairs", flush=True)
    totals = {"flagged": 0, "significant": 0, "tested": 0}
    for i in range(1, 2 * args.pairs + 1):
        run_id = f"b2b-{i}"
        cmd = [sys.executable, "-m", "perf_tasks", "run", "daily", "--profile", args.profile, "--no-notify",
               "--artifacts", root.as_uri(), "--run-id", run_id, "--json", str(root / f"{run_id}.json")]
        if args.suites:
            cmd += ["--suites", args.suites]
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        wall = time.perf_counter() - t0
        line = f"run {run_id}: exit {rc}, wall {wall:.0f} s"
        if i % 2 == 0:
            comp = json.loads((root / "perf_daily" / run_id / "comparison.json").read_text())
            changes = comp["changes"]
            tested = [c for c in changes if c.get("significant") is not None]
            sig = [c for c in tested if c["significant"]]
            flagged = [c for c in changes if c["status"] in ("regression", "improvement")]
            totals["flagged"] += len(flagged)
            totals["significant"] += len(sig)
            totals["tested"] += len(tested)
            line += (f"; vs {comp['baseline_run_id']}: {len(changes)} metrics, {len(tested)} tested, "
                     f"{len(sig)} significant, {len(flagged)} flagged (significant and beyond the threshold)")
            for c in flagged:
                line += f"\n    {c['status']} {c['metric']} {c['change_pct']:+.1f} % ({c.get('test')})"
        print(line, flush=True)
    print(f"total over {args.pairs} pairs: {totals['flagged']} flagged, {totals['significant']} significant of "
          f"{totals['tested']} tested")
    return 0


if __name__ == "__main__":
    sys.exit(main())
