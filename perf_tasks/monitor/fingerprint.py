"""Environment fingerprint: what a result was measured on. Goes with every result."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

#: Packages whose versions change performance; recorded when installed.
KEY_PACKAGES = ("numpy", "pandas", "scipy", "torch", "psutil", "great-expectations", "apache-airflow")

#: Fields that must match for two results to be compared without a flag.
COMPARABLE_FIELDS = ("cpu_model", "cpu_count_logical", "memory_total_bytes", "os", "python")

#: The *comparable environment*: part of the comparison key (with DAG, profile and, per benchmark,
#: params digest and device). Runs whose key differs are never compared (DESIGN.md, measurement
#: contract); the other COMPARABLE_FIELDS only flag a comparison.
KEY_FIELDS = ("cpu_model", "cpu_count_logical", "python")
KEY_FIELD_PACKAGES = ("numpy", "torch")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_sha(path: Path) -> str | None:
    """The commit of the code under test at ``path``, or None when it is not a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def fingerprint(code_path: Path | None = None) -> dict[str, Any]:
    """A JSON-able description of this machine and software stack."""
    code_path = code_path or Path(__file__).resolve().parents[2]
    load1, load5, load15 = os.getloadavg()
    return {
        "hostname": platform.node(),
        "cpu_model": _cpu_model(),
        "cpu_count_logical": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": len(psutil.Process().cpu_affinity()) if hasattr(psutil.Process, "cpu_affinity") else None,
        "memory_total_bytes": psutil.virtual_memory().total,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "packages": package_versions(),
        "code_path": str(code_path),
        "git_sha": git_sha(code_path),
        "load_avg": [round(load1, 2), round(load5, 2), round(load15, 2)],
    }


def comparable_env(fp: dict[str, Any]) -> dict[str, str]:
    """The fingerprint's part of the comparison key, as strings (absent: ``"-"``), so it compares
    equal after a JSON round trip."""
    packages = fp.get("packages") or {}
    env = {k: "-" if fp.get(k) is None else str(fp.get(k)) for k in KEY_FIELDS}
    env.update({k: str(packages.get(k, "-")) for k in KEY_FIELD_PACKAGES})
    return env


def mismatches(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human-readable differences in the comparable fields, naming both values."""
    out = []
    for key in COMPARABLE_FIELDS:
        if a.get(key) != b.get(key):
            out.append(f"{key}: {a.get(key)!r} vs {b.get(key)!r}")
    return out
