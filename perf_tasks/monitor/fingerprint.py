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
#: contract); the other COMPARABLE_FIELDS only flag a comparison. With a system (systems.yaml) the
#: key also holds its ``system`` name and its ``fingerprint.key_packages``; a fingerprint written
#: before systems existed keeps its old key (KEY_FIELD_PACKAGES, no ``system``), so old runs stay
#: readable and compare among themselves, never with a run of a named system.
KEY_FIELDS = ("cpu_model", "cpu_count_logical", "python")
KEY_FIELD_PACKAGES = ("numpy", "torch")  # the key's packages in fingerprints without a system


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


def system_fields(system: Any) -> dict[str, Any]:
    """The system's part of the fingerprint (``system``: a :class:`perf_tasks.system.System`): its
    name, the versions of its configured packages (absent ones as ``"not installed"``), its
    repository and that repository's git SHA, and which packages go into the comparison key."""
    fp_def = system.definition.fingerprint
    names = tuple(dict.fromkeys([*fp_def.packages, *(fp_def.key_packages or ()),
                                 *(p for ps in fp_def.suite_key_packages.values() for p in ps)]))
    versions = package_versions(names)
    repo = system.repository()
    return {
        "system": system.name,
        "system_packages": {p: versions.get(p, "not installed") for p in names},
        "key_packages": list(fp_def.packages if fp_def.key_packages is None else fp_def.key_packages),
        "suite_key_packages": {k: list(v) for k, v in fp_def.suite_key_packages.items()},
        "system_repository": str(repo) if repo else None,
        "system_git_sha": git_sha(repo) if repo else None,
    }


def fingerprint(code_path: Path | None = None, system: Any = None) -> dict[str, Any]:
    """A JSON-able description of this machine and software stack. With ``system`` (the run's,
    from systems.yaml), ``git_sha`` is its repository's commit (the code under test) and the
    platform's own is ``platform_git_sha``; without one, both are the platform's."""
    platform_path = Path(__file__).resolve().parents[2]
    code_path = code_path or platform_path
    load1, load5, load15 = os.getloadavg()
    sys_fields = system_fields(system) if system is not None else {}
    platform_sha = git_sha(platform_path)
    code_sha = git_sha(code_path) if code_path != platform_path else platform_sha
    if sys_fields.get("system_repository"):
        code_path, code_sha = Path(sys_fields["system_repository"]), sys_fields["system_git_sha"]
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
        "git_sha": code_sha,
        "platform_git_sha": platform_sha,
        "load_avg": [round(load1, 2), round(load5, 2), round(load15, 2)],
        **sys_fields,
    }


def comparable_env(fp: dict[str, Any]) -> dict[str, str]:
    """The fingerprint's part of the comparison key, as strings (absent: ``"-"``), so it compares
    equal after a JSON round trip."""
    env = {k: "-" if fp.get(k) is None else str(fp.get(k)) for k in KEY_FIELDS}
    if "system" not in fp:  # written before systems existed: the key it always had
        packages = fp.get("packages") or {}
        env.update({k: str(packages.get(k, "-")) for k in KEY_FIELD_PACKAGES})
        return env
    env["system"] = str(fp["system"])
    versions = fp.get("system_packages") or {}
    env.update({k: str(versions.get(k, "-")) for k in fp.get("key_packages") or ()})
    return env


def suite_key_packages(fp: dict[str, Any], suite: str) -> dict[str, str]:
    """Package versions only ``suite``'s benchmarks carry in their key (systems.yaml
    ``fingerprint.suite_key_packages``: torch for the suites that import it)."""
    versions = fp.get("system_packages") or {}
    return {k: str(versions.get(k, "-")) for k in (fp.get("suite_key_packages") or {}).get(suite, ())}


def mismatches(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human-readable differences in the comparable fields, naming both values."""
    out = []
    for key in COMPARABLE_FIELDS:
        if a.get(key) != b.get(key):
            out.append(f"{key}: {a.get(key)!r} vs {b.get(key)!r}")
    return out
