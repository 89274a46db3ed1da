"""``python -m perf_tasks``: the pipelines without Airflow (CI/CD integration).

    python -m perf_tasks run daily|load|stress|scale --profile smoke [--artifacts URL] [--suites risk,market_data]
                         [--opt NAME=VALUE ...]   (a kind's own options: its DAG's trigger params)
    python -m perf_tasks stress [--scenarios a,b] [--intensity 0.5] [--list]   (= run stress)
    python -m perf_tasks scale [--opt NAME=VALUE ...]                         (= run scale)
    python -m perf_tasks show perf_daily [--run-id ID] [--artifacts URL]
    python -m perf_tasks baseline list|promote perf_daily [--run-id ID]
    python -m perf_tasks seal perf_daily --run-id ID [--artifacts URL]   (a run whose upload failed)
    python -m perf_tasks load --target URL --scenario NAME --profile P --out FILE [--rate --users --duration]
    python -m perf_tasks regress --history FILE.csv [--metric COLUMN] [--direction [COLUMN=]lower|higher ...]
                                 [--columns timestamp=NAME,commit=NAME] [--method history|whole|online|otava]
                                 [--fail-on never|regression] [--json]   (text summary; exit 1: a regression
                                 with --fail-on regression; see perf_tasks/regress/cli.py)

The verdict (PASS / WARNING / INVALID / CRITICAL, perf_tasks.verdict) is printed last, after the
findings, worst first. Exit codes: 1 when the run fails as the DAG's ``verdict`` task would fail it
(a failed step; a CRITICAL verdict with alerts.yaml ``run_state.fail_on: critical``, the default;
``never`` keeps 0), or when the run could not be sealed in the store; 0 otherwise (WARNING and
INVALID are reported loudly, an INVALID that would have missed its target as a finding, but do not
change 0 on their own); 2 bad usage or config (nothing was measured).

``run --json FILE --junit FILE`` writes both files however the run ends, exit 2 included (then
``evaluation`` is null and ``error`` says what was wrong). The JSON carries the exit code, run id,
work folder, report location, failed steps with their errors, every step's state, and the
evaluation and comparison when those steps finished. The JUnit file has one testcase per target
(failure typed warning/critical; skipped for INVALID), per alert-rule violation, and per pipeline
step (error for a failed step, skipped for one that never ran). Only argparse usage errors exit 2
before anything is written.
"""
from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from perf_tasks import pipeline
from perf_tasks.alerts.slack import webhook_sender
from perf_tasks.errors import ConfigError, PerfError, UserError
from perf_tasks.kinds import KINDS, get_kind
from perf_tasks.report.text import markdown_table, summary_table, verdict_block
from perf_tasks.results import Comparison, Evaluation, from_json, to_dict
from perf_tasks.store import RunArtifacts, open_store, run_index
from perf_tasks.tail import TAIL, TailStep
from perf_tasks.verdict import judge_run

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


def _parse_option(text: str) -> tuple[str, Any]:
    """``--opt NAME=VALUE``: VALUE as JSON when it parses (numbers, true/false, lists), else text."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"--opt {text!r}: expected NAME=VALUE")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return name.strip(), parsed


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """The options of ``run`` (and of its per-kind aliases such as ``scale``)."""
    run.add_argument("--profile", default="smoke", choices=pipeline.PROFILES)
    run.add_argument("--suites", default="", help="daily: comma-separated suites (default: all in config)")
    run.add_argument("--opt", action="append", type=_parse_option, default=[], metavar="NAME=VALUE",
                     help="an option of the kind, as its DAG's trigger param of that name, e.g. "
                          "--opt scenarios=normal,peak --opt shards=2 (load); repeatable")
    run.add_argument("--artifacts", default=None, help="file:///path or s3://bucket/prefix "
                     "(default: $PERF_ARTIFACTS_URL or ./artifacts)")
    run.add_argument("--config-dir", default=None,
                     help="the config folder (default: $PERF_CONFIG_DIR, else the bundled config/)")
    run.add_argument("--system", default=None, metavar="NAME",
                     help="the system under test, of the config folder's systems.yaml (default: $PERF_SYSTEM, "
                          "else the file's default)")
    run.add_argument("--target", action="append", type=_parse_override, default=[], metavar="METRIC=VALUE",
                     help="override a target, e.g. risk.var_monte_carlo.latency_p95_ms=100 (repeatable)")
    run.add_argument("--run-id", default=None, help="default: cli__<UTC timestamp>")
    run.add_argument("--no-notify", action="store_true", help="write the Slack message to the outbox only")
    run.add_argument("--promote", action="store_true", help="make this run the baseline if it succeeds")
    run.add_argument("--json", type=Path, default=None,
                     help="write the outcome as JSON here, however the run ends (exit 2 included: then "
                          "'evaluation' is null and 'error' names the config problem): exit code, run id, work "
                          "folder, report, failed steps, evaluation and comparison (null when not reached)")
    run.add_argument("--junit", type=Path, default=None,
                     help="write JUnit XML here, however the run ends: a testcase per target (failure: "
                          "warning/critical; skipped: INVALID), per alert, and per pipeline step (error: failed)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m perf_tasks", description=__doc__.split("\n\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline once, without Airflow",
                         epilog="exit codes: 1 the run fails as its DAG's verdict task would (a failed step, the "
                                "store included; CRITICAL with alerts.yaml run_state.fail_on: critical); 0 "
                                "otherwise (WARNING and INVALID are reported, not failed); 2 bad usage or config, "
                                "nothing measured. --json and --junit are written in all three cases.")
    run.add_argument("pipeline", choices=list(KINDS), metavar="KIND",
                     help=f"what to run: {', '.join(KINDS)} (the DAG's own steps, in this process)")
    add_run_arguments(run)
    scale = sub.add_parser("scale", help="the quarterly scalability sweep (= run scale; options as --opt NAME=VALUE, "
                                         "see docs/scalability.md)")
    scale.set_defaults(pipeline="scale")
    add_run_arguments(scale)

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
    seal = sub.add_parser("seal",
                          help="upload and seal a run whose upload failed, from its local work folder "
                               "(once the store is reachable again)")
    seal.add_argument("dag_id")
    seal.add_argument("--run-id", required=True)
    seal.add_argument("--artifacts", default=None, help="default: the store the run was started with")

    site = sub.add_parser("site", help="write the DAG's history site into the artifact store "
                                       "(<dag>/_site/index.html: runs with verdicts, a page per metric)")
    site.add_argument("dag_id")
    site.add_argument("--artifacts", default=None, help="file:///path or s3://bucket/prefix "
                      "(default $PERF_ARTIFACTS_URL, else ./artifacts)")
    site.add_argument("--max-runs", type=int, default=500, help="newest runs listed (default 500)")

    from perf_tasks.load import cli as load_cli  # light: argparse only until it runs
    load_cli.add_parser(sub)
    from perf_tasks.stress import cli as stress_cli  # light: argparse only until it runs
    stress_cli.add_parser(sub)

    from perf_tasks.regress import cli as regress_cli  # light: argparse only until it runs
    regress_cli.add_parser(sub)
    return p


def cmd_seal(args: argparse.Namespace) -> int:
    """Upload a run's work folder and write its manifest: for a run whose persist or notify step
    could not reach the store. Exit 0 when sealed; 2 (with the reason) when it cannot be."""
    work = pipeline.work_dir_for(args.dag_id, args.run_id)
    if not (work / "run.json").exists():
        raise UserError(f"no work folder for run {args.run_id!r} of {args.dag_id} at {work} "
                        "(seal runs on the machine that ran it, with the same PERF_WORK_DIR)")
    spec = pipeline.load_spec(work)
    url = args.artifacts or spec.artifacts_url or pipeline.default_artifacts_url()
    store = open_store(url, source="--artifacts" if args.artifacts else f"{work / 'run.json'}: artifacts_url")
    delivery = json.loads((work / "alerts" / "delivery.json").read_text()).get("status", "unknown") \
        if (work / "alerts" / "delivery.json").exists() else "unknown"
    sealed = pipeline.seal_run(work, store, spec, delivery_status=delivery,
                               failed=pipeline.failed_steps(work, spec))
    print(f"run {args.run_id} of {args.dag_id} sealed: {sealed}")
    return 0


def cmd_site(args: argparse.Namespace) -> int:
    """Build the history site from the store's sealed runs and write it there."""
    out = pipeline.history_site(args.dag_id, artifacts_url=args.artifacts or "", max_runs=args.max_runs)
    print(f"history site of {args.dag_id}: {out.index_uri} ({out.runs} runs, {out.metrics} metric pages)")
    return 0


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
    from perf_tasks.regress import cli as regress_cli

    return regress_cli.run(args)


def _sender() -> tuple[object, str]:
    url = os.environ.get("SLACK_WEBHOOK_URL")
    return (webhook_sender(url), "SLACK_WEBHOOK_URL") if url else (None, "outbox (SLACK_WEBHOOK_URL not set)")


def _optional(work: Path, cls: type, rel: str) -> Any:
    """A result document the run wrote, or None when that step never got there (or wrote garbage)."""
    try:
        return pipeline.read_optional(work, cls, rel)
    except (OSError, ValueError) as exc:
        log.error("cannot read %s: %s", work / rel, exc)
        return None


def step_states(work: Path, failed: dict[str, str]) -> list[dict[str, Any]]:
    """Every step of the run in the order it ran (``status/<step>.json``), then the ones that never
    ran (from ``failed``: :func:`perf_tasks.pipeline.failed_steps`)."""
    states = []
    for path in sorted((work / "status").glob("*.json")) if (work / "status").is_dir() else []:
        try:
            states.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            states.append({"step": path.stem, "state": "failed", "error": f"unreadable status file: {exc}"})
    states.sort(key=lambda s: s.get("at", ""))
    seen = {s["step"] for s in states}
    states += [{"step": name, "state": "not_run", "error": why} for name, why in failed.items() if name not in seen]
    return states


@dataclass
class RunOutcome:
    """What ``run`` learned, collected as it goes, so --json/--junit can be written however it ends."""

    run_id: str
    work: Path
    artifacts_url: str
    dag_id: str = DAILY_DAG_ID
    exit_code: int = 1
    error: str | None = None  # what ended the run early (a config error, a failed step, the seal), if anything


def _report_location(work: Path, spec: pipeline.RunSpec | None, failed: dict[str, str]) -> dict[str, Any]:
    local = work / "report.html"
    stored = None
    if spec is not None and local.exists() and "persist_artifacts" not in failed:
        stored = pipeline.report_url(spec)
    return {"local": str(local) if local.exists() else None, "stored": stored}


def run_document(outcome: RunOutcome) -> dict[str, Any]:
    """The --json document: whatever the run produced, and how it failed. Pure apart from reading
    the work folder. ``evaluation`` / ``comparison`` are null when their step never finished."""
    work = outcome.work
    try:
        spec = pipeline.load_spec(work) if (work / "run.json").exists() else None
    except (PerfError, OSError, ValueError, TypeError) as exc:
        log.error("cannot read the run spec in %s: %s", work, exc)
        spec = None
    failed = pipeline.failed_steps(work, spec) if work.exists() else {"setup_environment": "did not run"}
    evaluation = _optional(work, Evaluation, "evaluation.json")
    comparison = _optional(work, Comparison, "comparison.json")
    judged = pipeline.judge(work, spec, failed=failed)
    delivery = None
    if (work / "alerts" / "delivery.json").exists():
        try:
            delivery = json.loads((work / "alerts" / "delivery.json").read_text())
        except (OSError, ValueError):
            delivery = None
    return {
        "dag_id": outcome.dag_id, "run_id": outcome.run_id, "exit_code": outcome.exit_code,
        "status": "success" if outcome.exit_code == 0 else ("usage_or_config_error" if outcome.exit_code == 2
                                                            else "failed"),
        "error": outcome.error,
        "measured": (work / "results.json").exists(),
        "verdict": judged.verdict,
        "verdict_line": judged.line,
        "fails_run": judged.fails_run,
        "findings": [{"kind": f.kind, "label": f.label, "metric": f.metric, "detail": f.detail, "note": f.note,
                      "alerts": f.alerts} for f in judged.findings],
        "invalid": [{"metric": v.metric, "reason": v.reason, "would_have": v.would_have}
                    for v in evaluation.invalid] if evaluation else [],
        "failed_steps": failed,
        "steps": step_states(work, failed),
        "work_dir": str(work),
        "artifacts": outcome.artifacts_url,
        "report": _report_location(work, spec, failed),
        "alert": delivery,
        "evaluation": to_dict(evaluation) if evaluation is not None else None,
        "comparison": to_dict(comparison) if comparison is not None else None,
    }


def junit_tree(doc: dict[str, Any]) -> ET.Element:
    """JUnit XML from :func:`run_document`: suite ``perf_targets`` (one testcase per target verdict:
    a failure typed by severity for warning/critical, skipped with the reason for invalid),
    ``perf_alerts`` (alert-rule violations and failed benchmarks) and ``perf_pipeline`` (one
    testcase per step: an error for a failed step, skipped for one that never ran)."""
    dag_id = doc.get("dag_id") or DAILY_DAG_ID
    root = ET.Element("testsuites", name=dag_id)
    props = ET.SubElement(ET.SubElement(root, "testsuite", name="perf_verdict"), "properties")
    for key in ("verdict", "verdict_line", "fails_run"):  # the run's one verdict, as every surface states it
        ET.SubElement(props, "property", name=key, value=str(doc.get(key)))
    evaluation = doc["evaluation"]

    def suite(name: str) -> ET.Element:
        return ET.SubElement(root, "testsuite", name=name)

    targets = suite("perf_targets")
    for v in (evaluation or {}).get("verdicts", []):
        prefix, _, last = v["metric"].rpartition(".")
        case = ET.SubElement(targets, "testcase", classname=prefix or "perf", name=last)
        bound = f"{v['value']:.6g} {v['unit']}, target {v['op']} {v['threshold']:g} {v['unit']}"
        if v["status"] in ("warning", "critical"):
            ET.SubElement(case, "failure", message=f"{v['status'].upper()}: {bound}"
                          + (f" ({v['reason']})" if v.get("reason") else ""), type=v["severity"])
        elif v["status"] == "invalid":
            would = v.get("would_have") or ""
            ET.SubElement(case, "skipped", message=f"INVALID: {v['reason']}" if would not in ("warning", "critical")
                          else f"INVALID, would have been {would.upper()}: {bound}; not judged: {v['reason']}")
    alerts = suite("perf_alerts")
    for v in (evaluation or {}).get("violations", []):
        if str(v["source"]).startswith("target"):
            continue  # a target's violation is its testcase above
        prefix, _, last = v["metric"].rpartition(".")
        case = ET.SubElement(alerts, "testcase", classname=prefix or "perf", name=last)
        ET.SubElement(case, "failure", type=v["severity"],
                      message=f"{v['severity'].upper()}: {v['value']:.6g} {v['unit']}, threshold {v['op']} "
                              f"{v['threshold']:g} ({v['source']})")
    steps = suite("perf_pipeline")
    for st in doc["steps"]:
        case = ET.SubElement(steps, "testcase", classname=f"{dag_id}.pipeline", name=st["step"],
                             time=f"{st.get('duration_s', 0.0):.3f}")
        if st["state"] == "failed":
            ET.SubElement(case, "error", message=str(st.get("error", "failed"))[:2000], type="step_failed")
        elif st["state"] == "not_run":
            ET.SubElement(case, "skipped", message=str(st.get("error", "did not run")))
    if doc["error"] and not any(st["state"] == "failed" for st in doc["steps"]):
        case = ET.SubElement(steps, "testcase", classname=f"{dag_id}.pipeline", name="run")
        ET.SubElement(case, "error", message=str(doc["error"])[:2000],
                      type="config_error" if doc["exit_code"] == 2 else "run_failed")
    for s in root:
        cases = s.findall("testcase")
        s.set("tests", str(len(cases)))
        s.set("failures", str(sum(c.find("failure") is not None for c in cases)))
        s.set("errors", str(sum(c.find("error") is not None for c in cases)))
        s.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in root)))
    return root


def write_outputs(json_path: Path | None, junit_path: Path | None, outcome: RunOutcome) -> bool:
    """Write --json and --junit when asked, whatever happened; False when one could not be written."""
    if not (json_path or junit_path):
        return True
    doc = run_document(outcome)
    ok = True
    for path, text in ((json_path, lambda: json.dumps(doc, indent=2)),
                       (junit_path, lambda: ET.tostring(junit_tree(doc), encoding="unicode", xml_declaration=True))):
        if path is None:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text())
        except OSError as exc:
            log.error("could not write %s: %s", path, exc)
            ok = False
    return ok


def _run_kind(request: RunRequest, outcome: RunOutcome) -> int:
    """Any kind of run, its steps in this process: setup, the kind's ``measure``, the shared tail,
    notify (the same functions the DAG's tasks call)."""
    kind = get_kind(request.kind, source="python -m perf_tasks run")
    work, url = outcome.work, outcome.artifacts_url
    store = open_store(url, source="--artifacts")
    options = dict(request.options)
    model = getattr(kind, "OPTIONS", None)
    if model is not None:  # the kind's options model: names, types and bounds, before anything is measured
        model.parse(options, source="--opt")
    spec = pipeline.RunSpec(dag_id=kind.DAG_ID, run_id=outcome.run_id, kind=request.kind, profile=request.profile,
                            suites=tuple(request.suites), notify=request.notify,
                            target_overrides=dict(request.targets), artifacts_url=url,
                            config_dir=str(request.config_dir or pipeline.default_config_dir()),
                            promote_baseline=request.promote, options=options, system=request.system or "")
    sender, channel = _sender()
    given = {"store": store, "sender": sender, "channel": channel}  # what the tail's functions take of these
    print(f"{kind.DAG_ID} {outcome.run_id}: profile {request.profile}, artifacts {url}", file=sys.stderr)
    try:
        pipeline.setup_environment(work, spec)
        kind.measure(work, sender=sender, channel=channel)
        for checked in (s for s in TAIL if s.checked):  # validate ... persist_artifacts
            _call_tail_step(checked, work, given)
    except UserError:
        if not (work / "run.json").exists():
            raise  # failed validation: nothing was measured
        log.exception("a step failed")
    except Exception:  # noqa: BLE001 - the step recorded it (status/<step>.json); alert, then exit 1
        log.exception("a step failed")
    done: dict[str, Any] = {}
    for after in (s for s in TAIL if not s.checked):  # notify, verdict, publish_site (best effort), whatever happened
        try:
            done[after.name] = _call_tail_step(after, work, given)
        except PerfError as exc:  # notify: an earlier step failed, or the run could not be sealed in the store
            outcome.error = outcome.error or str(exc)
            print(f"FAILED: {exc}", file=sys.stderr)
    verdict = done.get("verdict")  # pipeline.run_verdict: what the DAG's verdict task decides
    evaluation = _optional(work, Evaluation, "evaluation.json")
    comparison = _optional(work, Comparison, "comparison.json")
    judged = pipeline.judge(work)  # the same judgement run_verdict made, with every finding for the terminal
    if evaluation is not None:
        print(summary_table(evaluation, comparison))
        print()
    print(verdict_block(judged))
    doc = run_document(outcome)
    report = doc["report"]
    if report["stored"]:
        print(f"\nreport: {_local_path(report['stored'])}")
    elif report["local"]:
        print(f"\nreport: {report['local']} (not stored: see the failed steps)")
    delivery = doc["alert"]
    if delivery:
        print(f"alert: {delivery['status']} via {delivery['channel']}"
              + (f" ({delivery['outbox_path']})" if delivery.get("outbox_path") else ""))
    failed = doc["failed_steps"]
    for name, why in failed.items():
        print(f"step {name}: {why}", file=sys.stderr)
    # the run's state as the DAG's verdict task decides it (a failed step, or CRITICAL with
    # alerts.yaml run_state.fail_on "critical"), or a run that could not finish or be sealed
    return 1 if verdict is None or verdict.fails_run or failed or outcome.error or evaluation is None else 0


def _call_tail_step(step: TailStep, work: Path, given: dict[str, Any]) -> Any:
    """Run one shared-tail step (:data:`perf_tasks.tail.TAIL`): its pipeline function, with the
    arguments of ``given`` (store, sender, channel) that it takes."""
    fn = getattr(pipeline, step.function)
    params = inspect.signature(fn).parameters
    return fn(work, **{k: v for k, v in given.items() if k in params})


@dataclass(frozen=True)
class RunRequest:
    """What ``run`` is asked to do (its flags, or a per-kind command's such as ``stress``)."""

    kind: str
    profile: str = "smoke"
    suites: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()  # the kind's own options (--opt NAME=VALUE)
    targets: tuple[tuple[str, float], ...] = ()  # target overrides (--target METRIC=VALUE)
    artifacts: str | None = None
    config_dir: str | None = None
    system: str | None = None  # systems.yaml name (--system); None: $PERF_SYSTEM, else the file's default
    run_id: str | None = None
    notify: bool = True
    promote: bool = False
    json_path: Path | None = None
    junit_path: Path | None = None


def run_kind(request: RunRequest) -> int:
    """Run one kind of run in this process (``python -m perf_tasks run``); returns the exit code.
    --json and --junit are written however it ends; a UserError (exit 2) propagates after that."""
    run_id = request.run_id or "cli__" + datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%fZ")
    url = request.artifacts or pipeline.default_artifacts_url()
    dag_id = get_kind(request.kind, source="python -m perf_tasks run").DAG_ID
    outcome = RunOutcome(run_id=run_id, work=pipeline.work_dir_for(dag_id, run_id), artifacts_url=url, dag_id=dag_id)
    try:
        outcome.exit_code = _run_kind(request, outcome)
    except BaseException as exc:  # write what we have, then let main() (or Python) report it
        outcome.exit_code = 2 if isinstance(exc, UserError) else 1
        outcome.error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        write_outputs(request.json_path, request.junit_path, outcome)
        raise
    if not write_outputs(request.json_path, request.junit_path, outcome):
        return outcome.exit_code or 1
    return outcome.exit_code


def cmd_run(args: argparse.Namespace) -> int:
    return run_kind(RunRequest(
        kind=args.pipeline, profile=args.profile, suites=tuple(s.strip() for s in args.suites.split(",") if s.strip()),
        options=tuple(args.opt), targets=tuple(args.target), artifacts=args.artifacts, config_dir=args.config_dir,
        system=args.system, run_id=args.run_id, notify=not args.no_notify, promote=args.promote, json_path=args.json,
        junit_path=args.junit))


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
    summary = manifest.get("summary") or {}
    failed = summary.get("failed_steps") or {}
    judged = judge_run(evaluation, comparison, failed_steps=failed, fail_on=summary.get("fail_on", "critical"),
                       alert_on=summary.get("alert_on", "promoted"),
                       alert_min_processes=summary.get("alert_min_processes", 5))
    steps = "every step succeeded" if manifest["status"] == "success" else f"FAILED steps: {', '.join(failed) or '?'}"
    print(f"{args.dag_id} run {run_id}: sealed at {manifest['finished_at']}, {steps}, "
          f"{len(manifest['artifacts'])} artifacts (sha256 verified)\n")
    print(summary_table(evaluation, comparison))
    print()
    print(verdict_block(judged))
    print(f"\nreport: {_local_path(run.uri('report.html'))}")
    print(f"alert: {summary.get('delivery')}")
    return 1 if manifest["status"] != "success" or judged.fails_run else 0


def _local_path(uri: str) -> str:
    """A ``file://`` URI as the path a terminal opens (``xdg-open PATH``, a click in most terminals);
    other URIs as they are."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def _load(args: argparse.Namespace) -> int:
    from perf_tasks.load import cli as load_cli

    return load_cli.run(args)


def _stress(args: argparse.Namespace) -> int:
    """``stress``: ``run stress`` with the stress command's flags (perf_tasks/stress/cli.py)."""
    from perf_tasks.stress import cli as stress_cli

    if args.list:
        print(stress_cli.scenario_list())
        return 0
    return run_kind(RunRequest(kind="stress", profile=args.profile, options=tuple(stress_cli.kind_options(args)),
                               artifacts=args.artifacts, config_dir=args.config_dir, run_id=args.run_id,
                               notify=not args.no_notify, json_path=args.json, junit_path=args.junit))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    try:
        return {"run": cmd_run, "show": cmd_show, "baseline": cmd_baseline, "regress": cmd_regress, "seal": cmd_seal,
                "site": cmd_site,
                "load": _load, "stress": _stress, "scale": cmd_run}[args.command](args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
