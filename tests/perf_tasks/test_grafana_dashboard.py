"""The Grafana dashboards (config/grafana: overview, load tests, risk and trading, model
performance, system health) query only series the pipeline pushes (no Grafana runs here: the JSON
is checked, and each PromQL expression is parsed by Prometheus's promtool when it is installed)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO

GRAFANA = REPO / "config" / "grafana"
PUSHED = {"perf_metric", "perf_target_status", "perf_target_threshold", "perf_run_critical", "perf_run_info",
          "perf_run_finished_timestamp_seconds", "perf_live_rate_per_s", "perf_live_p95_ms",
          "perf_live_error_rate_pct", "perf_live_observations"}


DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def _exprs() -> list[str]:
    return [t["expr"] for path in DASHBOARDS for p in json.loads(path.read_text())["panels"] for t in p["targets"]]


def test_the_five_dashboards_have_unique_uids_and_panel_ids_and_fit_the_grid():
    assert {p.stem for p in DASHBOARDS} == {"perf-pipeline", "perf-load-tests", "perf-risk-trading", "perf-models",
                                            "perf-system-health"}
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    for path in DASHBOARDS:
        panels = json.loads(path.read_text())["panels"]
        assert len({p["id"] for p in panels}) == len(panels), path.name
        assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels), path.name


def test_every_panel_queries_a_series_that_prom_py_pushes():
    source = (REPO / "perf_tasks" / "monitor" / "prom.py").read_text()
    for name in PUSHED:
        assert f'"{name}"' in source, name
    for expr in _exprs():
        names = set(re.findall(r"\b(perf_[a-z0-9_]+)\b", expr))
        assert names and names <= PUSHED, expr
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    uids = {p["datasource"]["uid"] for path in DASHBOARDS for p in json.loads(path.read_text())["panels"]}
    assert uids == {ds["datasources"][0]["uid"]}


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool (Debian package prometheus) is not installed")
def test_every_expression_parses_as_promql(tmp_path):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": e.replace("$dag", ".*").replace("$profile", ".*")}
        for i, e in enumerate(_exprs())]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
