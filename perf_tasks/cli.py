"""``python -m perf_tasks``: the pipelines without Airflow (CI/CD integration).

    python -m perf_tasks run daily --profile smoke [--artifacts URL] [--suites risk,market_data]
    python -m perf_tasks show perf_daily [--run-id ID] [--artifacts URL]
    python -m perf_tasks baseline list|promote perf_daily [--run-id ID]
    python -m perf_tasks load --target URL --scenario NAME --profile P --out FILE [--rate --users --duration]
    python -m perf_tasks regress --history FILE.csv [--metric NAME] [--direction lower|higher]

Exit codes: 0 all good; 1 a critical threshold was violated or a step failed; 2 bad usage or
config (nothing was measured).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from perf_tasks import pipeline
from perf_tasks.alerts.slack import webhook_sender
from perf_tasks.errors import PerfError, UserError
from perf_tasks.report.text import markdown_table, summary_table
from perf_tasks.results import Comparison, Evaluation, from_json, to_dict
from perf_tasks.store import RunArtifacts, open_store, run_index

log = logging.getLogger("perf_tasks.cli")
DAILY_DAG_ID = "perf_daily"


def _parse_override(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--target {text!r}: expected suite.benchmark.metric=NUMBER")
    try:
        return key.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--target {text!r}: {value!r} is not a number") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m perf_tasks", description=__doc__.split("\n\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline once, without Airflow")
    run.add_argument("pipeline", choices=["daily"])
    run.add_argument("--profile", default="smoke", choices=pipeline.PROFILES)
    run.add_argument("--suites", default="", help="comma-separated suites (default: all in config)")
    run.add_argument("--artifacts", default=None, help="file:///path or s3://bucket/prefix "
                     "(default: $PERF_ARTIFACTS_URL or ./artifacts)")
    run.add_argument("--config-dir", default=str(pipeline.DEFAULT_CONFIG_DIR))
    run.add_argument("--target", action="append", type=_parse_override, default=[], metavar="METRIC=VALUE",
                     help="override a target, e.g. risk.var_monte_carlo.latency_p95_ms=100 (repeatable)")
    run.add_argument("--run-id", default=None, help="default: cli__<UTC timestamp>")
    run.add_argument("--no-notify", action="store_true", help="write the Slack message to the outbox only")
    run.add_argument("--promote", action="store_true", help="make this run the baseline if it succeeds")
    run.add_argument("--json", type=Path, default=None, help="write evaluation + comparison as JSON here")
    run.add_argument("--junit", type=Path, default=None, help="write targets as JUnit XML here")

    show = sub.add_parser("show", help="print the summary of a finished run from the artifact store")
    show.add_argument("dag_id")
    show.add_argument("--run-id", default=None, help="default: the newest finished run")
    show.add_argument("--artifacts", default=None)
    show.add_argument("--markdown", action="store_true", help="print the targets as a Markdown table (for READMEs)")
    base = sub.add_parser("baseline", help="list or promote baselines (kept in the artifact store)")
    base.add_argument("action", choices=["list", "promote"])
    base.add_argument("dag_id")
    base.add_argument("--run-id", default=None, help="promote: the run (default: the newest finished run)")
    base.add_argument("--note", default="")
    base.add_argument("--artifacts", default=None)

    from perf_tasks.load import cli as load_cli  # light: argparse only until it runs
    load_cli.add_parser(sub)

    reg = sub.add_parser("regress", help="find level changes in a metric history (CSV) and print them as JSON")
    reg.add_argument("--history", type=Path, required=True,
                     help="CSV: timestamp,value[,commit] or timestamp[,commit],<metric>,<metric>...")
    reg.add_argument("--metric", default=None, help="one metric column (default: every numeric column)")
    reg.add_argument("--direction", choices=["lower", "higher"], default="lower",
                     help="which way is better (latency: lower; throughput: higher)")
    reg.add_argument("--method", choices=["online", "whole"], default="online",
                     help="online: replay one run at a time, as the pipeline alerts (default); "
                          "whole: E-divisive change points (Apache Otava) over the whole history")
    return p


def cmd_baseline(args: argparse.Namespace) -> int:
    from perf_tasks.regress.baselines import list_baselines, promote

    store = open_store(args.artifacts or pipeline.default_artifacts_url(), source="--artifacts")
    if args.action == "list":
        print(json.dumps(list_baselines(store, args.dag_id), indent=2))
        return 0
    run_id = args.run_id
    if run_id is None:
        index = [e for e in run_index(store, args.dag_id) if e.get("status") == "success"]
        if not index:
            raise UserError(f"no successful run of {args.dag_id} in {store.url} to promote")
        run_id = index[0]["run_id"]
    doc = promote(store, args.dag_id, run_id, note=args.note, promoted_by="cli")
    print(f"run {run_id} is now baseline v{doc['version']} of {args.dag_id}")
    return 0


def cmd_regress(args: argparse.Namespace) -> int:
    from perf_tasks.regress.history import detect_changes, read_history_csv

    out = {}
    for history in read_history_csv(args.history, metric=args.metric):
        changes = detect_changes(history, direction=args.direction, method=args.method)
        out[history.metric] = {"runs": len(history.values), "changes": [to_dict(c) for c in changes]}
    print(json.dumps(out, indent=2))
    return 0


def _sender() -> tuple[object, str]:
    url = os.environ.get("SLACK_WEBHOOK_URL")
    return (webhook_sender(url), "SLACK_WEBHOOK_URL") if url else (None, "outbox (SLACK_WEBHOOK_URL not set)")


def write_junit(path: Path, evaluation: Evaluation) -> None:
    suite = ET.Element("testsuite", name="perf_targets", tests=str(len(evaluation.verdicts)),
                       failures=str(sum(not v.passed for v in evaluation.verdicts)))
    for v in evaluation.verdicts:
        case = ET.SubElement(suite, "testcase", classname=v.metric.rsplit(".", 1)[0], name=v.metric.rsplit(".", 1)[1])
        if not v.passed:
            ET.SubElement(case, "failure", message=f"{v.value:.6g} {v.unit}, target {v.op} {v.threshold:g} {v.unit}",
                          type=v.severity)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)


def cmd_run(args: argparse.Namespace) -> int:
    run_id = args.run_id or "cli__" + datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%fZ")
    suites = tuple(s.strip() for s in args.suites.split(",") if s.strip())
    url = args.artifacts or pipeline.default_artifacts_url()
    store = open_store(url, source="--artifacts")
    spec = pipeline.RunSpec(dag_id=DAILY_DAG_ID, run_id=run_id, profile=args.profile, suites=suites,
                            notify=not args.no_notify, target_overrides=dict(args.target), artifacts_url=url,
                            config_dir=args.config_dir, promote_baseline=args.promote)
    work = pipeline.work_dir_for(DAILY_DAG_ID, run_id)
    sender, channel = _sender()
    print(f"perf_daily {run_id}: profile {args.profile}, artifacts {url}", file=sys.stderr)
    try:
        names = pipeline.setup_environment(work, spec)
        for suite in names:
            pipeline.run_suite(work, suite)
        pipeline.validate_results_step(work)
        evaluation = pipeline.evaluate_run(work)
        comparison = pipeline.compare_to_baseline(work, store)
        pipeline.build_report(work)
        pipeline.persist_artifacts(work, store)
    except UserError:
        if not (work / "run.json").exists():
            raise  # failed validation: nothing was measured
        log.exception("a step failed")
    except PerfError:
        log.exception("a step failed")
    try:
        outcome = pipeline.notify(work, store, sender, channel=channel)  # type: ignore[arg-type]
    except PerfError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    evaluation = from_json(Evaluation, (work / "evaluation.json").read_text())
    comparison = from_json(Comparison, (work / "comparison.json").read_text())
    print(summary_table(evaluation, comparison))
    print(f"\nreport: {pipeline.report_url(pipeline.load_spec(work))}")
    print(f"alert: {outcome.delivery.status} via {outcome.delivery.channel}"
          + (f" ({outcome.delivery.outbox_path})" if outcome.delivery.outbox_path else ""))
    if args.json:
        args.json.write_text(json.dumps({"evaluation": to_dict(evaluation), "comparison": to_dict(comparison)}, indent=2))
    if args.junit:
        write_junit(args.junit, evaluation)
    return 1 if evaluation.critical else 0


def cmd_show(args: argparse.Namespace) -> int:
    url = args.artifacts or pipeline.default_artifacts_url()
    store = open_store(url, source="--artifacts")
    run_id = args.run_id
    if run_id is None:
        index = run_index(store, args.dag_id)
        if not index:
            print(f"no finished run of {args.dag_id} in {store.url}", file=sys.stderr)
            return 2
        run_id = index[0]["run_id"]
    run = RunArtifacts(store, args.dag_id, run_id)
    manifest = run.verify()
    evaluation = from_json(Evaluation, store.get_bytes(run.key("evaluation.json")).decode())
    comparison = (from_json(Comparison, store.get_bytes(run.key("comparison.json")).decode())
                  if store.exists(run.key("comparison.json")) else None)
    if args.markdown:
        env = store.get_json(run.key("environment.json"))["fingerprint"]
        print(markdown_table(evaluation, env, run_id))
        return 0
    print(f"{args.dag_id} run {run_id}: {manifest['status']} at {manifest['finished_at']}, "
          f"{len(manifest['artifacts'])} artifacts (sha256 verified)\n")
    print(summary_table(evaluation, comparison))
    print(f"\nreport: {run.uri('report.html')}")
    delivery = manifest["summary"].get("delivery")
    print(f"alert: {delivery}")
    return 1 if manifest["status"] != "success" or evaluation.critical else 0


def _load(args: argparse.Namespace) -> int:
    from perf_tasks.load import cli as load_cli

    return load_cli.run(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    try:
        return {"run": cmd_run, "show": cmd_show, "baseline": cmd_baseline, "regress": cmd_regress,
                "load": _load}[args.command](args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
