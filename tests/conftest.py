"""Test setup. Airflow reads its config at import, so the environment is set here, first."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="perf-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ["PERF_WORK_DIR"] = str(_HOME / "work")
os.environ["PERF_ARTIFACTS_URL"] = (_HOME / "artifacts").as_uri()
os.environ.pop("SLACK_WEBHOOK_URL", None)
for path in (REPO, REPO / "plugins", REPO / "dags"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

pytest_plugins = ["tests.support.fixtures"]


def pytest_configure(config):
    config.addinivalue_line("markers", "stack: starts real Airflow processes (tests/dags/test_celery_stack.py, "
                                       "tests/ui/); deselect with -m 'not stack'")
