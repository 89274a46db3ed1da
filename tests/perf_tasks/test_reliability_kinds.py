"""kinds.available() in a fresh interpreter: it must not rely on another module having imported
``importlib.util`` first (in a test session something always has, so this runs in a subprocess)."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def test_available_kinds_work_in_a_fresh_interpreter():
    code = "from perf_tasks.kinds import available; print(','.join(available()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "daily,load,stress,scale"
