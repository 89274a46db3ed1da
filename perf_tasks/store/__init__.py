"""Artifact stores: ``file://`` (default ``./artifacts``) and ``s3://bucket/prefix``."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from perf_tasks.errors import ConfigError
from perf_tasks.store.base import ArtifactStore, ManifestEntry, RunArtifacts, run_index, safe_id
from perf_tasks.store.file import FileStore
from perf_tasks.store.s3 import S3Store

__all__ = ["ArtifactStore", "FileStore", "ManifestEntry", "RunArtifacts", "S3Store", "open_store",
           "run_index", "safe_id"]


def open_store(url: str, *, s3_client: Any = None, source: str = "artifacts URL") -> ArtifactStore:
    """``file:///abs/path``, a plain path, or ``s3://bucket[/prefix]``."""
    if not url:
        raise ConfigError(f"{source}: empty artifacts URL")
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        path = unquote(parsed.path) if parsed.scheme == "file" else url
        if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"{source}: file URL {url!r} must be file:///absolute/path")
        return FileStore(Path(path))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError(f"{source}: S3 URL {url!r} has no bucket; expected s3://bucket/prefix")
        return S3Store(parsed.netloc, parsed.path, client=s3_client)
    raise ConfigError(f"{source}: unsupported artifacts URL {url!r}; expected file:///path or s3://bucket/prefix")
