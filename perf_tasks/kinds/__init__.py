"""Kinds of run: what a run measures. The shared steps (setup, validate, evaluate, compare,
report, persist, notify, verdict: :mod:`perf_tasks.pipeline`) know nothing of kinds; each kind is
one module here, registered by one line in :data:`KINDS`, plus one DAG file and its config.

A kind module exposes:

- ``KIND`` (its name) and ``DAG_ID`` (the DAG and the CLI's run folder);
- ``prepare(spec, cfg, *, executor="") -> RunSpec``: validate ``spec.options`` (a ConfigError
  naming the param) and return the spec with ``suites``, resolved ``options`` and
  ``expected_steps`` (the kind's own measuring steps, in order) filled in. The core puts
  ``setup_environment`` before them, the shared tail after, and the kind's ``TEARDOWN_STEPS``
  (optional) last;
- step functions ``fn(work, item=None, *, sender=None, channel="")`` that run inside
  ``pipeline.step(work, name)`` and write ``suites/<suite>.json`` (a SuiteResult) for every suite
  of ``spec.suites``; Airflow calls them through ``KindTaskOperator(kind=..., call="fn")``;
- ``measure(work, *, sender=None, channel="")``: every step in order in this process (the CLI);
- optional: ``tasks(spec) -> list`` (the mapping input its DAG's setup task returns; default the
  suites), ``report_extras(work, spec) -> dict`` (extra keyword arguments of the report renderer),
  ``OPTIONS`` (its options model, :mod:`perf_tasks.kinds.options`: the DAG's params are generated
  from it, ``--opt`` and ``prepare`` check through it) and ``OPTION_DEFAULTS`` (derived from it).
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from perf_tasks.errors import ConfigError
from perf_tasks.tail import CHECKED_STEPS

#: kind name -> module. Adding a kind: one line here, one module, one DAG file, its config.
KINDS = {
    "daily": "perf_tasks.kinds.daily",
    "load": "perf_tasks.kinds.load",
    "stress": "perf_tasks.kinds.stress",
    "scale": "perf_tasks.kinds.scale",
}

#: the shared steps after a kind's measuring steps that notify checks (perf_tasks.tail: the one table)
TAIL_STEPS = CHECKED_STEPS


def get_kind(name: str, *, source: str = "run kind") -> ModuleType:
    if name not in KINDS:
        raise ConfigError(f"{source}: {name!r} is not a kind of run (kinds: {sorted(KINDS)})")
    try:
        return importlib.import_module(KINDS[name])
    except ModuleNotFoundError as exc:
        if exc.name == KINDS[name]:
            raise ConfigError(f"{source}: kind {name!r} is registered but its module {KINDS[name]} is not "
                              "installed in this checkout") from None
        raise


def available() -> list[str]:
    """The registered kinds whose module is present."""
    out = []
    for name, module in KINDS.items():
        if importlib.util.find_spec(module) is not None:
            out.append(name)
    return out


def kind_tasks(kind: ModuleType, spec: Any) -> list[Any]:
    tasks = getattr(kind, "tasks", None)
    return list(tasks(spec)) if tasks else list(spec.suites)


def all_steps(kind: ModuleType, own: tuple[str, ...]) -> tuple[str, ...]:
    """Every step a run of this kind records, in order (notify checks them)."""
    return ("setup_environment", *own, *TAIL_STEPS, *getattr(kind, "TEARDOWN_STEPS", ()))


def option(options: dict[str, Any], name: str, kind: type, default: Any, *, source: str = "param") -> Any:
    """One option, type-checked: ``default`` when absent or None; a ConfigError naming the param."""
    value = options.get(name)
    if value is None:
        return default
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if kind is tuple and isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if kind is int and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if kind is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if kind is bool and isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{source} '{name}': expected {kind.__name__}, got {value!r}")
    return value
