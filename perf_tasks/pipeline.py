"""The shared steps of every kind of run, as plain functions; Airflow operators and the CLI call them.

setup_environment -> (the kind's measuring steps: :mod:`perf_tasks.kinds`) -> validate ->
evaluate -> compare_to_baseline -> build_report -> persist_artifacts -> notify -> verdict.
Nothing here knows what a kind measures: a kind is reached only through the registry
(``prepare`` at setup, ``report_extras`` for the report), and every kind hands over its
measurements in the one result model (``suites/<suite>.json``).

Steps share a local *work folder* per run (``<work>/<dag_id>/<run_id>/``): each step reads what
the previous ones wrote there and records ``status/<step>.json``. Only ``compare_to_baseline``
(reads earlier runs) and ``persist_artifacts`` / ``notify`` (write this run) touch the artifact
store, so a store outage never loses a measurement: the work folder keeps everything.
(With workers on several machines the work folder must be on shared storage.)
"""
from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from perf_tasks.alerts.rules import evaluate
from perf_tasks.alerts.slack import Delivery, RunInfo, Sender, deliver, write_outbox
from perf_tasks.alerts.state import plan_message, record_delivery
from perf_tasks.config import HistoryConfig, PerfConfig, RegressionConfig, apply_target_overrides, load_config
from perf_tasks.errors import ConfigError, PerfError, PipelineError, StoreError, UserError
from perf_tasks.monitor.fingerprint import fingerprint
from perf_tasks.regress.compare import compare
from perf_tasks.regress.baselines import find_baseline
from perf_tasks.regress.baselines import no_baseline_note, promote
from perf_tasks.regress.keys import bench_keys, index_fields, run_key
from perf_tasks.regress.detect import OnlineConfig
from perf_tasks.regress.history import History, detect_changes, history_from_index
from perf_tasks.regress.levels import LevelConfig
from perf_tasks.report.html import render_report
from perf_tasks.results import (Comparison, Evaluation, HistoryChange, Metric, RunResults, SuiteResult, from_json,
                                to_dict, to_json)
from perf_tasks.store import ArtifactStore, ManifestEntry, RunArtifacts, run_index, safe_id
from perf_tasks.system import optional_system
from perf_tasks.verdict import RunJudgement, judge_run

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG_DIR = REPO_ROOT / "config"  # the bundled configuration (the demo system's)


def default_config_dir() -> Path:
    """The deployment's config folder: ``$PERF_CONFIG_DIR`` when set, else the bundled ``config/``.
    A run's own ``config_dir`` (CLI ``--config-dir``) wins over both."""
    env = os.environ.get("PERF_CONFIG_DIR", "").strip()
    return Path(env) if env else DEFAULT_CONFIG_DIR
PROFILES = ("smoke", "standard", "full")


def default_artifacts_url() -> str:
    return os.environ.get("PERF_ARTIFACTS_URL") or (REPO_ROOT / "artifacts").as_uri()


def default_work_root() -> Path:
    return Path(os.environ.get("PERF_WORK_DIR") or REPO_ROOT / ".perf-work")


def work_dir_for(dag_id: str, run_id: str, root: Path | None = None) -> Path:
    """``<root>/<dag_id>/<run_id>``, ids made safe (:func:`safe_id` refuses ``.``/``..``) and the
    result checked to lie two levels inside the work root."""
    base = root or default_work_root()
    work = base / safe_id(dag_id, what="DAG id") / safe_id(run_id, what="run id")
    _check_inside(work, base)
    return work


def _check_inside(path: Path, root: Path) -> None:
    p, r = path.resolve(), root.resolve()
    if r not in p.parents or p.parent == r:
        raise UserError(f"work folder {path} is not a run folder inside the work root {root}: refused")


@dataclass(frozen=True)
class RunSpec:
    """What a run was asked to do; written to ``run.json`` by setup, read by every later step.
    ``kind`` names what it measures (:mod:`perf_tasks.kinds`); ``options`` are that kind's own
    params (JSON values), which only the kind reads."""

    dag_id: str
    run_id: str
    kind: str = "daily"
    profile: str = "smoke"
    suites: tuple[str, ...] = ()
    notify: bool = True
    target_overrides: dict[str, Any] = field(default_factory=dict)
    artifacts_url: str = ""
    config_dir: str = str(DEFAULT_CONFIG_DIR)
    started_at: str = ""
    promote_baseline: bool = False  # make this run the baseline once it finishes successfully
    options: dict[str, Any] = field(default_factory=dict)
    expected_steps: tuple[str, ...] = ()  # every step of the run, in order (setup fills it in; notify checks them)
    # the system under test (systems.yaml of config_dir): "" asks for $PERF_SYSTEM, else the file's
    # default; setup records the name it resolved ("" when the config folder defines no system)
    system: str = ""


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def read_text(work: Path, rel: str, step: str) -> str:
    path = work / rel
    try:
        return path.read_text()
    except FileNotFoundError:
        raise PipelineError(f"{step}: {path} is missing: did the step that writes it run and succeed?") from None


@contextlib.contextmanager
def step(work: Path, name: str) -> Iterator[None]:
    """Record a step's outcome in ``status/<name>.json`` (the notify step reads them)."""
    t0 = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        write_text(work / "status" / f"{name}.json", json.dumps({
            "step": name, "state": "failed", "error": f"{type(exc).__name__}: {exc}",
            "duration_s": round(time.perf_counter() - t0, 3), "at": now()}))
        raise
    write_text(work / "status" / f"{name}.json", json.dumps({
        "step": name, "state": "success", "duration_s": round(time.perf_counter() - t0, 3), "at": now()}))


def load_spec(work: Path) -> RunSpec:
    data = json.loads(read_text(work, "run.json", "load run spec"))
    for key in ("suites", "expected_steps"):
        data[key] = tuple(data.get(key, ()))
    known = {f.name for f in dataclasses.fields(RunSpec)}
    unknown = sorted(set(data) - known)
    if unknown:  # a run.json of another version: say so rather than a TypeError
        raise PipelineError(f"{work / 'run.json'}: unknown fields {unknown}: written by another version of "
                            "perf_tasks? Start the run again.")
    return RunSpec(**data)


def run_config(spec: RunSpec) -> PerfConfig:
    cfg = load_config(spec.config_dir)
    return apply_target_overrides(cfg, spec.target_overrides,
                                  source="target override (param 'target_overrides' / CLI --target)")


# --- setup_environment ------------------------------------------------------------------------

def host_readings(disk_path: Path, cpu_window_s: float = 0.5) -> tuple[Metric, ...]:
    """Host headroom before the run: CPU busy with *other* work over a short window (this
    process's own share is taken out: it is about to be the benchmark), memory and disk use."""
    disk_path.mkdir(parents=True, exist_ok=True)
    me = psutil.Process()
    me.cpu_percent(None)
    system = psutil.cpu_percent(interval=cpu_window_s)
    own = me.cpu_percent(None) / (psutil.cpu_count() or 1)
    return (
        Metric("host.cpu_pct", max(0.0, system - own), "%", "lower"),
        Metric("host.memory_pct", psutil.virtual_memory().percent, "%", "lower"),
        Metric("host.disk_pct", psutil.disk_usage(str(disk_path)).percent, "%", "lower"),
    )


def preflight_store(url: str) -> None:
    """Refuse a store that cannot take the artifacts (missing bucket, denied, unwritable) before
    anything is measured; an unreachable one only warns (see ArtifactStore.preflight)."""
    from perf_tasks.store import open_store  # noqa: PLC0415

    warning = open_store(url, source="param 'artifacts_url'").preflight()
    if warning:
        log.warning("artifact store: %s", warning)


def setup_environment(work: Path, spec: RunSpec, *, executor: str = "") -> RunSpec:
    """Validate everything before anything is measured (profile, target overrides, config, the
    kind's options: :func:`perf_tasks.kinds` ``prepare``), check the store, take the fingerprint
    and host readings. Writes ``run.json`` and returns the resolved spec; the mapping input of a
    DAG's measuring task is ``kinds.kind_tasks(kind, spec)``."""
    from perf_tasks.kinds import all_steps, get_kind

    work.mkdir(parents=True, exist_ok=True)
    with step(work, "setup_environment"):
        if spec.profile not in PROFILES:
            raise ConfigError(f"param 'profile': {spec.profile!r} is not one of {list(PROFILES)}")
        kind = get_kind(spec.kind, source=f"run kind of {spec.dag_id}")
        cfg = run_config(spec)
        cfg.profile(spec.profile)
        system = optional_system(spec.config_dir, spec.system or None)  # an unknown name fails here
        prepared = kind.prepare(spec, cfg, executor=executor)
        spec = dataclasses.replace(prepared, started_at=spec.started_at or now(),
                                   system=system.name if system else "",
                                   artifacts_url=spec.artifacts_url or default_artifacts_url(),
                                   expected_steps=all_steps(kind, tuple(prepared.expected_steps)))
        preflight_store(spec.artifacts_url)
        write_text(work / "run.json", json.dumps(to_dict(spec), indent=2))
        env = {"fingerprint": fingerprint(system=system),
               "host_metrics": [to_dict(m) for m in host_readings(work)]}
        write_text(work / "environment.json", json.dumps(env, indent=2))
        log.info("%s run %s: profile %s, suites %s, work folder %s", spec.kind, spec.run_id, spec.profile,
                 list(spec.suites), work)
    return spec


# --- evaluate ---------------------------------------------------------------------------------

def collect_results(work: Path) -> RunResults:
    spec = load_spec(work)
    env = json.loads(read_text(work, "environment.json", "evaluate"))
    suites = [from_json(SuiteResult, read_text(work, f"suites/{suite}.json", "evaluate"),
                        source=str(work / "suites" / f"{suite}.json")) for suite in spec.suites]
    host = tuple(Metric(**m) for m in env["host_metrics"])
    return RunResults(dag_id=spec.dag_id, run_id=spec.run_id, profile=spec.profile, started_at=spec.started_at,
                      fingerprint=env["fingerprint"], suites=tuple(suites), host_metrics=host)


def validate_results_step(work: Path) -> dict[str, Any]:
    """Merge suite results into ``results.json`` and check them with Great Expectations (schema,
    units, finite non-negative values, p50 <= p95 <= p99). Bad data stops the run here, before
    any verdict, and the error says which metric and value."""
    from perf_tasks.validate import validate_results  # GX import costs ~2.5 s: only in this step

    with step(work, "validate"):
        results = collect_results(work)
        write_text(work / "results.json", to_json(results))
        check = validate_results(results)
        write_text(work / "validation.json", json.dumps(to_dict(check), indent=2))
        if not check.passed:
            shown = "; ".join(check.failures[:10]) + (f" (and {len(check.failures) - 10} more)"
                                                      if len(check.failures) > 10 else "")
            raise PipelineError(f"results failed validation, no verdict on bad data: {shown}")
        log.info("validate: %d metric rows passed", check.checked)
    return {"checked": check.checked, "passed": check.passed}


def evaluate_run(work: Path) -> Evaluation:
    """Judge the validated ``results.json`` against targets and alert rules (``evaluation.json``)."""
    with step(work, "evaluate"):
        results = from_json(RunResults, read_text(work, "results.json", "evaluate"))
        cfg = run_config(load_spec(work))
        evaluation = evaluate(results, cfg.alerts.rules,
                              busy_host_other_cpu_pct=cfg.alerts.measurement.busy_host_other_cpu_pct)
        write_text(work / "evaluation.json", to_json(evaluation))
        log.info("evaluate: %d targets (%d missed, %d invalid), %d alerts (%d critical)", len(evaluation.verdicts),
                 sum(v.status in ("warning", "critical") for v in evaluation.verdicts), len(evaluation.invalid),
                 len(evaluation.violations), len(evaluation.critical))
        for v in evaluation.invalid:
            log.warning("evaluate: %s is INVALID: %s", v.metric, v.reason)
    return evaluation


# --- compare_to_baseline ----------------------------------------------------------------------

def headline_metrics(results: RunResults, globs: list[str]) -> dict[str, float]:
    """The metrics tracked over history (kept in the run index)."""
    return {m.name: m.value for m in results.metrics() if any(fnmatch.fnmatchcase(m.name, g) for g in globs)}


def history_detector(h: HistoryConfig) -> tuple[LevelConfig, OnlineConfig]:
    """The detectors' settings from ``alerts.yaml``'s ``regression.history``."""
    level = LevelConfig(persist=h.persist, max_transient=h.max_transient, outlier_sigma=h.outlier_sigma, z=h.z,
                        min_change_pct=h.min_change_pct, transient_min_pct=h.transient_min_pct, noise_z=h.noise_z,
                        noise_ratio=h.noise_ratio, noise_min_runs=h.noise_min_runs,
                        min_runs=max(8, 2 * h.persist))
    online = OnlineConfig(window=h.window, min_baseline=h.min_baseline, persist=h.persist, z=h.band_z,
                          min_change_pct=h.min_change_pct, alpha=h.alpha)
    return level, online


def history_changes(results: RunResults, index: list[dict[str, Any]], cfg: RegressionConfig) -> tuple[
        tuple[HistoryChange, ...], int, dict[str, dict[str, Any]]]:
    """Findings in each tracked metric's history (the newest ``history.max_runs`` runs with this
    run's key and, per benchmark, its params digest and device; this run last): the whole-history
    pass is replayed over the last ``history.replay_runs`` runs, and what this run finds that no
    earlier run found is ``new`` (it alerts when it is a regression); the findings of the earlier
    replayed runs come along for the report. Deterministic: the same index gives the same answer.
    Also returns the last 100 values of each series (for the report's charts)."""

    h = cfg.history
    level, online = history_detector(h)
    directions = {m.name: m.direction for m in results.metrics()}
    key, benches = run_key(results), bench_keys(results)
    out: list[HistoryChange] = []
    runs = 0
    series: dict[str, dict[str, Any]] = {}
    for name, value in headline_metrics(results, cfg.metrics).items():
        past = history_from_index(index, name, key=key, bench_key=benches.get(name.rpartition(".")[0]))
        if value <= 0:
            continue
        keep = h.max_runs - 1
        hist = History(name, past.labels[-keep:] + (results.run_id,), past.values[-keep:] + (value,),
                       past.commits[-keep:] + (results.fingerprint.get("git_sha"),))
        runs = max(runs, len(hist.values))
        series[name] = {"runs": list(hist.labels[-100:]), "values": list(hist.values[-100:])}
        for c in detect_changes(hist, direction=directions[name], method=h.method, level=level, online=online,
                                replay_runs=h.replay_runs):
            fields = {f.name: getattr(c, f.name) for f in dataclasses.fields(HistoryChange) if f.name != "new"}
            out.append(HistoryChange(**fields, new=c.detected_at_run == results.run_id))
    return tuple(out), runs, series


def compare_to_baseline(work: Path, store: ArtifactStore) -> Comparison:
    """Compare with the promoted baseline (else the previous successful run), and look for level
    changes over the history of runs. A store that cannot be read gives a comparison with a note
    (and a warning in the log), not a failed run: the measurement stands."""
    with step(work, "compare_to_baseline"):
        results = from_json(RunResults, read_text(work, "results.json", "compare_to_baseline"))
        cfg = run_config(load_spec(work))
        reg = cfg.alerts.regression

        key = run_key(results)
        index: list[dict[str, Any]] = []
        found, passed_over = None, ()
        try:
            index = run_index(store, results.dag_id)
            lookup = find_baseline(store, results.dag_id, results.run_id, index, key)
            found, passed_over = lookup.results, lookup.passed_over
            note = no_baseline_note(store, results.dag_id, key)
        except (StoreError, ValueError) as exc:
            log.warning("compare_to_baseline: baseline unavailable: %s", exc)
            note = f"baseline unavailable: {exc}"
        if found is not None:
            comparison = compare(results, found, threshold_pct=reg.threshold_pct, metric_globs=reg.metrics,
                                 alpha=reg.alpha, baseline_kind=lookup.kind, overrides=reg.overrides)  # type: ignore[arg-type]
        else:
            comparison = Comparison(run_id=results.run_id, baseline_run_id=None, threshold_pct=reg.threshold_pct,
                                    note=note, baseline_kind="none", alpha=reg.alpha, key=key)
        if passed_over:
            comparison = dataclasses.replace(comparison, note="; ".join(filter(None, [comparison.note, *passed_over])))
        changes, runs, series = history_changes(results, index, reg)
        comparison = dataclasses.replace(comparison, history_changes=changes, history_runs=runs)
        write_text(work / "comparison.json", to_json(comparison))
        write_text(work / "history.json", json.dumps(series))
        log.info("compare_to_baseline: %s; history of %d runs: %d new level changes", comparison.note or
                 f"{len(comparison.regressions)} regressions, {len(comparison.improvements)} improvements "
                 f"vs {comparison.baseline_kind} baseline {comparison.baseline_run_id}", runs,
                 sum(c.new for c in changes))
    return comparison


# --- build_report -----------------------------------------------------------------------------

def read_optional(work: Path, cls: type, rel: str) -> Any:
    """A result document of the work folder, or None when the step that writes it has not run."""
    path = work / rel
    return from_json(cls, path.read_text(), source=str(path)) if path.exists() else None


def report_url(spec: RunSpec, base: str | None = None, *, store: ArtifactStore | None = None) -> str:
    """Where people open the run's report: ``<base>/<dag>/<run>/report.html`` when an http base is
    given (``base``, else ``$PERF_REPORT_BASE_URL``; under Airflow the operators pass the API
    server's ``/perf-reports`` route, which serves the artifact store); else, for an ``s3://``
    store, a presigned GET URL valid alerts.yaml ``slack.report_link_expiry_h`` hours (signed with
    ``store``'s client when given, e.g. the Airflow S3 hook's; the ``s3://`` URI when it cannot be
    signed); else the stored file's URI (``file://``)."""
    from perf_tasks.report.links import report_link  # noqa: PLC0415

    url = spec.artifacts_url or default_artifacts_url()
    expiry_h = 168.0
    if url.startswith("s3://") and not (base or os.environ.get("PERF_REPORT_BASE_URL")):
        with contextlib.suppress(ConfigError):  # a broken config is reported by the steps that need it
            expiry_h = run_config(spec).alerts.slack.report_link_expiry_h
    return report_link(url, spec.dag_id, spec.run_id, base=base or None, expiry_h=expiry_h, store=store)


def build_report(work: Path, *, run_url: str | None = None, report_base: str | None = None) -> Path:
    """Write ``report.html`` and the run's alert message (``alerts/message.json``)."""
    with step(work, "build_report"):
        spec = load_spec(work)
        results = from_json(RunResults, read_text(work, "results.json", "build_report"))
        evaluation = from_json(Evaluation, read_text(work, "evaluation.json", "build_report"))
        comparison = read_optional(work, Comparison, "comparison.json")
        history = json.loads((work / "history.json").read_text()) if (work / "history.json").exists() else {}
        served = report_url(spec, report_base)
        # the store's own address (file://..., s3://...): what `make run` (no API server) opens
        stored = (f"{(spec.artifacts_url or default_artifacts_url()).rstrip('/')}/{safe_id(spec.dag_id)}/"
                  f"{safe_id(spec.run_id)}/report.html")
        links = {"stored at": stored}
        if served != stored:  # under Airflow: the API server's /perf-reports route (needs a sign-in)
            links["in Airflow (the API server's reports route; sign in)"] = served
        if run_url:
            links["Airflow run"] = run_url
        links["history of this DAG"] = "../_site/index.html"  # relative: works wherever the store is served
        from perf_tasks.kinds import get_kind
        extras_of = getattr(get_kind(spec.kind), "report_extras", None)
        extras = extras_of(work, spec) if extras_of else {}  # the kind's own report sections
        # the steps still to come (persist, notify) cannot have failed yet: judge what is measured
        judged = judge(work, spec, failed={})
        path = write_text(work / "report.html", render_report(results, evaluation, comparison, links=links,
                                                               history=history, judgement=judged, **extras))
        log.info("report written: %s (will be stored at %s)", path, links["stored at"])
    return path


# --- persist_artifacts ------------------------------------------------------------------------

#: what persist_artifacts uploaded, and where (``{"store": <run URI>, "artifacts": {path: sha256}}``),
#: so that the seal uploads only what is new or changed since; kept in the work folder, never uploaded
#: (like ``status/``, and outside it: every ``status/*.json`` is a step's record)
UPLOADED = ".uploaded.json"
LOCAL_ONLY = ("status", UPLOADED)


def uploaded_artifacts(work: Path, run: RunArtifacts) -> dict[str, str]:
    """path -> sha256 of what persist_artifacts uploaded to ``run``'s store ({} when it did not,
    or uploaded to another store)."""
    try:
        doc = json.loads((work / UPLOADED).read_text())
    except (OSError, ValueError):
        return {}
    return dict(doc.get("artifacts") or {}) if doc.get("store") == run.uri() else {}


def persist_artifacts(work: Path, store: ArtifactStore) -> list[ManifestEntry]:
    """Upload the work folder to ``<root>/<dag_id>/<run_id>/`` and record what was uploaded
    (:data:`UPLOADED`). A store failure raises a StoreError naming the store; the work folder
    keeps every file. A retried task uploads everything again (idempotent)."""
    with step(work, "persist_artifacts"):
        spec = load_spec(work)
        run = RunArtifacts(store, spec.dag_id, spec.run_id)
        try:
            entries = run.upload_dir(work, exclude=LOCAL_ONLY)
        except StoreError as exc:
            raise StoreError(f"{exc}\nNothing is lost: every artifact of this run is still in {work}") from exc
        write_text(work / UPLOADED, json.dumps({"store": run.uri(), "artifacts": {e.path: e.sha256 for e in entries}}))
    return entries


# --- the verdict --------------------------------------------------------------------------------

def judge(work: Path, spec: RunSpec | None = None, *, failed: dict[str, str] | None = None) -> RunJudgement:
    """The run's one verdict (perf_tasks.verdict.judge_run) from its work folder: the evaluation,
    the comparison, the failed steps and alerts.yaml's ``run_state.fail_on`` and
    ``regression.alert_on``. Every surface takes the verdict from here."""
    if spec is None and (work / "run.json").exists():
        try:
            spec = load_spec(work)
        except (PerfError, OSError, ValueError, TypeError) as exc:  # judged with the defaults
            log.error("verdict: cannot read the run spec in %s: %s", work, exc)
    failed = failed_steps(work, spec) if failed is None else failed
    fail_on, alert_on, min_processes = "critical", "promoted", 5
    if spec is not None:
        with contextlib.suppress(ConfigError):  # a broken config fails setup; judge with the defaults
            alerts = run_config(spec).alerts
            fail_on, alert_on = alerts.run_state.fail_on, alerts.regression.alert_on
            min_processes = alerts.regression.alert_min_processes
    docs = []
    for cls, rel in ((Evaluation, "evaluation.json"), (Comparison, "comparison.json")):
        try:
            docs.append(read_optional(work, cls, rel))
        except (OSError, ValueError) as exc:  # unreadable: judged as not there (never as a pass)
            log.error("verdict: cannot read %s: %s", work / rel, exc)
            docs.append(None)
    return judge_run(docs[0], docs[1], failed_steps=failed,
                     fail_on=fail_on, alert_on=alert_on, alert_min_processes=min_processes)


# --- notify -----------------------------------------------------------------------------------

def failed_steps(work: Path, spec: RunSpec | None) -> dict[str, str]:
    """Steps that failed or never ran, with why."""
    expected = list(spec.expected_steps) if spec is not None and spec.expected_steps else ["setup_environment"]
    out = {}
    for name in expected:
        path = work / "status" / f"{name}.json"
        if not path.exists():
            out[name] = "did not run (an upstream step failed)" if out else "did not run"
            continue
        status = json.loads(path.read_text())
        if status["state"] != "success":
            out[name] = status.get("error", status["state"])
    return out


@dataclass(frozen=True)
class NotifyOutcome:
    delivery: Delivery
    failed_steps: dict[str, str]
    sealed_at: str | None  # manifest URI, None when the store could not be written
    store_error: str | None


def _recorded_system(work: Path) -> str:
    """The system the run's fingerprint names ("" when none: a run without systems.yaml, or before setup)."""
    try:
        return str(json.loads((work / "environment.json").read_text())["fingerprint"].get("system") or "")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""


def notify(work: Path, store: ArtifactStore, sender: Sender | None, *, channel: str,
           run_url: str | None = None, sleep: Any = time.sleep, report_base: str | None = None) -> NotifyOutcome:
    """Send the run's one alert message (or put it in the outbox), then seal the run in the store:
    upload what is new and write ``manifest.json`` last. Raises PipelineError afterwards when an
    earlier step failed, so the run ends failed *after* alerting."""
    work.mkdir(parents=True, exist_ok=True)
    spec = load_spec(work) if (work / "run.json").exists() else None
    failed = failed_steps(work, spec)
    evaluation = read_optional(work, Evaluation, "evaluation.json")
    comparison = read_optional(work, Comparison, "comparison.json")
    dag_id = spec.dag_id if spec else work.parent.name
    run_id = spec.run_id if spec else work.name
    info = RunInfo(dag_id=dag_id, run_id=run_id, profile=spec.profile if spec else "?",
                   report_url=report_url(spec, report_base, store=store)
                   if spec and (work / "report.html").exists() else None, run_url=run_url)
    reg = run_config(spec).alerts.regression if spec else None
    cfg_slack = run_config(spec).alerts.slack if spec else None
    # alerts without noise (perf_tasks.alerts.state): only new, worse or due alerts, and resolved ones
    results_path = work / "results.json"
    measured = [m.name for m in from_json(RunResults, results_path.read_text(), source=str(results_path)).metrics()] \
        if results_path.exists() else []
    planned = plan_message(info, store if spec is not None else None, evaluation, comparison, failed,
                           now=datetime.now(timezone.utc), measured=measured,
                           repeat_after_h=cfg_slack.repeat_after_h if cfg_slack else 0.0,
                           worsen_pct=cfg_slack.worsen_pct if cfg_slack else 10.0,
                           resolved=cfg_slack.resolved if cfg_slack else True,
                           alert_on=reg.alert_on if reg else "promoted",
                           alert_min_processes=reg.alert_min_processes if reg else 5,
                           verdict=judge(work, spec, failed=failed).verdict, system=_recorded_system(work))
    message = planned.message
    if message is not None:
        write_text(work / "alerts" / "message.json", json.dumps(message, indent=2))
    attempts, backoff = (cfg_slack.attempts, cfg_slack.backoff_s) if cfg_slack else (3, 1.0)
    outbox = work / "alerts" / "outbox"
    if message is not None and spec is not None and not spec.notify:
        path = write_outbox(message, outbox, "notifications disabled by param 'notify'")
        delivery = Delivery("outbox", channel, 0, (), str(path))
    else:
        delivery = deliver(message, sender, outbox, channel=channel, attempts=attempts, backoff_s=backoff, sleep=sleep)
    write_text(work / "alerts" / "delivery.json", json.dumps(to_dict(delivery), indent=2))
    record_delivery(store, planned, delivery.status)

    sealed_at = store_error = None
    if spec is not None:
        try:
            sealed_at = seal_run(work, store, spec, delivery_status=delivery.status, failed=failed)
        except StoreError as exc:
            store_error = str(exc)
            log.error("could not seal the run in %s: %s\nEvery artifact is still in %s; when the store is back: "
                      "python -m perf_tasks seal %s --run-id %s", store.url, exc, work, spec.dag_id, spec.run_id)
    if spec is not None and (work / "results.json").exists():
        push_monitoring(work, spec, evaluation)
    if failed or store_error:
        why = "; ".join(f"{k}: {v}" for k, v in failed.items()) or store_error
        raise PipelineError(f"run {run_id} failed ({why}); alert {delivery.status} via {delivery.channel}; "
                            f"local artifacts in {work}")
    return NotifyOutcome(delivery, failed, sealed_at, store_error)


def push_monitoring(work: Path, spec: RunSpec, evaluation: Evaluation | None) -> str:
    """Push the run's metrics and verdicts to the Pushgateway, when one is configured (best effort)."""
    from perf_tasks.monitor.prom import gateway_url, push_run

    url = gateway_url(run_config(spec).alerts.monitoring.pushgateway_url)
    if not url:
        return ""
    results = from_json(RunResults, (work / "results.json").read_text(), source=str(work / "results.json"))
    return push_run(url, results, evaluation, verdict=judge(work, spec).verdict)


def seal_run(work: Path, store: ArtifactStore, spec: RunSpec, *, delivery_status: str,
             failed: dict[str, str]) -> str:
    """Upload what persist_artifacts did not (files new or changed since, e.g. ``alerts/``;
    everything when persist failed or wrote to another store) and write the manifest (and the
    index entry) last; promote when asked. Returns the manifest's URI; raises StoreError (every
    artifact stays in ``work``). ``notify`` calls it; ``python -m perf_tasks seal`` calls it again
    for a run whose upload failed."""
    evaluation = read_optional(work, Evaluation, "evaluation.json")
    comparison = read_optional(work, Comparison, "comparison.json")
    run = RunArtifacts(store, spec.dag_id, spec.run_id)
    entries = run.upload_dir(work, exclude=LOCAL_ONLY, stored=uploaded_artifacts(work, run))
    summary = {"targets": len(evaluation.verdicts) if evaluation else 0,
               "targets_missed": sum(v.status in ("warning", "critical") for v in evaluation.verdicts)
               if evaluation else None,
               "targets_invalid": len(evaluation.invalid) if evaluation else None,
               "critical": len(evaluation.critical) if evaluation else None,
               "alerts": len(evaluation.violations) if evaluation else None,
               "regressions": len(comparison.regressions) if comparison else None,
               "delivery": delivery_status, "failed_steps": failed,
               **judge(work, spec, failed=failed).summary()}  # the verdict, as every surface states it
    results_path = work / "results.json"
    extra: dict[str, Any] = {}
    if results_path.exists():
        res = from_json(RunResults, results_path.read_text())
        extra = {"git_sha": res.fingerprint.get("git_sha"),
                 "metrics": headline_metrics(res, run_config(spec).alerts.regression.metrics),
                 **index_fields(res)}  # key + per-benchmark keys: history and lookup match on them
    extra["summary"] = summary  # the history site lists runs from the index alone (no manifest read per run)
    run.seal(entries, status="failed" if failed else "success", summary=summary, index_extra=extra)
    sealed_at = run.uri("manifest.json")
    log.info("run sealed: %s", sealed_at)
    if spec.promote_baseline and not failed:
        doc = promote(store, spec.dag_id, spec.run_id, promoted_by="param promote_baseline")
        log.info("run %s promoted to baseline v%d of %s", spec.run_id, doc["version"], spec.dag_id)
    return sealed_at


@dataclasses.dataclass(frozen=True)
class RunVerdict:
    verdict: str  # PASS, WARNING, INVALID, CRITICAL (perf_tasks.verdict)
    lines: tuple[str, ...]  # the verdict line, then the findings, worst first
    fails_run: bool  # per alerts.yaml run_state.fail_on (a failed step always)
    report: str  # where the report is stored ("" when unknown)

    @property
    def note(self) -> str:
        """Markdown for the Airflow run's note."""
        head = f"**{self.verdict}** · " + self.lines[0] if self.lines else f"**{self.verdict}**"
        body = "\n".join(f"- {line}" for line in self.lines[1:])
        link = f"\n\n[report]({self.report})" if self.report else ""
        return f"{head}\n{body}{link}".strip()


def run_verdict(work: Path, *, worst: int = 5, report_base: str | None = None) -> RunVerdict:
    """The run's verdict for its last task (:func:`judge`): the verdict line, the ``worst`` first
    findings (worst first: failed steps, critical, would-have-missed INVALID, warnings, regressions
    with why they do not alert), whether it fails the run, the report."""
    spec = load_spec(work) if (work / "run.json").exists() else None
    judged = judge(work, spec)
    report = report_url(spec, report_base) if spec and (work / "report.html").exists() else ""
    lines = [judged.line, *(f.text for f in judged.headline[:worst])]
    if len(judged.headline) > worst:
        lines.append(f"... and {len(judged.headline) - worst} more finding(s): see the report")
    return RunVerdict(judged.verdict, tuple(lines), judged.fails_run, report)


def clean_work(work: Path, root: Path | None = None) -> None:
    """Delete a run's work folder (a retried setup starts clean); refuses anything that is not a
    ``<dag>/<run>`` folder inside the work root (``root``, default :func:`default_work_root`:
    $PERF_WORK_DIR or ./.perf-work): never the root, never a DAG's folder, never a folder outside
    the root, symlinks resolved (a link out of the root is outside it), never a run folder that is
    itself a link."""
    resolved = work.resolve()
    if len(resolved.parts) < 3:
        raise UserError(f"refusing to delete {work}: not a run's work folder")
    base = root if root is not None else default_work_root()
    root = base.resolve()
    if root in resolved.parents and resolved.parent == root:
        raise UserError(f"refusing to delete {work}: a DAG folder, not a run's work folder")
    if resolved == root or resolved in root.parents:
        raise UserError(f"refusing to delete {work}: it is (or holds) the work root {root}")
    if resolved.parent.parent != root:
        raise UserError(f"refusing to delete {work} (resolved: {resolved}): not a <dag>/<run> folder inside the "
                        f"work root {root}")
    if work.is_symlink():
        raise UserError(f"refusing to delete {work}: a symlink (to {resolved}), not a run's work folder")
    shutil.rmtree(resolved, ignore_errors=True)


# --- publish_site -----------------------------------------------------------------------------

def publish_site(work: Path, store: ArtifactStore | Callable[[str], ArtifactStore]) -> str:
    """Rebuild the DAG's history site in the store (``<dag>/_site/index.html``) once the run is
    sealed, so it lists this run. ``store`` is the store, or a function of the run's artifacts URL
    that opens it (the DAG task's, so that opening it is inside the best effort too). Best effort:
    a run without a spec (its setup failed), a store that cannot be opened or written, or a config
    failure is logged and returns "", never failing a run whose measurement and report stand."""
    try:
        spec = load_spec(work)
    except (PipelineError, OSError, ValueError) as exc:  # no (or an unreadable) run.json: setup failed
        log.warning("history site of %s not published: the run has no spec (%s)", work.parent.name, exc)
        return ""
    try:
        with step(work, "publish_site"):
            if not isinstance(store, ArtifactStore):
                store = store(spec.artifacts_url)
            out = history_site(spec.dag_id, artifacts_url=spec.artifacts_url, config_dir=spec.config_dir, store=store)
    except Exception as exc:  # noqa: BLE001 - best effort by contract (also a missing Airflow connection); logged
        log.warning("history site of %s not published: %s: %s", spec.dag_id, type(exc).__name__, exc,
                    exc_info=not isinstance(exc, (StoreError, ConfigError, OSError, ValueError)))
        return ""
    return out.index_uri


def history_site(dag_id: str, *, artifacts_url: str = "", config_dir: str | Path | None = None,
                 store: ArtifactStore | None = None, max_runs: int = 500) -> Any:
    """Write the DAG's history site (:func:`perf_tasks.report.site.publish_site`) into the store of
    ``artifacts_url`` (default: $PERF_ARTIFACTS_URL or ./artifacts) with the level detector of
    ``config/alerts.yaml`` (regression.history): what the CLI's ``site`` command and
    :func:`publish_site` call. Returns the site's SiteOutcome."""
    from perf_tasks.report.site import publish_site as write_site  # noqa: PLC0415 - matplotlib, Jinja2
    from perf_tasks.store import open_store  # noqa: PLC0415

    level, _online = history_detector(load_config(config_dir or default_config_dir()).alerts.regression.history)
    store = store or open_store(artifacts_url or default_artifacts_url(),
                                source="artifacts URL (--artifacts / $PERF_ARTIFACTS_URL)")
    return write_site(store, dag_id, level=level, max_runs=max_runs)
