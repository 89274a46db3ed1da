from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from perf_tasks.errors import ConfigError
from perf_tasks.regress.detect import OnlineConfig, naive_alerts, online_alerts, otava_change_points
from perf_tasks.regress.harness import evaluate, make_corpus, make_series, score
from perf_tasks.regress.history import History, detect_changes, history_from_index, read_history_csv
from tests.conftest import REPO


def _step(rng, noise_pct=2.0, step_pct=10.0, at=60, n=100):
    logv = rng.normal(0, np.log1p(noise_pct / 100), n)
    logv[at:] += np.log1p(step_pct / 100)
    return list(100 * np.exp(logv))


def test_online_detector_finds_a_10pct_step_within_3_runs_and_says_where():
    alerts = online_alerts(_step(np.random.default_rng(1)))
    assert len(alerts) == 1
    a = alerts[0]
    assert a.index == 60 and a.at - a.index <= 3 and 7 < a.change_pct < 13 and a.pvalue < 0.01


def test_online_detector_stays_quiet_on_noise_with_outliers():
    rng = np.random.default_rng(2)
    values = 100 * np.exp(rng.normal(0, 0.02, 300))
    values[::37] *= 2.5  # slow outliers
    assert online_alerts(values) == []


def test_online_detector_reports_improvements_too():
    alerts = online_alerts(_step(np.random.default_rng(3), step_pct=-15.0))
    assert [a.direction for a in alerts] == ["down"]


def test_naive_threshold_compares_each_run_with_the_previous():
    alerts = naive_alerts([100, 101, 115, 114, 100], threshold_pct=10)
    assert [(a.index, round(a.change_pct)) for a in alerts] == [(2, 14), (4, -12)]


def test_otava_locates_the_change_point():
    cps = otava_change_points(_step(np.random.default_rng(4), step_pct=20.0))
    assert [c.index for c in cps] == [60] and cps[0].method == "otava"


def test_detector_refuses_non_positive_values():
    with pytest.raises(ValueError, match="must be finite and > 0"):
        online_alerts([1.0, 0.0, 2.0])


def test_history_changes_blame_the_run_and_commit_and_follow_direction():
    values = _step(np.random.default_rng(5))
    labels = tuple(f"run{i}" for i in range(100))
    commits = tuple(f"sha{i}" for i in range(100))
    (lat,) = detect_changes(History("x.latency_p50_ms", labels, tuple(values), commits), direction="lower")
    assert (lat.kind, lat.run, lat.commit) == ("regression", "run60", "sha60")
    (tput,) = detect_changes(History("x.throughput_per_s", labels, tuple(values), commits), direction="higher")
    assert tput.kind == "improvement"


def test_history_from_index_is_oldest_first_and_skips_failed_runs():
    key = {"dag_id": "d", "profile": "smoke"}
    entries = [{"run_id": "r3", "status": "success", "metrics": {"m": 3.0}, "git_sha": "c", "key": key},
               {"run_id": "r2", "status": "failed", "metrics": {"m": 99.0}, "key": key},
               {"run_id": "r1", "status": "success", "metrics": {"m": 1.0}, "git_sha": "a", "key": key}]
    h = history_from_index(entries, "m", key=key)
    assert h.labels == ("r1", "r3") and h.values == (1.0, 3.0) and h.commits == ("a", "c")


def test_csv_formats_and_errors(tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("timestamp,value,commit\n2026-01-01,10,abc\n2026-01-02,11,def\n")
    (h,) = read_history_csv(one, metric="api.latency")
    assert h.metric == "api.latency" and h.values == (10.0, 11.0) and h.commits == ("abc", "def")
    wide = tmp_path / "wide.csv"
    wide.write_text("timestamp,a,b\n1,10,\n2,11,5\n")
    got = {x.metric: x.values for x in read_history_csv(wide)}
    assert got == {"a": (10.0, 11.0), "b": (5.0,)}
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n1,10\n2,fast\n")
    with pytest.raises(ConfigError, match=r"bad.csv: line 3, column 'value': 'fast' is not a number"):
        read_history_csv(bad)
    (tmp_path / "nots.csv").write_text("x,value\n1,2\n")
    with pytest.raises(ConfigError, match="needs a timestamp column"):
        read_history_csv(tmp_path / "nots.csv")


def test_regress_cli_prints_change_points_as_json(tmp_path):
    rng = np.random.default_rng(6)
    values = _step(rng, step_pct=20.0, at=40, n=80)
    path = tmp_path / "h.csv"
    path.write_text("timestamp,commit,api_p95\n" + "".join(f"t{i},c{i},{v}\n" for i, v in enumerate(values)))
    out = subprocess.run([sys.executable, "-m", "perf_tasks", "regress", "--history", str(path)], capture_output=True,
                         text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (change,) = doc["api_p95"]["changes"]
    assert (change["run"], change["commit"], change["kind"]) == ("t40", "c40", "regression")


def test_small_harness_meets_the_goals_on_plain_noise():
    """A fast version of benchmarks/regression_harness.py: plain noise, seeded."""
    corpus = make_corpus(np.random.default_rng(11), per_cell=8, noises=(1.0, 2.0), steps=(0.0, 10.0, 20.0),
                         variants=("plain",))
    rows = evaluate(corpus, {"ours": (lambda v: online_alerts(v, OnlineConfig()), True)})
    stepped = [r for r in rows if r.step_pct]
    assert all(r.recall == 1.0 for r in stepped)
    assert all(r.recall_within_3 == 1.0 for r in stepped)
    assert all(r.delay_median <= 3 for r in stepped)
    assert sum(r.false_alarms_per_100_runs for r in rows) / len(rows) <= 0.05


def test_scoring_counts_matches_delays_and_false_alarms():
    from perf_tasks.regress.detect import Alert
    s = make_series(np.random.default_rng(0), length=100, noise_pct=1.0, step_pct=10.0, variant="plain")
    c = s.change_at
    hit = Alert(index=c, at=c + 2, before=100, after=110, change_pct=10, pvalue=0.001, method="t")
    early = Alert(index=5, at=7, before=100, after=110, change_pct=10, pvalue=0.001, method="t")
    sc = score(s, [early, hit], online=True)
    assert (sc.detected, sc.delay, sc.false_alarms) == (True, 2, 1)
