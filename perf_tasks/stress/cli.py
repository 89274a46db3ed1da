"""``python -m perf_tasks stress``: the monthly stress DAG's run, without Airflow.

    python -m perf_tasks stress --scenarios cpu_saturation,net_latency --intensity 0.5 --profile smoke \\
        [--target http://127.0.0.1:8000] [--allow HOST] [--window-s 5] [--json out.json] [--junit out.xml]
    python -m perf_tasks stress --list

The same steps as ``perf_stress_monthly`` (setup -> each scenario -> collect -> validate ->
evaluate -> compare -> report -> persist -> notify, teardown always), judged by the one verdict
engine; it is ``python -m perf_tasks run stress --opt ...`` with friendlier flags. Exit codes as
``run``: 0 no critical violation; 1 a critical violation or a failed step; 2 bad usage or config.

This module only declares the flags and maps them to the kind's options (:func:`kind_options`);
``perf_tasks/cli.py`` adds the parser and runs it (``cli.run_kind``): it never imports the CLI back.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from perf_tasks.config import PROFILE_NAMES


def _intensity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be within (0, 1]")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``stress`` command to an argparse subparsers object; returns its parser."""
    p = subparsers.add_parser("stress", help="run stress, failure and recovery scenarios (the monthly DAG's run)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", default="",
                   help="comma-separated scenario names (default: config/stress.yaml's default_scenarios)")
    p.add_argument("--list", action="store_true",
                   help="list every scenario (what it does, what it needs) and exit")
    p.add_argument("--intensity", type=_intensity, default=1.0, help="0 < x <= 1: stressor strength (default 1)")
    p.add_argument("--profile", default="smoke", choices=PROFILE_NAMES, help="default: smoke")
    p.add_argument("--target", default="", help="an existing service (allowlisted); default: start the bundled one")
    p.add_argument("--allow", action="append", default=[], metavar="HOST",
                   help="narrow the deployment's allowlist for --target to loopback and this host, IP or CIDR "
                        "(repeatable); it cannot widen it: set $PERF_LOAD_ALLOWLIST or config/safety.yaml")
    p.add_argument("--window-s", type=float, default=None,
                   help="resource stressors: seconds per load window (default: the profile's)")
    p.add_argument("--artifacts", default=None, help="file:///path or s3://bucket/prefix")
    p.add_argument("--config-dir", default=None)
    p.add_argument("--run-id", default=None)
    p.add_argument("--no-notify", action="store_true", help="write the Slack message to the outbox only")
    p.add_argument("--json", type=Path, default=None, help="write the outcome as JSON here")
    p.add_argument("--junit", type=Path, default=None, help="write JUnit XML here")
    return p


def kind_options(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """The stress kind's options of these flags (what ``run stress --opt NAME=VALUE`` would pass)."""
    opts: list[tuple[str, Any]] = [("intensity", args.intensity)]
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if names:
        opts.append(("scenarios", names))
    if args.target:
        opts.append(("target_url", args.target))
    if args.allow:
        opts.append(("allow", list(args.allow)))
    if args.window_s is not None:
        opts.append(("window_s", args.window_s))
    return opts


def scenario_list() -> str:
    """``stress --list``: one line per scenario: name, kind, what it does, what it needs (from each
    scenario's docstring)."""
    from perf_tasks.stress.catalog import format_list, scenarios

    return format_list(scenarios())
