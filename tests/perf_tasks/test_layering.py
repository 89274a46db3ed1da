"""perf_tasks and trading_agent never import Airflow (the engine must work without it)."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def test_importing_every_engine_module_does_not_import_airflow():
    code = """
import importlib, pkgutil, sys
import perf_tasks, trading_agent
for pkg in (perf_tasks, trading_agent):
    for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):
        if mod.name != 'perf_tasks.__main__':
            importlib.import_module(mod.name)
bad = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))
tools = sorted(m for m in sys.modules if m.split('.')[0] in ('devtools', 'tests'))
print('TOOLS:' + ','.join(tools[:5]))
print('AIRFLOW:' + ','.join(bad[:5]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "AIRFLOW:"
    assert lines[-2] == "TOOLS:", "production code imports a test/measurement tool (devtools, tests)"


def _imports(path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_the_shared_steps_know_no_kind():
    """pipeline.py (setup, validate, evaluate, compare, report, persist, notify, verdict) reaches a
    kind only through the registry: adding a kind touches no shared step."""
    imported = _imports(REPO / "perf_tasks" / "pipeline.py")
    kind_code = ("perf_tasks.load", "perf_tasks.bench", "perf_tasks.stress", "perf_tasks.scale",
                 "perf_tasks.kinds.")
    assert not [m for m in imported if m.startswith(kind_code)], sorted(imported)
    text = (REPO / "perf_tasks" / "pipeline.py").read_text()
    for word in ("scenario", "shard", "stressor", "run_suite", '"load"'):
        assert word not in text, f"pipeline.py mentions {word}"


def test_every_kind_module_keeps_the_contract():
    """Each registered kind: KIND, DAG_ID, prepare, measure; a DAG file named DAG_ID in dags/ that
    sets up with its kind; step names it declares are functions of the module."""
    import importlib.util

    from perf_tasks import kinds

    present = kinds.available()
    assert {"daily", "load"} <= set(present)
    for name in present:
        mod = kinds.get_kind(name)
        assert mod.KIND == name
        assert callable(mod.prepare) and callable(mod.measure)
        dag_file = REPO / "dags" / f"{mod.DAG_ID}.py"
        assert dag_file.exists(), f"kind {name}: no DAG file {dag_file}"
        text = dag_file.read_text()
        assert f'kind="{name}"' in text, f"{dag_file} does not set up with kind {name!r}"
        import re
        for call in re.findall(r'call="([a-z_]+)"', text):
            assert callable(getattr(mod, call, None)), f"{dag_file}: call={call!r} is not a function of {mod.__name__}"
    assert importlib.util.find_spec("perf_tasks.load_pipeline") is None  # one home per kind


def test_unknown_kind_is_a_clear_error():
    import pytest

    from perf_tasks import kinds
    from perf_tasks.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'nope' is not a kind of run \(kinds: "):
        kinds.get_kind("nope", source="param 'kind'")


def test_order_store_backends_do_not_import_each_other():
    """store.py (SQLite) and pg_store.py (PostgreSQL) both build on store_base.py; only
    store.open_store reaches pg_store (lazily, psycopg only when asked for): no import circle."""
    trading = REPO / "trading_agent" / "trading"
    assert "trading_agent.trading.store" not in _imports(trading / "pg_store.py")
    assert not {"trading_agent.trading.store", "trading_agent.trading.pg_store"} & _imports(trading / "store_base.py")
