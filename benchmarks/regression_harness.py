"""Change-detection evaluation harness (issue: regression alerts that catch real regressions).

    PYTHONPATH=. .venv/bin/python benchmarks/regression_harness.py [--per-cell 25] [--null-cells 4]
        [--seed 20261129] [--jobs 2] [--noises 2,3] [--variants gauss,heavy,...]

A seeded corpus (perf_tasks/regress/harness.py: 120 runs per series, noise at 2 % and 3 %, seven
variants, steps of 1.5 noise sigmas, 10 % and 20 %; no-change cells get ``--null-cells`` times
more series, so a false-alarm rate near 2 % is resolved) scored for every detector:

* naive: a run more than 10 % off the previous run;
* Otava defaults, run once over the whole history (no delay: it runs at the end);
* previous default: robust band + Mann-Whitney U, one run at a time;
* ours: the whole-history pass re-run at every run (perf_tasks.regress.levels.replay), which the
  DAG and the ``regress`` CLI alert on.

Prints Markdown: a summary per variant, then one table per variant, then the real series
(TigerBeetle's benchmark history from Apache Otava's tests, tests/fixtures/regress/) with its
expected change points. Nothing is timed except the wall time printed to stderr.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from perf_tasks.regress.detect import naive_alerts, online_alerts, otava_change_points
from devtools.regress_harness import STEPS, VARIANTS, CellResult, Series, cells, evaluate_cell, make_series
from perf_tasks.regress.levels import LevelConfig, analyse, replay

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "regress" / "tigerbeetle.csv"


def naive(v: Sequence[float]) -> list[Any]:
    return naive_alerts(v, 10.0)


def otava_defaults(v: Sequence[float]) -> list[Any]:
    return otava_change_points(v)


def previous(v: Sequence[float]) -> list[Any]:
    return online_alerts(v)


def ours(v: Sequence[float]) -> list[Any]:
    return replay(v, LevelConfig())


# name -> (function, online?): online detectors are replayed one run at a time and have a delay
DETECTORS = {
    "naive 10 % vs previous run": (naive, True),
    "Otava defaults, whole history once": (otava_defaults, False),
    "previous default: robust band + MWU": (previous, True),
    "ours: whole-history pass at every run": (ours, True),
}
OURS = "ours: whole-history pass at every run"
NEAR = f"{1.5:g} σ"


def make_corpus(seed: int, per_cell: int, null_cells: int, noises: Sequence[float],
                variants: Sequence[str]) -> list[Series]:
    rng = np.random.default_rng(seed)
    return [make_series(rng, length=120, noise_pct=n, step=s, variant=v)
            for n in noises for v in variants for s in STEPS
            for _ in range(per_cell * (null_cells if s == "none" else 1))]


def _job(args: tuple[str, list[Series]]) -> CellResult:
    name, group = args
    detect, online = DETECTORS[name]
    return evaluate_cell(name, detect, online, group)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def _delay(delays: Sequence[int]) -> str:
    return f"{np.median(delays):.0f} / {np.percentile(delays, 90):.0f}" if delays else "-"


def _by(rows: list[CellResult], det: str, noise: float, variant: str) -> dict[str, CellResult]:
    return {r.step: r for r in rows if r.detector == det and r.noise_pct == noise and r.variant == variant}


def _extra(by: dict[str, CellResult], variant: str) -> str:
    rs = list(by.values())
    if variant == "spikes":
        spikes = sum(r.spikes for r in rs)
        return (f"series with a spike reported as a level change: {sum(r.series_with_spike_level for r in rs)}; "
                f"spikes reported as transients: {sum(r.spikes_as_transients for r in rs)} of {spikes}")
    if variant == "noise":
        return (f"changes of noise reported: {sum(r.noise_found for r in rs)} of {sum(r.noise_changes for r in rs)}")
    if variant == "plateaus":
        return f"level changes at a plateau's start or end (allowed): {sum(r.plateau_levels for r in rs)}"
    false_noise = sum(r.series_with_false_noise for r in rs)
    return f"series with a false noise report: {false_noise}" if false_noise else ""


def variant_table(rows: list[CellResult], variant: str, noises: Sequence[float]) -> str:
    out = [f"| detector | noise | recall {NEAR} / 10 % / 20 % | 10 % within 3 runs | delay 10 %: median / p90 "
           "| delay 20 %: median / p90 | no-change series with a false alarm | false alarms per 100 runs | other |",
           "|---|---|---|---|---|---|---|---|---|"]
    for det in DETECTORS:
        for noise in noises:
            by = _by(rows, det, noise, variant)
            if not by:
                continue
            rec = " / ".join(_pct(by[s].recall) if s in by else "-" for s in ("near", "10 %", "20 %"))
            null = by.get("none")
            fa = f"{null.series_with_false_alarm} of {null.series}" if null else "-"
            runs = sum(r.runs for r in by.values())
            fa100 = 100.0 * sum(r.false_alarms for r in by.values()) / runs
            w3 = _pct(by["10 %"].recall_within_3) if "10 %" in by else "-"
            d10 = _delay(by["10 %"].delays) if "10 %" in by else "-"
            d20 = _delay(by["20 %"].delays) if "20 %" in by else "-"
            other = _extra(by, variant) if det == OURS or variant in ("spikes",) else ""
            out.append(f"| {det} | {noise:g} % | {rec} | {w3} | {d10} | {d20} | {fa} | {fa100:.2f} | {other} |")
    return "\n".join(out)


def summary_table(rows: list[CellResult], variants: Sequence[str], noises: Sequence[float]) -> str:
    """Per variant and noise, each detector as "recall of 10 % steps · median delay in runs ·
    no-change series with a false alarm", and whether ours meets the goals."""
    dets = list(DETECTORS)
    out = [f"| variant | noise | {' | '.join(dets)} | ours meets the goals |",
           "|---|---|" + "---|" * len(dets) + "---|"]
    for variant in variants:
        for noise in noises:
            cols = []
            for det in dets:
                by = _by(rows, det, noise, variant)
                ten, null = by.get("10 %"), by.get("none")
                delay = f"{np.median(ten.delays):.0f}" if ten and ten.delays else "-"
                fa = _pct(null.series_with_false_alarm / null.series) if null else "-"
                cols.append(f"{_pct(ten.recall) if ten else '-'} · {delay} · {fa}")
            out.append(f"| {variant} | {noise:g} % | {' | '.join(cols)} | {_goals(_by(rows, OURS, noise, variant))} |")
    return "\n".join(out)


def _goals(by: dict[str, CellResult]) -> str:
    """recall >= 95 % of 10 % steps; <= 2 % of no-change series with a false alarm; median delay
    <= 3 runs (10 % steps); no spike reported as a level change."""
    missed = []
    ten, null = by.get("10 %"), by.get("none")
    if ten and ten.recall is not None and ten.recall < 0.95:
        missed.append(f"recall {_pct(ten.recall)}")
    if null and null.series_with_false_alarm / null.series > 0.02:
        missed.append(f"false alarms {_pct(null.series_with_false_alarm / null.series)}")
    if ten and ten.delays and np.median(ten.delays) > 3:
        missed.append(f"delay {np.median(ten.delays):.0f}")
    spikes = sum(r.series_with_spike_level for r in by.values())
    if spikes:
        missed.append(f"{spikes} spike(s) as levels")
    return "yes" if not missed else "no: " + ", ".join(missed)


# --- the real series --------------------------------------------------------------------------

def read_fixture(path: Path = FIXTURE) -> tuple[list[float], dict[str, list[int]]]:
    """TigerBeetle's series and its labelled runs from the CSV fixture ``run,value,expected``:
    ``level`` (a step), ``slope`` (a change point within the slow climb that Otava's own tests
    find at their strictest setting: acceptable, not required), ``transient`` (went off and came
    back)."""
    values: list[float] = []
    labels: dict[str, list[int]] = {"level": [], "slope": [], "transient": []}
    for i, line in enumerate(path.read_text().splitlines()):
        if i == 0 or not line.strip():
            continue
        idx, value, expected = (line.split(",") + [""])[:3]
        values.append(float(value))
        if expected.strip():
            labels[expected.strip()].append(int(idx))
    return values, labels


def real_series_table() -> str:
    values, labels = read_fixture()
    levels, slope = labels["level"], labels["slope"]
    rows = ["| detector | level changes found: first run (found at run) | expected found (within 2 runs) "
            "| in the slope (acceptable) | others | transients |", "|---|---|---|---|---|---|"]
    found = {
        "naive 10 % vs previous run": [(a.index, None) for a in naive(values)],
        "Otava defaults, whole history once": [(a.index, None) for a in otava_defaults(values)],
        "previous default: robust band + MWU": [(a.index, a.at) for a in previous(values)],
        OURS: [(c.index, c.at) for c in replay(values, LevelConfig()) if c.kind == "level"],
        "ours, one pass at the end (--method whole)": [(c.index, None) for c in analyse(values, LevelConfig())
                                                       if c.kind == "level"],
    }
    ours_transients = sorted({c.index for c in replay(values, LevelConfig()) if c.kind == "transient"})

    def near(i: int, marks: list[int]) -> bool:
        return any(abs(i - e) <= 2 for e in marks)

    for det, hits in found.items():
        idx = sorted({i for i, _at in hits})
        matched = [e for e in levels if near(e, idx)]
        in_slope = [i for i in idx if near(i, slope) and not near(i, levels)]
        other = [i for i in idx if not near(i, levels) and not near(i, slope)]
        shown = ", ".join(f"{i} ({at})" if at is not None else str(i) for i, at in sorted(hits)) or "-"
        tr = ", ".join(map(str, ours_transients)) if det == OURS else "-"
        rows.append(f"| {det} | {shown} | {len(matched)} of {len(levels)} | {len(in_slope)} | {len(other)} | {tr} |")
    head = (f"{len(values)} runs of TigerBeetle's benchmark (throughput, higher is better), from Apache Otava's "
            f"tests (`tests/tigerbeetle_test.py`), in `tests/fixtures/regress/tigerbeetle.csv`. Expected level "
            f"changes at runs {', '.join(map(str, levels))}; a one-run drop at run "
            f"{', '.join(map(str, labels['transient']))} that came back (a transient); a slow climb after run 95 "
            f"in which Otava's strictest test setting finds {', '.join(map(str, slope))}.")
    return head + "\n\n" + "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-cell", type=int, default=25, help="series per (noise, variant, step) cell")
    ap.add_argument("--null-cells", type=int, default=4, help="no-change cells hold this many times more series")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--noises", default="2,3", help="noise levels in %%, comma-separated")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args(argv)
    noises = [float(x) for x in args.noises.split(",")]
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or args.per_cell < 1 or args.null_cells < 1 or args.jobs < 1:
        ap.error(f"bad arguments: unknown variants {unknown} (known: {VARIANTS}); per-cell, null-cells and jobs >= 1")
    t0 = time.perf_counter()
    corpus = make_corpus(args.seed, args.per_cell, args.null_cells, noises, variants)
    groups = list(cells(corpus).values())
    jobs = [(name, g) for name in DETECTORS for g in groups]
    jobs.sort(key=lambda j: j[0] != OURS)  # the slow ones first
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(_job, jobs))
    else:
        rows = [_job(j) for j in jobs]
    wall = time.perf_counter() - t0
    print(f"corpus: {len(corpus)} series x 120 runs, seed {args.seed}; evaluated in {wall:.0f} s with "
          f"{args.jobs} worker(s)", file=sys.stderr)
    print(f"Corpus: {len(corpus)} series x 120 runs (seed {args.seed}; {args.per_cell} series per stepped cell, "
          f"{args.per_cell * args.null_cells} per no-change cell; noise {', '.join(f'{n:g} %' for n in noises)}).\n")
    print("### Summary per variant\n")
    print("Each cell: recall of 10 % steps · median delay (runs from the step to the alert; \"-\" for a detector "
          "run once at the end) · share of no-change series with a false alarm.\n")
    print(summary_table(rows, variants, noises))
    for variant in variants:
        print(f"\n### {variant}\n")
        print(variant_table(rows, variant, noises))
    if FIXTURE.exists():
        print("\n### A real series with known changes\n")
        print(real_series_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
