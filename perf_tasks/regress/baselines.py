"""Promoted baselines, versioned in the artifact store (never in Airflow's metadata DB), and the
lookup of the baseline a run is compared with.

``<root>/<dag_id>/_baselines/v0001.json``, ``v0002.json``, ...: each names a sealed, successful
run and keeps its environment fingerprint and comparison key. Versions are immutable; the newest
is current. Promotion is explicit (DAG param ``promote_baseline`` or ``python -m perf_tasks
baseline promote``). A run is compared with the newest promoted baseline *of its key* (profile and
comparable environment, :mod:`perf_tasks.regress.keys`), else the newest successful earlier run of
its key: a smoke run is never compared with a standard one.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from perf_tasks.errors import StoreError, UserError
from perf_tasks.regress.keys import describe, differences, entry_matches, run_key
from perf_tasks.results import RunResults, from_json
from perf_tasks.store import ArtifactStore, RunArtifacts, safe_id

_VERSION = re.compile(r"/v(\d{4,})\.json$")


def _prefix(dag_id: str) -> str:
    return f"{safe_id(dag_id)}/_baselines/"


def list_baselines(store: ArtifactStore, dag_id: str) -> list[dict[str, Any]]:
    """Every promoted baseline, oldest first."""
    keys = [k for k in store.list_keys(_prefix(dag_id)) if _VERSION.search(k)]
    return [store.get_json(k) for k in sorted(keys, key=lambda k: int(_VERSION.search(k).group(1)))]  # type: ignore[union-attr]


def current_baseline(store: ArtifactStore, dag_id: str) -> dict[str, Any] | None:
    found = list_baselines(store, dag_id)
    return found[-1] if found else None


def promote(store: ArtifactStore, dag_id: str, run_id: str, *, note: str = "", promoted_by: str = "") -> dict[str, Any]:
    """Make a finished, successful run the baseline (a new version)."""
    run = RunArtifacts(store, dag_id, run_id)
    try:
        manifest = run.verify()
    except StoreError as exc:
        raise UserError(f"cannot promote run {run_id!r} of {dag_id}: {exc}") from exc
    if manifest["status"] != "success":
        raise UserError(f"cannot promote run {run_id!r} of {dag_id}: its status is {manifest['status']!r}, "
                        f"only successful runs can be baselines")
    env = store.get_json(run.key("environment.json"))
    results_key = run.key("results.json")
    key = run_key(from_json(RunResults, store.get_bytes(results_key).decode(), source=store.uri(results_key)))
    existing = list_baselines(store, dag_id)
    version = (existing[-1]["version"] + 1) if existing else 1
    doc = {"version": version, "dag_id": dag_id, "run_id": run_id, "results_key": results_key,
           "fingerprint": env["fingerprint"], "key": key, "promoted_at": datetime.now(timezone.utc).isoformat(),
           "promoted_by": promoted_by, "note": note}
    key = f"{_prefix(dag_id)}v{version:04d}.json"
    if store.exists(key):  # a concurrent promotion took this version
        raise StoreError(f"baseline {store.uri(key)} already exists; retry the promotion")
    store.put_bytes(key, json.dumps(doc, indent=2).encode())
    return doc


@dataclass(frozen=True)
class Baseline:
    """What a run is compared with; ``results`` is None when nothing of its key was found."""

    kind: Literal["promoted", "previous", "none"]
    results: RunResults | None
    passed_over: tuple[str, ...] = ()  # promoted baselines of another key, each saying how it differs


def _load(store: ArtifactStore, key: str) -> RunResults:
    return from_json(RunResults, store.get_bytes(key).decode(), source=store.uri(key))


def find_baseline(store: ArtifactStore, dag_id: str, run_id: str, index: Sequence[dict[str, Any]],
                  key: dict[str, str]) -> Baseline:
    """The newest promoted baseline with run key ``key``, else the newest sealed, successful earlier
    run with it (``index`` newest first, as :func:`perf_tasks.store.run_index` returns). Promoted
    baselines of another key are passed over and named; index entries without a key never match."""
    passed_over = []
    for doc in reversed(list_baselines(store, dag_id)):
        if doc["run_id"] == run_id:
            continue
        results = None
        theirs = doc.get("key")
        if theirs is None:  # promoted before keys were stored: read the key from its results
            results = _load(store, doc["results_key"])
            theirs = run_key(results)
        if theirs != key:
            passed_over.append(f"promoted baseline v{doc['version']:04d} (run {doc['run_id']}) has another key: "
                               + "; ".join(differences(key, theirs)))
            continue
        return Baseline("promoted", results or _load(store, doc["results_key"]), tuple(passed_over))
    for entry in index:
        if entry.get("status") != "success" or entry.get("run_id") == run_id or not entry_matches(entry, key):
            continue
        return Baseline("previous", _load(store, f"{entry['prefix']}/results.json"), tuple(passed_over))
    return Baseline("none", None, tuple(passed_over))


def no_baseline_note(store: ArtifactStore, dag_id: str, key: dict[str, str]) -> str:
    return (f"no promoted baseline and no earlier successful run of {dag_id} in {store.url} with the same "
            f"key ({describe(key)})")
