"""``python -m perf_tasks load``: run a load scenario against a target and judge it.

    python -m perf_tasks load --target http://127.0.0.1:8000 --scenario normal --profile smoke \\
        --out artifacts/load-normal.json [--rate 20] [--users 50] [--duration 30] [--journey NAME] \\
        [--allow HOST] [--seed 1] [--shards 2] [--locustfile FILE] [--merge a.json b.json]

Verdicts come from the one verdict engine (perf_tasks.alerts.rules.evaluate, with the rules in
--alerts), exactly as the weekly load DAG judges the same result: p95 latency <= p95_target_ms
(critical), error rate <= max_error_rate_pct (critical) and <= warn_error_rate_pct (warning).
A target whose measurement cannot carry a verdict (a p95 from fewer than 200 requests) is INVALID:
printed loudly, never a pass, and on its own it leaves the exit code at 0.

Allowlist: the target's host must be in the deployment's allowlist: loopback, plus ``allowlist`` in
config/safety.yaml, plus ``$PERF_LOAD_ALLOWLIST`` (comma-separated hosts, IPs, CIDRs). ``--allow``
only NARROWS it, as a DAG's ``allow`` param does; on your own machine you are the deployment, so
widen for one command with ``PERF_LOAD_ALLOWLIST=10.0.0.5 python -m perf_tasks load ...``. One rule
everywhere: a wrapper or CI job that passes user-chosen arguments through cannot widen it.

Exit codes: 1 the verdict is CRITICAL (a critical target missed) and the alerts file's
``run_state.fail_on`` is "critical" (the default); 0 otherwise (warnings and INVALID targets are
printed, with the verdict line of perf_tasks.verdict); 2 bad usage (malformed URL, host not in the allowlist, unknown scenario or
journey, bad config).

Wire into ``perf_tasks/cli.py`` with ``load_cli.add_parser(sub)`` and dispatch ``"load":
load_cli.run``. Standalone: ``python -m perf_tasks.load.cli ...``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perf_tasks.config import PROFILE_NAMES
from perf_tasks.errors import ConfigError, UserError

if TYPE_CHECKING:
    from perf_tasks.config import AlertRule
    from perf_tasks.load.scenario import LoadScenario

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCENARIOS = REPO_ROOT / "config" / "load_scenarios.yaml"
DEFAULT_JOURNEYS = REPO_ROOT / "config" / "load_journeys.yaml"
DEFAULT_ALERTS = REPO_ROOT / "config" / "alerts.yaml"
log = logging.getLogger(__name__)


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
        return value
    return parse


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``load`` command to an argparse subparsers object; returns its parser."""
    p = subparsers.add_parser("load", help="run a load scenario (open model, CO-free) against an allowed target",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--target", help="base URL, e.g. http://127.0.0.1:8000 (its host must be allowed)")
    p.add_argument("--scenario", help="scenario name in --scenarios")
    p.add_argument("--scenarios", type=Path, default=DEFAULT_SCENARIOS, help="scenarios YAML (default: %(default)s)")
    p.add_argument("--journeys", type=Path, default=DEFAULT_JOURNEYS, help="journeys YAML (default: %(default)s)")
    p.add_argument("--alerts", type=Path, default=DEFAULT_ALERTS,
                   help="alert rules YAML, as the DAGs use it (default: %(default)s)")
    p.add_argument("--profile", default="smoke", choices=PROFILE_NAMES,
                   help="smoke ~10 s, standard ~3 min, full as written (default: smoke)")
    p.add_argument("--out", type=Path, help="write the JSON result here")
    p.add_argument("--rate", type=_positive(float), default=None, help="requests per SECOND (overrides the scenario)")
    p.add_argument("--users", type=_positive(int), default=None, help="max in flight (open) / virtual users (closed)")
    p.add_argument("--duration", type=_positive(float), default=None, help="seconds (overrides the profile)")
    p.add_argument("--journey", default=None, help="journey name in --journeys (default: the scenario's)")
    p.add_argument("--model", choices=("open", "closed"), default=None)
    p.add_argument("--arrival", choices=("constant", "poisson"), default=None)
    p.add_argument("--allow", action="append", default=[], metavar="HOST",
                   help="narrow the deployment's allowlist to loopback and this host, IP or CIDR (repeatable); "
                        "it cannot widen it: set $PERF_LOAD_ALLOWLIST or config/safety.yaml for that")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-requests", type=_positive(int), default=None)
    p.add_argument("--timeout", type=_positive(float), default=None, help="per-request timeout, seconds")
    p.add_argument("--target-pid", type=int, default=None, help="sample this process (the target) with psutil")
    p.add_argument("--shards", type=_positive(int), default=1, help="run in K processes and merge exactly")
    p.add_argument("--locustfile", type=Path, default=None,
                   help="run this locustfile headless instead of the engine (closed model, Locust's percentiles)")
    p.add_argument("--merge", type=Path, nargs="+", default=None, metavar="RESULT_JSON",
                   help="merge shard result files into --out instead of running")
    return p


def _scenario_for(args: argparse.Namespace) -> LoadScenario:
    from perf_tasks.load.scenario import LoadScenario, get_scenario, load_scenarios, scale_for_profile

    if not args.scenario:
        raise UserError("--scenario is required (or --merge FILES)")
    scenarios = load_scenarios(args.scenarios)
    scaled = scale_for_profile(get_scenario(scenarios, args.scenario, source=str(args.scenarios)), args.profile)
    update: dict[str, Any] = {}
    if args.rate is not None:
        update["requests_per_minute"] = args.rate * 60.0
    if args.users is not None:
        update["users"] = args.users
    if args.duration is not None:
        factor = args.duration / scaled.duration_s
        update["duration_s"] = args.duration
        ramp = [s.model_dump() | {"duration_s": s.duration_s * factor} for s in scaled.ramp]
        excess = sum(s["duration_s"] for s in ramp) - args.duration
        if ramp and excess > 0:  # rounding of a ramp that fills the whole duration: trim it off the last stage
            ramp[-1]["duration_s"] -= excess
        update["ramp"] = ramp
    for key in ("model", "arrival", "journey"):
        if getattr(args, key) is not None:
            update[key] = getattr(args, key)
    if args.max_requests is not None:
        update["max_requests"] = args.max_requests
    if args.timeout is not None:
        update["timeout_s"] = args.timeout
    if not update:
        return scaled
    from pydantic import ValidationError

    from perf_tasks.config import format_validation_error
    try:
        return LoadScenario.model_validate(scaled.model_dump() | update)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "command line")) from None


def _alerts_file(path: Path) -> Any:
    """An alerts file (config/alerts.yaml), validated as the pipelines validate it."""
    from pydantic import ValidationError

    from perf_tasks.config import AlertsFile, format_validation_error, load_yaml_mapping
    try:
        return AlertsFile.model_validate(load_yaml_mapping(path, "alerts file"))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None


def _alert_rules(path: Path) -> list[AlertRule]:
    """The rules of an alerts file."""
    return _alerts_file(path).rules


def _merge(args: argparse.Namespace) -> int:
    from perf_tasks.load.result import merge_results, result_from_json, result_to_json
    from perf_tasks.load.summary import format_summary

    try:
        results = [result_from_json(p.read_text(), source=str(p)) for p in args.merge]
        merged = merge_results(results)
    except (OSError, ValueError) as exc:
        raise UserError(f"--merge: {exc}") from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(result_to_json(merged))
    print(format_summary(merged))
    return 0


def _execute(args: argparse.Namespace) -> int:
    from perf_tasks.load.safety import check_target, run_allowlist

    if args.out is None:
        raise UserError("--out FILE is required")
    if args.merge:
        return _merge(args)
    if not args.target:
        raise UserError("--target URL is required")
    allow = run_allowlist(REPO_ROOT / "config", args.allow, source="--allow")  # narrows, never widens
    target = check_target(args.target, allow, source="--target")  # before anything else happens
    scenario = _scenario_for(args)
    alerts = _alerts_file(args.alerts)
    rules = alerts.rules
    from perf_tasks.load.result import result_to_json
    from perf_tasks.verdict import judge_run
    from perf_tasks.load.summary import evaluate_result, format_summary

    if args.locustfile is not None:
        from perf_tasks.load.locust_adapter import run_locustfile

        result = run_locustfile(args.locustfile, target.base_url, users=scenario.users,
                                duration_s=scenario.duration_s, scenario=scenario.name, allow=allow,
                                workdir=args.out.parent)
    else:
        from perf_tasks.load.journey import load_journeys
        from perf_tasks.load.runner import run_sharded
        from perf_tasks.load.scenario import plan_for_scenario

        journeys = load_journeys(args.journeys)
        plan = plan_for_scenario(scenario, target.base_url, journeys, journeys_source=str(args.journeys),
                                 seed=args.seed, allow=allow, target_pid=args.target_pid)
        try:
            result = run_sharded(plan, args.shards)
        except ValueError as exc:  # e.g. more shards than users
            raise UserError(str(exc)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(result_to_json(result))
    evaluation = evaluate_result(result, scenario, rules, profile=args.profile)
    print(format_summary(result, evaluation))
    for v in evaluation.invalid:
        log.warning("%s is INVALID (not judged): %s", v.metric, v.reason)
    print(f"result: {args.out}")
    # the one verdict (perf_tasks.verdict) and run_state.fail_on, as every run kind decides its exit code
    return 1 if judge_run(evaluation, fail_on=alerts.run_state.fail_on).fails_run else 0


def run(args: argparse.Namespace) -> int:
    """Run the ``load`` command; returns the exit code (0 no critical target missed, 1 a critical
    target missed, 2 bad usage)."""
    try:
        return _execute(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf_tasks.load.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["load", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
