"""Typed config loading: YAML files in ``config/`` validated once, at load.

Every error names the file, the key path and the bad value, e.g.
``config/benchmarks.yaml: suites.risk.benchmarks.mc_var.targets.latency_p95_ms.max: Input should
be greater than 0 (got -5)``.
"""
from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from perf_tasks.errors import ConfigError

#: The metrics a benchmark produces, with unit and direction. Targets name these.
#: ``latency_*``: of single calls (one observation = one call; what every item that call processed
#: experiences). ``batch_latency_*``: of batches of ``calls_per_observation`` calls (sub-microsecond
#: operations). ``latency_mean_per_item_ms``: timed wall time / items, an amortised mean, never a
#: percentile. ``throughput_per_s``: items completed / wall time of the timed calls.
PER_CALL_METRICS = ("latency_p50_ms", "latency_mean_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms")
BATCH_METRICS = tuple(f"batch_{m}" for m in PER_CALL_METRICS)
BENCHMARK_METRICS: dict[str, tuple[str, Literal["lower", "higher"]]] = {
    **{m: ("ms", "lower") for m in PER_CALL_METRICS},
    **{m: ("ms", "lower") for m in BATCH_METRICS},
    "latency_mean_per_item_ms": ("ms", "lower"),
    "other_cpu_pct_mean": ("%", "lower"),  # CPU share of the host used by other processes while it ran
    "throughput_per_s": ("1/s", "higher"),
    "error_rate_pct": ("%", "lower"),
    "rss_max_bytes": ("bytes", "lower"),
    "process_cpu_pct_mean": ("%", "lower"),
    "system_memory_pct_max": ("%", "lower"),
}

PROFILE_NAMES = ("smoke", "standard", "full")
_NAME = r"^[a-z][a-z0-9_]*$"
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class TargetConfig(_Strict):
    max: float | None = Field(default=None, gt=0)
    min: float | None = Field(default=None, gt=0)
    severity: Literal["warning", "critical"] = "critical"
    warning: float | None = Field(default=None, ge=0)  # stricter bound: missing it while meeting max/min -> "warning"
    origin: str = ""  # where an override came from (set by apply_target_overrides; "" = the benchmarks file)

    @model_validator(mode="after")
    def _one_bound(self) -> TargetConfig:
        if (self.max is None) == (self.min is None):
            raise ValueError("give exactly one of 'max' or 'min'")
        for v in (self.max, self.min):
            if v is not None and not math.isfinite(v):
                raise ValueError(f"bound must be finite, got {v}")
        if self.warning is not None:
            if not math.isfinite(self.warning):
                raise ValueError(f"warning bound must be finite, got {self.warning}")
            if self.severity != "critical":
                raise ValueError(f"a 'warning' bound needs severity 'critical', got {self.severity!r}")
            if (self.max is not None and self.warning > self.max) or (self.min is not None and self.warning < self.min):
                raise ValueError(f"'warning' ({self.warning}) must be stricter than "
                                 f"{'max ' + str(self.max) if self.max is not None else 'min ' + str(self.min)}")
        return self


class BenchmarkConfig(_Strict):
    callable: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    profile_params: dict[Literal["smoke", "standard", "full"], dict[str, Any]] = Field(default_factory=dict)
    item_unit: str = "call"
    # 1 (default): every call is timed alone, so latency_pNN_ms are percentiles of single calls.
    # N > 1: N calls per observation, for operations too short for the clock (sub-microsecond);
    # their percentiles are batch_latency_pNN_ms, and latency_pNN_ms targets are refused.
    calls_per_observation: int = Field(default=1, ge=1, le=100_000)
    targets: dict[str, TargetConfig]

    @model_validator(mode="before")
    @classmethod
    def _no_loops(cls, data: Any) -> Any:
        if isinstance(data, dict) and "loops" in data:
            raise ValueError(f"'loops' ({data['loops']!r}) was replaced by 'calls_per_observation' (default 1: "
                             "each call timed alone; percentiles of round means are no longer produced)")
        return data

    @model_validator(mode="after")
    def _targets_match_timing(self) -> BenchmarkConfig:
        wrong = BATCH_METRICS if self.calls_per_observation == 1 else PER_CALL_METRICS
        bad = sorted(set(self.targets) & set(wrong))
        if bad:
            if self.calls_per_observation == 1:
                raise ValueError(f"targets {bad}: batch_latency_* metrics exist only with calls_per_observation > 1")
            raise ValueError(f"targets {bad}: with calls_per_observation {self.calls_per_observation} an observation "
                             f"is a batch, so per-call percentiles cannot be measured; judge "
                             f"batch_latency_* or latency_mean_per_item_ms instead")
        return self

    @field_validator("callable")
    @classmethod
    def _callable_form(cls, v: str) -> str:
        if not _CALLABLE.match(v):
            raise ValueError(f"expected 'package.module:function', got {v!r}")
        return v

    @field_validator("targets")
    @classmethod
    def _known_metrics(cls, v: dict[str, TargetConfig]) -> dict[str, TargetConfig]:
        if not v:
            raise ValueError("a benchmark needs at least one target (spec §1.3 gives one for each)")
        for name in v:
            if name not in BENCHMARK_METRICS:
                raise ValueError(f"unknown metric {name!r}; known: {', '.join(BENCHMARK_METRICS)}")
        return v

    def params_for(self, profile: str) -> dict[str, Any]:
        return {**self.params, **self.profile_params.get(profile, {})}  # type: ignore[call-overload]


class SuiteConfig(_Strict):
    description: str = ""
    default: bool = True  # run when no suites are named (false: only on request, e.g. needs a server)
    benchmarks: dict[str, BenchmarkConfig]

    @field_validator("benchmarks")
    @classmethod
    def _names(cls, v: dict[str, BenchmarkConfig]) -> dict[str, BenchmarkConfig]:
        if not v:
            raise ValueError("a suite needs at least one benchmark")
        for name in v:
            if not re.match(_NAME, name):
                raise ValueError(f"benchmark name {name!r} must match {_NAME}")
        return v


class BenchmarksFile(_Strict):
    schema_version: Literal[1]
    suites: dict[str, SuiteConfig]

    @field_validator("suites")
    @classmethod
    def _names(cls, v: dict[str, SuiteConfig]) -> dict[str, SuiteConfig]:
        if not v:
            raise ValueError("no suites defined")
        for name in v:
            if not re.match(_NAME, name):
                raise ValueError(f"suite name {name!r} must match {_NAME}")
        return v


class ProfileConfig(_Strict):
    """How long and how often each benchmark is measured (never its targets).

    Each benchmark runs in ``processes`` fresh worker processes, one after another; each does its
    warmups, then takes observations until it has its share of ``max_observations``, or its share
    of ``min_observations`` and of ``max_benchmark_s``; a process stops regardless at
    ``hard_limit_factor`` x its time share (then percentiles may lack samples and say so).
    """

    description: str = ""
    warmups: int = Field(ge=0)
    processes: int = Field(ge=1, le=64)
    min_observations: int = Field(ge=2)
    max_observations: int = Field(ge=2)
    max_benchmark_s: float = Field(gt=0)
    hard_limit_factor: float = Field(default=3.0, ge=1.0)
    sample_interval_s: float = Field(gt=0)

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data: Any) -> Any:
        old = sorted(set(data) & {"min_rounds", "max_rounds", "min_round_s"}) if isinstance(data, dict) else []
        if old:
            raise ValueError(f"{old} were replaced by processes, min_observations and max_observations "
                             "(observations are single calls now, not calibrated rounds)")
        return data

    @model_validator(mode="after")
    def _bounds(self) -> ProfileConfig:
        if self.max_observations < self.min_observations:
            raise ValueError(f"max_observations ({self.max_observations}) < min_observations "
                             f"({self.min_observations})")
        return self


class ProfilesFile(_Strict):
    schema_version: Literal[1]
    profiles: dict[Literal["smoke", "standard", "full"], ProfileConfig]


class AlertRule(_Strict):
    name: str
    metric: str  # glob over fully qualified metric names, e.g. "*.latency_p95_ms"
    warning: float = Field(ge=0)
    critical: float = Field(ge=0)
    description: str = ""
    # "above": alert when the value exceeds the bound (spec §6.2's thresholds); "below": when it
    # falls under it (e.g. trading volume): then critical is the lower bound
    when: Literal["above", "below"] = "above"
    # also judge metrics that have their own target (business alerts, e.g. availability from a
    # load scenario's error rate); a target judged invalid is never judged by a rule
    with_targets: bool = False

    @model_validator(mode="after")
    def _order(self) -> AlertRule:
        if self.when == "above" and self.warning > self.critical:
            raise ValueError(f"warning ({self.warning}) must not exceed critical ({self.critical})")
        if self.when == "below" and self.warning < self.critical:
            raise ValueError(f"when: below: warning ({self.warning}) must not be under critical ({self.critical})")
        return self

    def matches(self, metric: str) -> bool:
        return fnmatch.fnmatchcase(metric, self.metric)


class HistoryConfig(_Strict):
    """The change detector over each metric's history of runs. ``history`` (default): the
    whole-history pass of perf_tasks.regress.levels, re-run at every run; a change alerts at the
    first run that finds it. ``online``: the previous detector (robust band + Mann-Whitney U),
    kept for comparison; it uses ``window``, ``min_baseline``, ``band_z``, ``alpha``, ``persist``
    and ``min_change_pct``. Measured with benchmarks/regression_harness.py (see the README)."""

    method: Literal["history", "online"] = "history"
    persist: int = Field(default=4, ge=2)  # a new level must hold this many runs before it alerts
    max_transient: int = Field(default=3, ge=0)  # an excursion of up to this many runs that comes back is a transient
    z: float = Field(default=4.5, gt=0)  # |z| of a split (history)
    min_change_pct: float = Field(default=3.0, ge=0)  # and its medians at least this far apart
    outlier_sigma: float = Field(default=4.0, gt=0)  # a run this many robust sigmas off opens an excursion
    transient_min_pct: float = Field(default=20.0, ge=0)  # smaller excursions are left out silently
    noise_z: float = Field(default=4.0, gt=0)
    noise_ratio: float = Field(default=1.4, gt=1)  # spread change (either way) reported as "noise"
    noise_min_runs: int = Field(default=12, ge=4)
    max_runs: int = Field(default=200, ge=20)  # the newest runs of the history that are searched
    replay_runs: int = Field(default=30, ge=1)  # runs replayed to tell a new finding from one reported before
    # method online only
    window: int = Field(default=30, ge=5)
    min_baseline: int = Field(default=10, ge=3)
    band_z: float = Field(default=2.5, gt=0)
    alpha: float = Field(default=0.01, gt=0, lt=1)

    @model_validator(mode="after")
    def _spikes_never_levels(self) -> HistoryConfig:
        if self.persist <= self.max_transient:
            raise ValueError(f"persist ({self.persist}) must be greater than max_transient ({self.max_transient}): "
                             "otherwise an excursion that comes back could alert as a level change")
        return self


class RegressionConfig(_Strict):
    threshold_pct: float = Field(default=10.0, gt=0)
    alpha: float = Field(default=0.01, gt=0, lt=1)  # per run: 1 - alpha interval of the ratio (perf_tasks.regress.significance)
    metrics: list[str] = Field(default_factory=lambda: ["*.latency_p50_ms", "*.throughput_per_s"])
    overrides: dict[str, float] = Field(default_factory=dict)  # metric glob -> threshold_pct
    # Per-run regressions alert against a promoted baseline; against the previous run: "any" always,
    # "processes" when both runs measured the benchmark in >= alert_min_processes worker processes
    # (fewer give the interval too little between-process information: measured with
    # benchmarks/back_to_back.py, see the README), "promoted" never (reported only).
    alert_on: Literal["promoted", "any", "processes"] = "promoted"
    alert_min_processes: int = Field(default=5, ge=2)
    history: HistoryConfig = HistoryConfig()

    def threshold_for(self, metric: str) -> float:
        for pattern, pct in self.overrides.items():
            if fnmatch.fnmatchcase(metric, pattern):
                return pct
        return self.threshold_pct


class SlackConfig(_Strict):
    conn_id: str = "slack_default"
    attempts: int = Field(default=3, ge=1, le=10)
    backoff_s: float = Field(default=1.0, ge=0)
    # Alerts without noise (perf_tasks.alerts.state): an open alert already sent is sent again only
    # when it worsens (severity up, or the value worse by worsen_pct % of the last sent value; a
    # regression's change by worsen_pct points) or repeat_after_h hours passed; 0 = every run.
    repeat_after_h: float = Field(default=24.0, ge=0)
    worsen_pct: float = Field(default=10.0, ge=0)
    resolved: bool = True  # a "resolved" message when an alert that was sent clears
    # The report link in the message when the store is S3 and no http base URL is set: a presigned
    # GET URL valid this many hours (SigV4 allows at most 7 days).
    report_link_expiry_h: float = Field(default=168.0, gt=0, le=168)


class MeasurementConfig(_Strict):
    """When a measurement cannot carry a verdict (besides too few samples, see alerts.rules)."""

    # A target missed while other processes used more than this share of the host's CPUs
    # (mean over the benchmark; metric <suite>.<benchmark>.other_cpu_pct_mean) is "invalid":
    # a miss on a busy host is not the system's. Passes stand: contention only slows a run down.
    busy_host_other_cpu_pct: float = Field(default=40.0, gt=0, le=100)


class LiveAlertConfig(_Strict):
    """Alerts while a load scenario runs (perf_tasks.load.live): the scenario's p95 and error-rate
    targets judged over a rolling window; a violation held for ``hold_s`` sends one Slack alert."""

    enabled: bool = True
    window_s: float = Field(default=60.0, gt=0)
    hold_s: float = Field(default=30.0, ge=0)
    every_s: float = Field(default=5.0, gt=0)  # how often shards write their window and the monitor judges it
    abort: bool = False  # also stop the scenario (the final verdict covers what ran)


class MonitoringConfig(_Strict):
    """Prometheus Pushgateway for run metrics and live load windows (perf_tasks.monitor.prom);
    $PERF_PUSHGATEWAY_URL overrides; empty: off."""

    pushgateway_url: str = ""


class RunStateConfig(_Strict):
    """Whether the verdict decides the Airflow run's state (the DAGs' last task, ``verdict``)."""

    fail_on: Literal["critical", "never"] = "critical"  # teams gate on run state: a critical violation fails it


class AlertsFile(_Strict):
    schema_version: Literal[1]
    rules: list[AlertRule]
    measurement: MeasurementConfig = MeasurementConfig()
    regression: RegressionConfig = RegressionConfig()
    slack: SlackConfig = SlackConfig()
    live: LiveAlertConfig = LiveAlertConfig()
    run_state: RunStateConfig = RunStateConfig()
    monitoring: MonitoringConfig = MonitoringConfig()


@dataclass(frozen=True)
class PerfConfig:
    """All config, validated. ``sources`` maps each part to the file it came from."""

    benchmarks: BenchmarksFile
    profiles: ProfilesFile
    alerts: AlertsFile
    config_dir: Path

    def source(self, part: str) -> str:
        return str(self.config_dir / f"{part}.yaml")

    def profile(self, name: str) -> ProfileConfig:
        if name not in self.profiles.profiles:
            raise ConfigError(f"profile {name!r} is not defined in {self.source('profiles')}; "
                              f"known: {', '.join(self.profiles.profiles)}")
        return self.profiles.profiles[name]  # type: ignore[index]

    def suite_names(self) -> list[str]:
        return list(self.benchmarks.suites)


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = _format_loc(tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict) and err["type"] not in ("extra_forbidden",) else f" (got {got!r})"
        lines.append(f"{source}: {loc}: {msg}{shown}")
    return "\n".join(lines)


def load_yaml_mapping(path: Path, what: str = "config file") -> Any:
    """A YAML file whose top level is a mapping; every failure is a ConfigError naming the file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not UTF-8 text ({exc.reason} at byte {exc.start}): a binary file?") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: collections nested too deeply") from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        # PyYAML's constructors raise these for scalars they cannot build: a date like 2001-13-01,
        # "!!int x", "!!timestamp x", "!!bool x"
        raise ConfigError(f"{path}: not valid YAML: a value cannot be built ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _parse(model: type[BaseModel], path: Path) -> Any:
    data = load_yaml_mapping(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None


def load_config(config_dir: str | Path) -> PerfConfig:
    """Load and validate ``benchmarks.yaml``, ``profiles.yaml`` and ``alerts.yaml`` from a folder."""
    d = Path(config_dir)
    if not d.is_dir():
        raise ConfigError(f"config folder {d} does not exist")
    return PerfConfig(
        benchmarks=_parse(BenchmarksFile, d / "benchmarks.yaml"),
        profiles=_parse(ProfilesFile, d / "profiles.yaml"),
        alerts=_parse(AlertsFile, d / "alerts.yaml"),
        config_dir=d,
    )


def select_suites(cfg: PerfConfig, requested: list[str] | None, *, source: str = "param 'suites'") -> list[str]:
    """The suites to run: the default ones when ``requested`` is empty; unknown names are an error."""
    known = cfg.suite_names()
    if not requested:
        return [s for s in known if cfg.benchmarks.suites[s].default]
    if not isinstance(requested, list) or not all(isinstance(s, str) for s in requested):
        raise ConfigError(f"{source}: expected a list of suite names, got {requested!r}")
    unknown = [s for s in requested if s not in known]
    if unknown:
        raise ConfigError(f"{source}: unknown suite(s) {unknown}; {cfg.source('benchmarks')} defines "
                          f"{known}")
    return list(dict.fromkeys(requested))


def apply_target_overrides(cfg: PerfConfig, overrides: dict[str, Any] | None,
                           *, source: str = "param 'target_overrides'") -> PerfConfig:
    """Replace targets from a mapping ``"suite.benchmark.metric" -> bound``.

    A bare number is a ``max`` for lower-is-better metrics and a ``min`` for higher-is-better
    ones; ``{"max": x}`` / ``{"min": x}`` say it explicitly.
    """
    if not overrides:
        return cfg
    if not isinstance(overrides, dict):
        raise ConfigError(f"{source}: expected a mapping of 'suite.benchmark.metric' to a number, "
                          f"got {overrides!r}")
    suites = {name: suite.model_copy(deep=True) for name, suite in cfg.benchmarks.suites.items()}
    for key, value in overrides.items():
        parts = str(key).split(".")
        if len(parts) != 3:
            raise ConfigError(f"{source}: key {key!r} must look like 'suite.benchmark.metric'")
        suite, bench, metric = parts
        if suite not in suites or bench not in suites[suite].benchmarks:
            raise ConfigError(f"{source}: {key!r} names no benchmark in {cfg.source('benchmarks')}")
        if metric not in BENCHMARK_METRICS:
            raise ConfigError(f"{source}: {key!r}: unknown metric {metric!r}; known: "
                              f"{', '.join(BENCHMARK_METRICS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            raise ConfigError(f"{source}: {key!r}: expected a positive number, got {value!r}")
        if isinstance(value, (int, float)):
            direction = BENCHMARK_METRICS[metric][1]
            value = {"max": value} if direction == "lower" else {"min": value}
        try:
            target = TargetConfig.model_validate({**value, "origin": f"{source}: {key}"})
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"{source}: {key}")) from None
        bench_cfg = suites[suite].benchmarks[bench]
        try:
            new_bench = BenchmarkConfig.model_validate(
                {**bench_cfg.model_dump(), "targets": {**bench_cfg.targets, metric: target}})
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"{source}: {key}")) from None
        suites[suite] = suites[suite].model_copy(
            update={"benchmarks": {**suites[suite].benchmarks, bench: new_bench}})
    new_file = cfg.benchmarks.model_copy(update={"suites": suites})
    return PerfConfig(benchmarks=new_file, profiles=cfg.profiles, alerts=cfg.alerts, config_dir=cfg.config_dir)
