"""The result model: frozen dataclasses, one JSON format for files, S3 and process hand-offs.

Units live in field and metric names (``*_s``, ``*_ms``, ``*_bytes``, ``*_pct``, ``*_per_s``).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ConfigDict, TypeAdapter, ValidationError

# Format history (bump on any incompatible change and say what changed):
#   1 (2026-11-27): first format.
#   2 (2026-11-27): MetricChange gains pvalue and the ratio's CI; Comparison gains baseline_kind and
#                   history_changes. Version-1 documents still read (new fields take defaults).
#   3 (2026-11-29): observations are single calls (or batches of ``calls_per_observation``) taken in
#                   several worker processes: BenchmarkResult.round_call_s/loops become observation_s/
#                   calls_per_observation (+ observation_process, process_means_s, timed_s, items);
#                   Metric gains samples; Verdict gains status (pass/warning/critical/invalid) and reason;
#                   Target gains an optional stricter ``warning`` bound; MetricChange gains test,
#                   significant, ci_level, processes_*, mannwhitney_pvalue, reason, key and the statuses
#                   inconclusive / not_comparable; Comparison gains the run key. Older documents migrate on read
#                   (a round of ``loops`` calls becomes one observation of that many calls).
#   3, additive (2026-11-29): HistoryChange gains the kinds transient / noise and optional fields (the
#                   commit range, the levels' intervals, the runs behind them); older documents read.
#   3, additive (2026-12-07): Verdict gains ``would_have`` (an invalid verdict's status had the
#                   measurement been trusted: pass/warning/critical; "" unknown); older documents read.
SCHEMA_VERSION = 3
MIN_READABLE_VERSION = 1

Direction = Literal["lower", "higher"]
Severity = Literal["warning", "critical"]


@dataclass(frozen=True)
class Stats:
    """Summary of one sample; values are in the unit the owner names (e.g. ``latency_s``)."""

    n: int
    min: float
    median: float
    mean: float
    p95: float
    p99: float
    max: float
    stdev: float
    mad: float
    ci_low: float  # confidence interval of the median
    ci_high: float
    ci_level: float
    # Distribution-free (order-statistic) confidence intervals of the tail quantiles; None where the
    # sample is too small for the interval to have that end inside it.
    p95_ci_low: float | None = None
    p95_ci_high: float | None = None
    p99_ci_low: float | None = None
    p99_ci_high: float | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"Stats.n must be >= 1, got {self.n}")
        if not (self.min <= self.median <= self.p95 <= self.p99 <= self.max):
            raise ValueError(f"Stats out of order: min={self.min} median={self.median} p95={self.p95} "
                             f"p99={self.p99} max={self.max}")


@dataclass(frozen=True)
class ResourceSummary:
    """psutil samples taken while one benchmark ran (see perf_tasks.monitor.sampler)."""

    samples: int
    interval_s: float
    process_cpu_pct_mean: float
    process_cpu_pct_max: float
    rss_max_bytes: int
    system_cpu_pct_mean: float
    system_memory_pct_max: float
    disk_read_bytes: int
    disk_write_bytes: int
    net_sent_bytes: int
    net_recv_bytes: int


@dataclass(frozen=True)
class Target:
    """A pass/fail bound on a metric: exactly one of ``max`` (value must be <= max) or ``min``.

    ``warning`` is an optional stricter bound on the same side (a load scenario's 2 % error rate
    under its 5 % limit): a value that meets the main bound but not this one is judged "warning".
    ``max`` may be 0 ("none allowed", e.g. an error rate); ``min`` must be positive.
    """

    max: float | None = None
    min: float | None = None
    severity: Severity = "critical"
    source: str = ""  # where it came from: "config/benchmarks.yaml" or "param target_overrides"
    warning: float | None = None  # stricter bound: <= warning (max targets) or >= warning (min targets)

    def __post_init__(self) -> None:
        if (self.max is None) == (self.min is None):
            raise ValueError(f"Target needs exactly one of max/min, got max={self.max} min={self.min}")
        bound = self.max if self.max is not None else self.min
        if not (isinstance(bound, (int, float)) and math.isfinite(bound)
                and (bound >= 0 if self.max is not None else bound > 0)):
            raise ValueError(f"Target bound must be a positive number (max may be 0), got {bound!r}")
        if self.warning is not None:
            w = self.warning
            if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
                raise ValueError(f"Target warning bound must be a finite number >= 0, got {w!r}")
            if self.severity != "critical":
                raise ValueError(f"Target warning bound {w!r} needs severity 'critical' (the main bound's), "
                                 f"got {self.severity!r}")
            if (w > bound) if self.max is not None else (w < bound):
                raise ValueError(f"Target warning bound {w!r} must be stricter than the main bound "
                                 f"({self.op} {bound!r})")

    @property
    def threshold(self) -> float:
        return float(self.max if self.max is not None else self.min)  # type: ignore[arg-type]

    @property
    def op(self) -> str:
        return "<=" if self.max is not None else ">="

    def met_by(self, value: float) -> bool:
        return value <= self.max if self.max is not None else value >= self.min  # type: ignore[operator]

    def margin(self, value: float, bound: float | None = None) -> float:
        """How many times over the bound (default: the main one) we are on the good side (>1
        passes, <1 fails)."""
        b = self.threshold if bound is None else float(bound)
        if self.max is not None:
            return math.inf if value <= 0 else b / value
        return value / b

    def warning_met_by(self, value: float) -> bool:
        """True when there is no warning bound or ``value`` meets it."""
        if self.warning is None:
            return True
        return value <= self.warning if self.max is not None else value >= self.warning


#: how a verdict's reason begins when the load generator, not the system, was the limit; such an
#: invalid verdict sends an alert on its own (the load test needs more generator capacity)
GENERATOR_SATURATED = "load generator saturated"


@dataclass(frozen=True)
class Metric:
    name: str  # fully qualified: "<suite>.<benchmark>.<metric>", unit in the last part
    value: float
    unit: str
    direction: Direction
    target: Target | None = None
    samples: int | None = None  # observations behind a statistic (a percentile's sample count)
    # The measurement cannot carry a verdict (e.g. the load generator, not the system, was the
    # limit): a target on this metric is judged invalid with this reason, never pass or fail.
    invalid_reason: str = ""
    # The statistic has no data although the system was asked (e.g. no successful request): a
    # target on it fails with this reason (never pass, never invalid).
    no_data_reason: str = ""
    # A miss cannot be blamed on the system (e.g. the load generator sent late, which only adds to
    # the measured latency): a missed target is invalid with this reason; a pass stands.
    invalid_if_missed: str = ""


@dataclass(frozen=True)
class BenchmarkResult:
    suite: str
    name: str
    callable: str
    params: dict[str, Any]
    items_per_call: int
    item_unit: str
    warmups: int
    calls_per_observation: int  # 1: every observation is one call (latency_* metrics); >1: batch_latency_*
    observation_s: tuple[float, ...]  # raw: seconds of each timed observation, in order, all processes
    latency_s: Stats | None  # of the observations (seconds per call, or per batch)
    metrics: tuple[Metric, ...]
    resources: ResourceSummary | None
    calls: int
    errors: int
    error: str | None = None  # the first error message, when a call raised
    duration_s: float = 0.0
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # from the workload, e.g. {"device": "cpu"}
    observation_process: tuple[int, ...] = ()  # worker process index (0..processes-1) of each observation
    process_means_s: tuple[float, ...] = ()  # mean observation per worker process (between-process spread)
    timed_s: float = 0.0  # wall time of the timed observations (throughput = items / timed_s)
    items: int = 0  # work items completed in the timed observations
    params_digest: str = ""  # sha256 of callable + params + calls_per_observation (comparison key part)
    # why this scenario cannot run on the system under test (e.g. it must kill the service and the
    # system only has a url): then it measured nothing, on purpose; never a pass, never a failure
    not_applicable: str = ""

    def __post_init__(self) -> None:
        if self.calls_per_observation < 1:
            raise ValueError(f"calls_per_observation must be >= 1, got {self.calls_per_observation}")
        if self.observation_process and len(self.observation_process) != len(self.observation_s):
            raise ValueError(f"observation_process has {len(self.observation_process)} entries for "
                             f"{len(self.observation_s)} observations")

    @property
    def key(self) -> str:
        return f"{self.suite}.{self.name}"

    @property
    def processes(self) -> int:
        return len(self.process_means_s)


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    profile: str
    started_at: str
    finished_at: str
    benchmarks: tuple[BenchmarkResult, ...]


@dataclass(frozen=True)
class RunResults:
    dag_id: str
    run_id: str
    profile: str
    started_at: str
    fingerprint: dict[str, Any]
    suites: tuple[SuiteResult, ...]
    host_metrics: tuple[Metric, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def metrics(self) -> list[Metric]:
        out = list(self.host_metrics)
        for suite in self.suites:
            for bench in suite.benchmarks:
                out.extend(bench.metrics)
        return out


@dataclass(frozen=True)
class Violation:
    metric: str
    value: float
    unit: str
    threshold: float
    op: str  # the condition that was broken, e.g. "<=" (value should have been <= threshold)
    severity: Severity
    source: str  # "target (config/benchmarks.yaml)", "rule response_time_p95", ...


VerdictStatus = Literal["pass", "warning", "critical", "invalid"]


@dataclass(frozen=True)
class Verdict:
    """One target judged. ``status`` is pass, warning or critical (missed, by the target's
    severity), or invalid: the measurement cannot be trusted (too few samples for the percentile,
    the benchmark failed), so it neither passes nor blames the system; ``reason`` says why."""

    metric: str
    value: float
    unit: str
    threshold: float
    op: str
    margin: float
    passed: bool  # status == "pass"
    severity: Severity
    source: str
    status: VerdictStatus = "pass"
    reason: str = ""
    samples: int | None = None
    # invalid only: what the verdict would have been had the measurement been trusted (pass,
    # warning, critical; "" when nothing was measured). A would-be miss is a finding, never silent.
    would_have: str = ""


def not_applicable_result(suite: str, name: str, reason: str, *, callable_: str = "",
                          params: dict[str, Any] | None = None) -> BenchmarkResult:
    """The result of a scenario that cannot run on the system under test: no measurement, its
    reason (shown in every report, judged by no target; see :class:`Evaluation`)."""
    return BenchmarkResult(suite=suite, name=name, callable=callable_ or f"{suite} scenario {name}",
                           params=dict(params or {}), items_per_call=1, item_unit="request", warmups=0,
                           calls_per_observation=1, observation_s=(), latency_s=None, metrics=(), resources=None,
                           calls=0, errors=0, not_applicable=reason)


@dataclass(frozen=True)
class Evaluation:
    run_id: str
    verdicts: tuple[Verdict, ...]
    violations: tuple[Violation, ...]
    failed_benchmarks: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION
    # benchmark key -> why it is not applicable to the system under test (judged by nothing)
    not_applicable: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def critical(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.severity == "critical")

    @property
    def invalid(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.status == "invalid")


@dataclass(frozen=True)
class MetricChange:
    metric: str
    unit: str
    direction: Direction
    baseline: float
    current: float
    change_pct: float  # (current - baseline) / baseline * 100
    # inconclusive: beyond the threshold but no significance test was possible (``reason`` says why);
    # not_comparable: the comparison key differs (params digest, device, profile, ...) or the baseline
    # lacks the metric; ``reason`` names both values
    status: Literal["regression", "improvement", "unchanged", "inconclusive", "not_comparable"]
    pvalue: float | None = None  # the gate's two-sided p-value (process-level bootstrap), when tested
    ratio_ci_low: float | None = None  # interval of current/baseline at ci_level (significant: excludes 1)
    ratio_ci_high: float | None = None
    test: str = ""  # how significance was judged, e.g. "two-level bootstrap of the p99 ratio"; "" untested
    significant: bool | None = None  # None: not tested
    ci_level: float | None = None  # of ratio_ci_low/high: 1 - alpha
    processes_baseline: int | None = None  # worker processes behind each side (the test's sample size)
    processes_current: int | None = None
    mannwhitney_pvalue: float | None = None  # p50/mean: pooled observations, information only (no gate)
    reason: str = ""  # why not comparable, untested or inconclusive
    key: dict[str, str] = dataclasses.field(default_factory=dict)  # the benchmark's key: params_digest, device


@dataclass(frozen=True)
class HistoryChange:
    """A finding in a metric's history of runs (perf_tasks.regress.history.ChangeReport: the
    fields after ``new`` are documented there). ``regression`` / ``improvement``: a level change;
    ``transient``: an excursion that came back (never a level change); ``noise``: the spread
    changed (``before``/``after`` in %)."""

    metric: str
    kind: Literal["regression", "improvement", "transient", "noise"]
    run: str  # first run of the new level
    commit: str | None  # the code under test at that run: the first bad commit
    detected_at_run: str
    before: float
    after: float
    change_pct: float
    pvalue: float | None
    new: bool  # detected at this run (alerts), or an older change (report only)
    last_good_run: str | None = None  # the last run of the old level; suspects: last_good_commit..commit
    last_good_commit: str | None = None
    before_low: float | None = None  # 95 % intervals of the two levels
    before_high: float | None = None
    after_low: float | None = None
    after_high: float | None = None
    first_run_before: str | None = None  # the old level's runs: first_run_before .. last_good_run
    end_run: str | None = None  # the new level's runs: run .. end_run
    runs_before: int = 0
    runs_after: int = 0
    runs_excluded: int = 0  # excursions left out in between
    z: float | None = None
    method: str = ""

    @property
    def commit_range(self) -> str | None:
        """``last_good..first_bad`` (git's range syntax), or the one commit known."""
        if self.commit and self.last_good_commit and self.last_good_commit != self.commit:
            return f"{self.last_good_commit}..{self.commit}"
        return self.commit


@dataclass(frozen=True)
class Comparison:
    run_id: str
    baseline_run_id: str | None
    threshold_pct: float
    changes: tuple[MetricChange, ...] = ()
    note: str = ""  # why there is no comparison, or a fingerprint mismatch, named
    fingerprint_mismatch: tuple[str, ...] = ()
    baseline_kind: Literal["promoted", "previous", "none"] = "previous"
    alpha: float = 0.01
    history_changes: tuple[HistoryChange, ...] = ()
    history_runs: int = 0
    schema_version: int = SCHEMA_VERSION
    # the run-level comparison key both runs share (dag_id, profile, comparable environment); the
    # history uses only runs with this key too
    key: dict[str, str] = dataclasses.field(default_factory=dict)
    resamples: int = 0  # bootstrap resamples per side and benchmark
    max_observations: int = 0  # observations per side kept for the tests (seeded subsample beyond)

    @property
    def not_comparable(self) -> tuple[MetricChange, ...]:
        return tuple(c for c in self.changes if c.status == "not_comparable")

    @property
    def regressions(self) -> tuple[MetricChange, ...]:
        return tuple(c for c in self.changes if c.status == "regression")

    @property
    def improvements(self) -> tuple[MetricChange, ...]:
        return tuple(c for c in self.changes if c.status == "improvement")


# --- JSON codec ------------------------------------------------------------------------------

def to_dict(obj: Any) -> Any:
    """Dataclass -> plain JSON-able structure (tuples become lists, inf becomes a string)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)  # "inf" / "nan": JSON has no literal for them
    return obj


def to_json(obj: Any) -> str:
    return json.dumps(to_dict(obj), indent=2, sort_keys=False)


_T = typing.TypeVar("_T")


_STRICT_KEYS = ConfigDict(extra="forbid")


def _forbid_unknown_keys(tp: Any, seen: set[type]) -> None:
    """Mark ``tp`` and every dataclass nested in its fields ``extra="forbid"`` for pydantic (it
    reads ``__pydantic_config__`` of plain dataclasses): an unknown key is a newer format, never
    silently dropped."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if tp in seen:
            return
        seen.add(tp)
        if "__pydantic_config__" not in vars(tp):
            tp.__pydantic_config__ = _STRICT_KEYS  # type: ignore[attr-defined]
        for hint in typing.get_type_hints(tp).values():
            _forbid_unknown_keys(hint, seen)
    for arg in typing.get_args(tp):
        _forbid_unknown_keys(arg, seen)


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    _forbid_unknown_keys(cls, set())
    return TypeAdapter(cls)


def _problem(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err.get("loc", ()))
    kind = err.get("type", "")
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"unknown field {where!r} (a newer format?)"
    if kind == "missing_argument":
        return f"missing field {where!r}"
    if kind == "literal_error":
        allowed = err.get("ctx", {}).get("expected", "")
        return f"{where}: {err.get('input')!r} is not one of {allowed}"
    return f"{where}: {err.get('msg', kind)} (got {err.get('input')!r})" if where else str(err.get("msg", kind))


def from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
    """Plain dict -> dataclass, recursively, by pydantic (nested dataclasses, tuples, unions,
    literals, ``"inf"`` floats converted and checked; unknown keys are an error: a newer format?).
    Raises ValueError naming every bad field."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as exc:
        raise ValueError("; ".join(_problem(e) for e in exc.errors())) from None


def _migrate(data: Any, version: int) -> Any:
    """Older documents -> this version's shape (see the format history at the top)."""
    if isinstance(data, list):
        return [_migrate(v, version) for v in data]
    if not isinstance(data, dict):
        return data
    out = {k: _migrate(v, version) for k, v in data.items()}
    if version < 3 and "round_call_s" in out and "loops" in out:
        loops = int(out.pop("loops"))
        rounds = out.pop("round_call_s")
        out["calls_per_observation"] = loops
        out["observation_s"] = [float(r) * loops for r in rounds]  # a round of `loops` calls = one observation
    return out


def from_json(cls: type[_T], text: str, *, source: str = "<string>") -> _T:
    """Parse a document written by :func:`to_json`; refuses other schema versions, naming both."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON: {exc}") from exc
    version = data.get("schema_version", SCHEMA_VERSION) if isinstance(data, dict) else None
    if not isinstance(version, int) or not MIN_READABLE_VERSION <= version <= SCHEMA_VERSION:
        raise ValueError(f"{source}: schema_version {version!r} is not supported (this code reads "
                         f"{MIN_READABLE_VERSION} to {SCHEMA_VERSION})")
    if version != SCHEMA_VERSION and "schema_version" in data:
        data = {**_migrate(data, version), "schema_version": SCHEMA_VERSION}  # new fields take defaults
    try:
        return from_dict(cls, data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: not a valid {cls.__name__}: {exc}") from exc


