"""Shared by the failure-scenario tests: run one scenario by name, and check nothing is left."""
from __future__ import annotations

import glob
import tempfile
import threading
from pathlib import Path

import psutil
import pytest

from perf_tasks.results import BenchmarkResult
from perf_tasks.stress.base import StressContext
from perf_tasks.stress.failures import FAILURES


def pg_or_skip() -> None:
    psycopg = pytest.importorskip("psycopg")
    from perf_tasks.stress.databases import PG_ADMIN_URL
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable: {exc}")


def values(result: BenchmarkResult) -> dict[str, float]:
    return {m.name.rsplit(".", 1)[1]: m.value for m in result.metrics}


def no_data(result: BenchmarkResult) -> dict[str, str]:
    return {m.name.rsplit(".", 1)[1]: m.no_data_reason for m in result.metrics if m.no_data_reason}


class Leftovers:
    """What exists before a scenario, to compare with after it: our child processes, our
    databases, the service's lock files, and the threads the scenarios start (fault proxy, order
    clients, prober, feed publisher and watcher)."""

    THREADS = ("faultproxy", "orders-", "prober", "feed-")

    def __init__(self) -> None:
        self.children = {p.pid for p in psutil.Process().children(recursive=True)}
        self.locks = set(glob.glob(f"{tempfile.gettempdir()}/trading-service-pg-*.lock"))
        try:
            from perf_tasks.stress.databases import leftover_databases
            self.dbs = set(leftover_databases())
        except Exception:
            self.dbs = None

    def check(self, work: Path) -> None:
        alive = [p for p in psutil.Process().children(recursive=True)
                 if p.pid not in self.children and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"processes left behind: {[(p.pid, p.cmdline()[:4]) for p in alive]}"
        assert set(glob.glob(f"{tempfile.gettempdir()}/trading-service-pg-*.lock")) <= self.locks
        if self.dbs is not None:
            from perf_tasks.stress.databases import leftover_databases
            assert set(leftover_databases()) <= self.dbs
        assert not list(work.glob("orders*.db*")), "database files left behind"
        threads = [t.name for t in threading.enumerate() if t.is_alive() and t.name.startswith(self.THREADS)]
        assert not threads, f"threads left running: {threads}"


def bundled_system():
    """The bundled demo's definition (config/systems.yaml's default): what these scenarios start."""
    from perf_tasks.system import load_system
    return load_system(Path(__file__).resolve().parents[3] / "config")


def run(name: str, work: Path, *, profile: str = "smoke", config: dict | None = None,
        intensity: float = 1.0) -> BenchmarkResult:
    ctx = StressContext(name=name, work=work, profile=profile, intensity=intensity, config=config or {},
                        system=bundled_system())
    result = FAILURES[name](ctx)
    validate(result)
    return result


def validate(result: BenchmarkResult) -> None:
    """The run's validate step would accept it (names, units, finite non-negative values)."""
    from perf_tasks.results import RunResults, SuiteResult
    from perf_tasks.validate.results import validate_results

    suite = SuiteResult(suite="stress", profile="smoke", started_at="", finished_at="", benchmarks=(result,))
    v = validate_results(RunResults(dag_id="perf_stress_monthly", run_id="t", profile="smoke", started_at="",
                                    fingerprint={}, suites=(suite,)))
    assert v.passed, v.failures
