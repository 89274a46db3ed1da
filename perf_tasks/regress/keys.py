"""The comparison key: which runs, and which benchmarks of them, may be compared.

DESIGN.md, measurement contract: two results are compared only when their key matches.

* run key: DAG, profile and the comparable environment (CPU model, logical cores, Python, the
  system's name and its key packages: :func:`perf_tasks.monitor.fingerprint.comparable_env`; runs
  written before systems existed keep numpy and torch and no system). A smoke run is never
  compared with a standard run; baseline lookup and the history skip runs of another key.
* benchmark key: the params digest (callable + params + calls per observation; derived the same
  way, marked ``derived-``, for results that carry none) and the device the workload reported in
  its ``info`` (and the GPU model when it names one), and the versions of the packages its suite
  is configured to carry (``suite_key_packages``: torch only where a suite imports it). A benchmark whose key differs is listed as
  not comparable, with both values.

Keys are flat dicts of strings, so they compare equal after a JSON round trip. They are stored in
the run index entry (``key``, ``benchmarks``), in promoted-baseline documents and in Comparison.
An index entry written before keys existed has none and matches nothing.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from perf_tasks.monitor.fingerprint import comparable_env, suite_key_packages
from perf_tasks.results import BenchmarkResult, RunResults


def run_key(results: RunResults) -> dict[str, str]:
    """DAG, profile and the comparable environment, which holds the system's name (systems.yaml):
    a run of one system never finds a baseline or history of another."""
    return {"dag_id": results.dag_id, "profile": results.profile, **comparable_env(results.fingerprint)}


def params_digest(callable_spec: str, params: dict[str, Any], calls_per_observation: int) -> str:
    """Short sha256 of what is measured (the runner stores it with every result): two results
    compare only when this matches."""
    doc = json.dumps({"callable": callable_spec, "params": params, "calls_per_observation": calls_per_observation},
                     sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def _derived_digest(bench: BenchmarkResult) -> str:
    """For results that carry no digest (written before schema 3; load results): the runner's
    recipe, marked ``derived-`` so it never equals a digest the runner wrote."""
    return "derived-" + params_digest(bench.callable, bench.params, bench.calls_per_observation)


def bench_key(bench: BenchmarkResult) -> dict[str, str]:
    key = {"params_digest": bench.params_digest or _derived_digest(bench),
           "device": str(bench.info.get("device", "-"))}
    if "gpu" in bench.info:
        key["gpu"] = str(bench.info["gpu"])
    return key


def bench_keys(results: RunResults) -> dict[str, dict[str, str]]:
    """Each benchmark's key, with the package versions its suite is configured to carry."""
    return {b.key: {**bench_key(b), **suite_key_packages(results.fingerprint, s.suite)}
            for s in results.suites for b in s.benchmarks}


def index_fields(results: RunResults) -> dict[str, Any]:
    """What a run's index entry carries so history and baseline lookup can match keys."""
    return {"key": run_key(results), "benchmarks": bench_keys(results)}


def differences(current: dict[str, str], baseline: dict[str, str]) -> list[str]:
    """``field: current vs baseline`` for each field that differs (both values named)."""
    return [f"{k}: {current.get(k, '-')!r} vs {baseline.get(k, '-')!r}"
            for k in dict.fromkeys([*current, *baseline]) if current.get(k) != baseline.get(k)]


def bench_mismatch(current: dict[str, str], baseline: dict[str, str]) -> str | None:
    """Why two benchmark keys do not match, or None when they do."""
    if not current.get("params_digest") or not baseline.get("params_digest"):
        return "no params digest"
    diff = differences(current, baseline)
    return "benchmark key differs: " + "; ".join(diff) if diff else None


def describe(key: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in key.items())


def entry_matches(entry: dict[str, Any], key: dict[str, str], bench: str | None = None,
                  bkey: dict[str, str] | None = None) -> bool:
    """Does a run index entry have this run key (and, for ``bench``, this benchmark key)?"""
    if not key or entry.get("key") != key:
        return False
    if bench is None:
        return True
    theirs = (entry.get("benchmarks") or {}).get(bench)
    return theirs is not None and bkey is not None and bench_mismatch(bkey, theirs) is None
