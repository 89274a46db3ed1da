"""A kind's options, declared once: one pydantic model per kind (:class:`KindOptions`), all here so
that a DAG file imports them without the kinds' engines (this module imports pydantic and a help string).

The model is the one declaration of a kind's options. Its fields give the names, types, defaults
(``None``: "use the config / the profile's value"), bounds (``ge``/``le``/``gt``) and descriptions;
everything else derives from it:

- the DAG's trigger params (``perf_operators.params.kind_params`` turns its JSON schema into
  ``Param`` objects: nullable types for ``None`` defaults, ``enum`` from ``Literal``, ``minimum`` /
  ``maximum`` from the bounds, the description and the form section);
- ``OPTION_DEFAULTS`` of the kind module (:func:`defaults`), the CLI's ``--opt`` names;
- the checks of a run's options (:meth:`KindOptions.parse`, called by ``prepare`` and by the CLI),
  whose ConfigError names the option, the bad value and where it came from (``param 'shards'``,
  ``--opt shards``) before anything is measured.

Forms and the CLI give values in several shapes: a list option also takes a comma string
(``--opt scenarios=normal,peak``), numbers and booleans also come as text (pydantic's lax mode),
and an empty string or empty list means "not given" (``None``) for an optional field.
"""
from __future__ import annotations

import typing
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from perf_tasks.errors import ConfigError
from perf_tasks.load.safety import ALLOW_PARAM_HELP  # a string (safety.py is light)


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        return True
    return any(_is_sequence(a) for a in typing.get_args(annotation)) if origin is not None else False


def _is_optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def where(name: str, source: str = "param") -> str:
    """How an error names an option: ``param 'shards'`` (a trigger param) or ``--opt shards``."""
    return f"param {name!r}" if source == "param" else f"{source} {name}"


class KindOptions(BaseModel):
    """Base of every kind's options model: unknown names refused, instances frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the kind's name, for messages (set by each subclass)
    KIND: typing.ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, field in cls.model_fields.items():
            if name not in out:
                continue
            value = out[name]
            if isinstance(value, str) and _is_sequence(field.annotation):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if _is_optional(field.annotation) and (value == "" or (isinstance(value, (list, tuple)) and not value)):
                value = None
            if value is None and not _is_optional(field.annotation):
                value = field.default  # absent in a form that sends null: the default
            out[name] = value
        return out

    @classmethod
    def parse(cls, options: dict[str, Any], *, source: str = "param") -> typing.Self:
        """The options of a run, checked: a ConfigError naming each bad option, its value and
        ``source`` (``param``: a trigger param, ``--opt``: the CLI)."""
        unknown = sorted(set(options) - set(cls.model_fields))
        if unknown:
            raise ConfigError(f"{where(unknown[0], source)}: not an option of a {cls.KIND} run "
                              f"(options: {sorted(cls.model_fields) or 'none'})")
        try:
            return cls.model_validate(options)
        except ValidationError as exc:
            raise ConfigError(format_option_errors(exc, options, source)) from None

    def dump(self) -> dict[str, Any]:
        """The options as a JSON-able dict (lists for sequences), as run.json stores them."""
        return self.model_dump(mode="json")


_BOUNDS = {"greater_than_equal": (">=", "ge"), "less_than_equal": ("<=", "le"), "greater_than": (">", "gt"),
           "less_than": ("<", "lt")}
_TYPES = {"int_parsing": "an integer", "int_type": "an integer", "int_from_float": "an integer",
          "float_parsing": "a number", "float_type": "a number", "finite_number": "a finite number",
          "bool_parsing": "true or false", "bool_type": "true or false", "string_type": "text",
          "list_type": "a list", "tuple_type": "a list"}


def format_option_errors(exc: ValidationError, options: dict[str, Any], source: str) -> str:
    """Each error as ``param 'shards': expected <= 64, got 65`` (the value as given)."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else "?"
        inner = f" item {'.'.join(loc[1:])}" if len(loc) > 1 else ""
        got = options.get(name)
        kind, ctx = err["type"], err.get("ctx") or {}
        if kind in _BOUNDS:
            op, key = _BOUNDS[kind]
            parts.append(f"{where(name, source)}{inner}: expected {op} {ctx.get(key)}, got {got!r}")
        elif kind in _TYPES:
            parts.append(f"{where(name, source)}{inner}: expected {_TYPES[kind]}, got {got!r}")
        elif kind == "literal_error":
            parts.append(f"{where(name, source)}{inner}: {err.get('input')!r} is not one of "
                         f"[{ctx.get('expected', '').replace(' or ', ', ')}]")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{where(name, source)}{inner}: {msg[:1].lower() + msg[1:]}, got {got!r}")
    return "; ".join(parts)


def defaults(model: type[KindOptions]) -> dict[str, Any]:
    """Every option with its default (a kind's ``OPTION_DEFAULTS``)."""
    return {name: field.default for name, field in model.model_fields.items()}


# --- the kinds' models -------------------------------------------------------------------


class DailyOptions(KindOptions):
    """The daily kind has no options of its own (suites and target overrides are every run's)."""

    KIND: ClassVar[str] = "daily"


#: the trigger form's sections (Airflow ``Param(section=...)``); options without one stay at the top
TARGET = {"section": "Target and safety"}
LOAD = {"section": "Load per point"}
KNEE = {"section": "Knee and cost"}

ShardMode = Literal["auto", "processes", "tasks"]


class LoadOptions(KindOptions):
    """The load kind's options: its DAG's trigger params and ``--opt NAME=VALUE`` (declared here only)."""

    KIND: ClassVar[str] = "load"

    scenarios: tuple[str, ...] | None = Field(
        None, description="Scenarios to run, in order; empty: every scenario in config/load_scenarios.yaml.")
    shards: int = Field(1, ge=1, le=64,
                        description="Split each scenario's rate and users over this many load processes.")
    target_url: str | None = Field(
        None, description="Existing service to test (must be in the allowlist: loopback by default); empty: start "
                          "the bundled service.",
        json_schema_extra=TARGET)
    service_workers: int = Field(1, ge=1, le=16, description="uvicorn workers of the bundled service.",
                                 json_schema_extra=TARGET)
    # how K shards run: "processes" (K processes inside one task, started together), "tasks" (K mapped
    # tasks, e.g. on Celery workers; they meet at a common start), "auto" (resolved at setup)
    shard_mode: ShardMode = Field(
        "auto", description="How shards run. They always start together; shards that did not overlap in time make "
                            "the scenario invalid.",
        json_schema_extra={"values_display": {"auto": "auto (tasks on Celery/Kubernetes, else processes)",
                                              "processes": "processes (K processes in one task)",
                                              "tasks": "tasks (K mapped tasks, on different workers)"}})
    service_host: str = Field(
        "127.0.0.1", description="Bind address of the bundled service (0.0.0.0 for shards on other machines; then "
                                 "set advertised_url and allow).",
        json_schema_extra=TARGET)
    advertised_url: str | None = Field(
        None, description="URL shards use to reach the bundled service, e.g. http://10.0.0.5:{port}; empty: its "
                          "loopback URL.",
        json_schema_extra=TARGET)
    # the hosts this run may hit besides loopback: a subset of the deployment's allowlist (config/safety.yaml,
    # $PERF_LOAD_ALLOWLIST), never wider; empty: the deployment's whole list. prepare() stores the resolved list.
    allow: tuple[str, ...] | None = Field(
        None, description="Hosts or CIDR networks this run may hit besides loopback. " + ALLOW_PARAM_HELP,
        json_schema_extra=TARGET)


class StressOptions(KindOptions):
    """The stress kind's options: its DAG's trigger params and ``--opt NAME=VALUE``."""

    KIND: ClassVar[str] = "stress"

    scenarios: tuple[str, ...] | None = Field(
        None, description="Scenarios to run, one at a time, in order (empty: config/stress.yaml's "
                          "default_scenarios).")
    intensity: float = Field(1.0, gt=0, le=1, allow_inf_nan=False,
                             description="0 < x <= 1: scales stressor strength (CPU duty, memory share, disk rate, "
                                         "added latency, resets), shock size and failure load.")
    target_url: str | None = Field(
        None, description="Existing service to test (must be in the allowlist: loopback by default); empty: each "
                          "scenario starts the bundled service.",
        json_schema_extra=TARGET)
    # hosts target_url may name besides loopback: a subset of the deployment's allowlist (config/safety.yaml,
    # $PERF_LOAD_ALLOWLIST), never wider; empty: the deployment's whole list. prepare() stores the resolved list.
    allow: tuple[str, ...] | None = Field(
        None, description="Hosts or CIDR networks target_url may name besides loopback. " + ALLOW_PARAM_HELP,
        json_schema_extra=TARGET)
    window_s: float | None = Field(None, ge=0, le=3600, allow_inf_nan=False,
                                   description="Resource stressors: seconds per load window (empty: the profile's).")
    seed: int = Field(20261127, description="Seed of the load schedules and shocks (same seed, same arrivals).")


Size = Annotated[int, Field(ge=1)]
Multiple = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Positive = Field(gt=0, allow_inf_nan=False)


class ScaleOptions(KindOptions):
    """The scalability kind's options: its DAG's trigger params and ``--opt NAME=VALUE``. An empty
    (None) option takes ``config/scalability.yaml``'s value for the run's profile (``prepare``)."""

    KIND: ClassVar[str] = "scale"

    axes: tuple[Literal["instances", "cores"], ...] | None = Field(
        None, description="Axes to sweep; empty: the profile's (config/scalability.yaml).")
    instances: tuple[Size, ...] | None = Field(None, description="Instance counts, e.g. [1, 2, 4]; empty: the "
                                                                 "profile's.")
    cores: tuple[Size, ...] | None = Field(
        None, description="Core counts for the vertical axis (at most this host's); empty: the profile's.")
    sut: Literal["service", "testserver", "urls"] | None = Field(
        None, description="What to scale: the bundled service, the known-capacity test server (calibration), or "
                          "running instances at 'urls'; empty: config's.",
        json_schema_extra=TARGET)
    urls: tuple[str, ...] | None = Field(
        None, description="sut=urls: base URLs (round robin by a local HAProxy), e.g. a Kubernetes Service; every "
                          "host must be in the allowlist.",
        json_schema_extra=TARGET)
    # hosts urls/replicas_url may name besides loopback: a subset of the deployment's allowlist
    # (config/safety.yaml, $PERF_LOAD_ALLOWLIST), never wider; empty: its whole list (resolved by prepare)
    allow: tuple[str, ...] | None = Field(
        None, description="Hosts or CIDR networks urls/replicas_url may name besides loopback. " + ALLOW_PARAM_HELP,
        json_schema_extra=TARGET)
    replicas_url: str | None = Field(
        None, description="A URL answering the replica count (JSON number, {replicas: n}, a Kubernetes scale object "
                          "or a Prometheus query), read at every point.",
        json_schema_extra=TARGET)
    base_rate_per_s: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="Open-model rate per unit of size at 1x; empty: the profile's.",
        json_schema_extra=LOAD)
    multipliers: tuple[Multiple, ...] | None = Field(
        None, description="Multiples of the base rate, e.g. [1, 2, ..., 10]; empty: the profile's.",
        json_schema_extra=LOAD)
    point_duration_s: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="Seconds per load point; empty: the profile's.",
        json_schema_extra=LOAD)
    p99_ms: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="The knee's latency target (p99 of every arrival); empty: config's.",
        json_schema_extra=KNEE)
    error_rate_pct: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="The knee's error-rate target; empty: config's.",
        json_schema_extra=KNEE)
    journey: str | None = Field(
        None, description="The load journey of every point (config/load_journeys.yaml); empty: config's.",
        json_schema_extra=LOAD)
    cost_per_core_hour: float | None = Field(
        None, ge=0, allow_inf_nan=False,
        description="USD per core-hour for cost per transaction; empty: config's.",
        json_schema_extra=KNEE)
    memory_limit_mb: int | None = Field(
        None, ge=0, description="cgroup v2 memory.max per instance where writable (else the result says why not); "
                                "empty/0: none.",
        json_schema_extra=TARGET)
    generator_shards: int | None = Field(
        None, ge=1, le=64,
        description="Load processes per point (high rates need several; a saturated generator's point is invalid "
                    "and says how many); empty: config's.",
        json_schema_extra=LOAD)
    balancer: Literal["auto", "haproxy", "multiworker"] | None = Field(
        None, description="auto: HAProxy when installed, else the service's multi-worker mode.",
        json_schema_extra=TARGET)
    seed: int = Field(20261127, description="Seed of the load schedules (same seed, same arrivals).")
