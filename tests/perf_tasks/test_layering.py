"""perf_tasks and trading_agent never import Airflow (the engine must work without it)."""
from __future__ import annotations

import os
from pathlib import Path
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


# --- layers: measured from the code's imports ------------------------------------------------
#
# perf_tasks, bottom to top. A module may import its own layer and the layers below, never one
# above; within a layer, no import circles (none anywhere: see the test below). An entry names a
# module and its submodules; one ending in "." names only the submodules (the kinds registry,
# perf_tasks.kinds, sits low; the kind modules perf_tasks.kinds.<kind> near the top). The
# longest matching entry decides. README.md ("Layout") describes the same order.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("perf_tasks", "perf_tasks.errors", "perf_tasks.fmt", "perf_tasks.results")),
    ("config and judgement rules", ("perf_tasks.config", "perf_tasks.stats", "perf_tasks.verdict", "perf_tasks.sut",
                                    "perf_tasks.system", "perf_tasks.probe", "perf_tasks.tail", "perf_tasks.kinds")),
    ("samplers and storage", ("perf_tasks.monitor", "perf_tasks.store", "perf_tasks.validate")),
    ("judging", ("perf_tasks.alerts", "perf_tasks.regress")),
    ("presentation", ("perf_tasks.report",)),
    ("measuring engines", ("perf_tasks.bench", "perf_tasks.load", "perf_tasks.stress", "perf_tasks.scale")),
    ("run core and shared steps", ("perf_tasks.pipeline", "perf_tasks.run")),
    ("kinds of run", ("perf_tasks.kinds.",)),
    ("entry points", ("perf_tasks.cli", "perf_tasks.__main__", "perf_tasks.load.cli", "perf_tasks.stress.cli",
                      "perf_tasks.regress.cli")),
)


def _layer_of(module: str) -> int | None:
    best, layer = -1, None
    for i, (_name, entries) in enumerate(LAYERS):
        for entry in entries:
            hit = module.startswith(entry) if entry.endswith(".") else (module == entry
                                                                         or module.startswith(entry + "."))
            if hit and len(entry) > best:
                best, layer = len(entry), i
    return layer


def _module_files() -> dict[str, Path]:
    out = {}
    for path in sorted((REPO / "perf_tasks").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {perf_tasks module it imports: line}, from every import statement of the module
    (top level and inside functions; relative imports resolved; ``from pkg import mod`` is ``pkg.mod``)."""
    import ast

    files = _module_files()

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        edges: dict[str, int] = {}
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for name in targets:
                target = known(name) if name.split(".")[0] == "perf_tasks" else None
                if target and target != module:
                    edges.setdefault(target, node.lineno)
        graph[module] = edges
    return graph


def test_every_engine_module_has_a_declared_layer():
    undeclared = [m for m in _module_files() if _layer_of(m) is None]
    assert not undeclared, f"declare these modules' layer in LAYERS (tests/perf_tasks/test_layering.py): {undeclared}"


def test_no_import_runs_up_a_layer():
    graph = import_graph()
    upward = [f"{m} (layer {LAYERS[_layer_of(m)][0]!r}) imports {t} (layer {LAYERS[_layer_of(t)][0]!r}), "
              f"line {line}" for m, edges in graph.items() for t, line in edges.items()
              if _layer_of(m) is not None and _layer_of(t) is not None and _layer_of(t) > _layer_of(m)]
    assert not upward, "\n".join(upward)


def test_no_import_circles_between_engine_modules():
    graph = import_graph()
    circles = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert not circles, circles


def test_the_layer_check_sees_function_level_imports():
    """The graph reads imports inside functions too (a lazy import is still a dependency)."""
    graph = import_graph()
    assert "perf_tasks.report.site" in graph["perf_tasks.pipeline"]  # imported inside history_site
    assert "perf_tasks.stress.cli" in graph["perf_tasks.cli"]  # imported inside build_parser
    assert _layer_of("perf_tasks.kinds") < _layer_of("perf_tasks.pipeline") < _layer_of("perf_tasks.kinds.load")
