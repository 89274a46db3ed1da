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
print('AIRFLOW:' + ','.join(bad[:5]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip().splitlines()[-1] == "AIRFLOW:"
