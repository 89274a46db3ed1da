"""Change-detection evaluation harness (issue: regression detection that is sensitive and quiet).

    PYTHONPATH=. .venv/bin/python benchmarks/regression_harness.py [--per-cell 25] [--seed 20261127]

Prints a Markdown table: per detector and mode, recall for 5/10/20 % steps (found within 5 runs),
recall within 3 runs (online), false alarms per 100 runs, share of no-change series with a false
alarm, and detection delay, at 1 %, 2 % and 5 % noise, pooled and per variant.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import numpy as np

from perf_tasks.regress.detect import (OnlineConfig, OtavaConfig, naive_alerts, online_alerts, otava_change_points,
                                       otava_online)
from perf_tasks.regress.harness import VARIANTS, CellResult, evaluate, make_corpus

DETECTORS = {
    "naive 10 % vs previous run (online)": (lambda v: naive_alerts(v, 10.0), True),
    "Otava defaults, whole history": (lambda v: otava_change_points(v), False),
    "Otava defaults, one run at a time": (lambda v: otava_online(v), True),
    "ours: robust band + MWU, persist 3 (one run at a time)": (lambda v: online_alerts(v, OnlineConfig()), True),
    "ours: Otava on log values, winsorised at 3 sigma, p < 1e-5, min 2 % (whole history)": (
        lambda v: otava_change_points(v, OtavaConfig(log=True, clip_sigma=3.0, min_magnitude=0.02, max_pvalue=1e-5)),
        False),
}


def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "-"
    return f"{100 * x:.0f} %" if pct else f"{x:.2g}"


def table(rows: list[CellResult], variants: tuple[str, ...]) -> str:
    by: dict[tuple[str, float], list[CellResult]] = defaultdict(list)
    for r in rows:
        if r.variant in variants:
            by[(r.detector, r.noise_pct)].append(r)
    out = ["| detector | noise | recall 5 % | recall 10 % | recall 20 % | caught within 3 runs (10 % / 20 %) "
           "| false alarms per 100 runs | no-change series with a false alarm | delay median / p90 (runs) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for (det, noise), cells in by.items():
        def mean(step: float, attr: str) -> float | None:
            vals = [getattr(c, attr) for c in cells if c.step_pct == step and getattr(c, attr) is not None]
            return float(np.mean(vals)) if vals else None
        fa = float(np.mean([c.false_alarms_per_100_runs for c in cells]))
        fa_series = float(np.mean([c.series_with_false_alarm for c in cells if c.step_pct == 0]))
        med = [c.delay_median for c in cells if c.delay_median is not None]
        p90 = [c.delay_p90 for c in cells if c.delay_p90 is not None]
        w3 = f"{_fmt(mean(10.0, 'recall_within_3'))} / {_fmt(mean(20.0, 'recall_within_3'))}"
        delay = f"{np.median(med):.1f} / {np.median(p90):.1f}" if med else "-"
        out.append(f"| {det} | {noise:g} % | {_fmt(mean(5.0, 'recall'))} | {_fmt(mean(10.0, 'recall'))} | "
                   f"{_fmt(mean(20.0, 'recall'))} | {w3 if med else '-'} | {fa:.3f} | {_fmt(fa_series)} | {delay} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-cell", type=int, default=25, help="series per (noise, variant, step) cell")
    ap.add_argument("--length", type=int, default=100, help="runs per series")
    ap.add_argument("--seed", type=int, default=20261127)
    args = ap.parse_args(argv)
    corpus = make_corpus(np.random.default_rng(args.seed), per_cell=args.per_cell, length=args.length)
    print(f"corpus: {len(corpus)} series x {args.length} runs, seed {args.seed}", file=sys.stderr)
    t0 = time.perf_counter()
    rows = evaluate(corpus, DETECTORS)
    print(f"evaluated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print("### All variants pooled (plain, 1 % outliers, bimodal, slow drift)\n")
    print(table(rows, VARIANTS))
    for variant in VARIANTS:
        print(f"\n### {variant}\n")
        print(table(rows, (variant,)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
