"""Artifact store interface and the run layout on top of it.

Layout: ``<root>/<dag_id>/<run_id>/<relpath>``; ``manifest.json`` is written last and seals the
run (no key under a sealed run is ever written again); ``<root>/<dag_id>/_index/<finished>__<run>.json``
is a small index entry per sealed run, so the latest runs are found by listing one prefix.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from perf_tasks.errors import RunSealedError, StoreError, UserError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
INDEX = "_index"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class BadIdError(UserError, ValueError):
    """A DAG, run, suite or scenario id that cannot name a folder or key (nothing was written)."""


def safe_id(value: str, *, what: str = "id") -> str:
    """A run or DAG id made safe for paths and keys (``manual__2026-01-01T00:00:00+00:00`` ->
    ``manual__2026-01-01T00_00_00_00_00``): every character but letters, digits, ``.``, ``_`` and
    ``-`` becomes ``_`` (so no separator survives), and ids made only of dots (``.``, ``..``) are
    refused: they would name the folder above. The original id is kept inside the manifest."""
    if not isinstance(value, str) or not value:
        raise BadIdError(f"{what} {value!r}: an empty or non-string id cannot name a folder")
    safe = _UNSAFE.sub("_", value)
    if set(safe) <= {"."}:
        raise BadIdError(f"{what} {value!r}: an id made only of dots would name the folder above; choose another")
    return safe


class ArtifactStore(ABC):
    """Keys are '/'-separated, relative to the store's root."""

    url: str

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (recursive), sorted."""

    @abstractmethod
    def uri(self, key: str) -> str: ...

    def preflight(self) -> str:
        """Check, before any measuring, that the store can take this run's artifacts. Raises
        StoreError when it definitely cannot (no such bucket, access denied, a root that cannot
        be created); returns "" when fine, or a warning when it could not be reached just now
        (the run goes on: its artifacts stay in the work folder and can be sealed later)."""
        return ""

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    size_bytes: int
    sha256: str


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RunArtifacts:
    """One run's artifacts in a store: idempotent uploads until sealed, then read-only."""

    def __init__(self, store: ArtifactStore, dag_id: str, run_id: str) -> None:
        self.store = store
        self.dag_id = dag_id
        self.run_id = run_id
        self.prefix = f"{safe_id(dag_id, what='DAG id')}/{safe_id(run_id, what='run id')}"

    def key(self, relpath: str) -> str:
        if any(part in ("..", ".") for part in relpath.replace("\\", "/").split("/")) or relpath.startswith("/"):
            raise BadIdError(f"artifact path {relpath!r} must stay inside run {self.run_id!r} (no '..', '.', or '/' "
                             "at the start)")
        return f"{self.prefix}/{relpath}"

    def uri(self, relpath: str = "") -> str:
        return self.store.uri(self.key(relpath)) if relpath else self.store.uri(self.prefix + "/")

    def is_sealed(self) -> bool:
        return self.store.exists(self.key(MANIFEST))

    def upload_dir(self, local_dir: Path, *, exclude: tuple[str, ...] = (),
                   stored: dict[str, str] | None = None) -> list[ManifestEntry]:
        """Upload every file under ``local_dir``, except those ``stored`` (path -> sha256 of what
        this run already uploaded to this store) maps to their current digest; refuses when the
        run is sealed. Returns an entry for every file, skipped or not (the manifest lists all).

        Re-uploading after a retried task writes the same keys again (idempotent).
        """
        if self.is_sealed():
            raise RunSealedError(f"run {self.run_id!r} is already finished at {self.uri(MANIFEST)}; "
                                 f"its artifacts are never overwritten")
        entries, skipped = [], 0
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(local_dir).as_posix()
            if rel == MANIFEST or rel.split("/")[0] in exclude:
                continue
            data = path.read_bytes()
            entry = ManifestEntry(rel, len(data), sha256_bytes(data))
            if stored is not None and stored.get(rel) == entry.sha256:
                skipped += 1
            else:
                self.store.put_bytes(self.key(rel), data)
            entries.append(entry)
        log.info("uploaded %d artifacts to %s (%d already there, unchanged)", len(entries) - skipped, self.uri(),
                 skipped)
        return entries

    def seal(self, entries: list[ManifestEntry], *, status: str, summary: dict[str, Any],
             finished_at: datetime | None = None, index_extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write ``manifest.json`` (last) and the index entry (plus ``index_extra``: the run's
        headline metrics and git SHA, so history needs one listing, not one read per run)."""
        if self.is_sealed():
            raise RunSealedError(f"run {self.run_id!r} is already sealed at {self.uri(MANIFEST)}")
        finished = (finished_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        manifest = {
            "schema_version": 1,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "status": status,
            "finished_at": finished.isoformat(),
            "artifacts": [e.__dict__ for e in entries],
            "summary": summary,
        }
        self.store.put_bytes(self.key(MANIFEST), json.dumps(manifest, indent=2).encode())
        stamp = finished.strftime("%Y%m%dT%H%M%S.%fZ")
        index = {"run_id": self.run_id, "status": status, "finished_at": manifest["finished_at"],
                 "prefix": self.prefix, **(index_extra or {})}
        self.store.put_bytes(f"{safe_id(self.dag_id)}/{INDEX}/{stamp}__{safe_id(self.run_id)}.json",
                             json.dumps(index).encode())
        return manifest

    def verify(self) -> dict[str, Any]:
        """Read the manifest back and check every artifact's size and sha256."""
        manifest = self.store.get_json(self.key(MANIFEST))
        for entry in manifest["artifacts"]:
            data = self.store.get_bytes(self.key(entry["path"]))
            if len(data) != entry["size_bytes"] or sha256_bytes(data) != entry["sha256"]:
                raise StoreError(f"artifact {self.uri(entry['path'])} does not match its manifest entry")
        return manifest


def run_index(store: ArtifactStore, dag_id: str) -> list[dict[str, Any]]:
    """Index entries of the sealed runs of ``dag_id``, newest first."""
    keys = store.list_keys(f"{safe_id(dag_id)}/{INDEX}/")
    return [store.get_json(k) for k in sorted(keys, reverse=True)]
