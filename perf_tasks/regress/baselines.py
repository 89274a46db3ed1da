"""Promoted baselines, versioned in the artifact store (never in Airflow's metadata DB).

``<root>/<dag_id>/_baselines/v0001.json``, ``v0002.json``, ...: each names a sealed, successful
run and keeps its environment fingerprint. Versions are immutable; the newest is current.
Promotion is explicit (DAG param ``promote_baseline`` or ``python -m perf_tasks baseline promote``).
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from perf_tasks.errors import StoreError, UserError
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
    existing = list_baselines(store, dag_id)
    version = (existing[-1]["version"] + 1) if existing else 1
    doc = {"version": version, "dag_id": dag_id, "run_id": run_id, "results_key": run.key("results.json"),
           "fingerprint": env["fingerprint"], "promoted_at": datetime.now(timezone.utc).isoformat(),
           "promoted_by": promoted_by, "note": note}
    key = f"{_prefix(dag_id)}v{version:04d}.json"
    if store.exists(key):  # a concurrent promotion took this version
        raise StoreError(f"baseline {store.uri(key)} already exists; retry the promotion")
    store.put_bytes(key, json.dumps(doc, indent=2).encode())
    return doc
