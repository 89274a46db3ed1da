from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from perf_tasks.errors import ConfigError
from perf_tasks.regress.detect import naive_alerts, online_alerts, otava_change_points
from devtools.regress_harness import MATCH_RUNS, evaluate, make_corpus, make_series, score
from perf_tasks.regress.history import History, detect_changes, history_from_index, read_history_csv
from perf_tasks.regress.levels import LevelConfig, analyse, replay
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "regress" / "tigerbeetle.csv"


def _series(rng, n=120, noise_pct=2.0, heavy=False):
    """Log values of multiplicative noise whose robust sigma is noise_pct (Student-t(3) when heavy)."""
    sigma = np.log1p(noise_pct / 100)
    return (rng.standard_t(3, n) / 1.1341 if heavy else rng.normal(size=n)) * sigma


def _values(logv):
    return list(100 * np.exp(logv))


def _levels(found):
    return [c for c in found if c.kind == "level"]


# --- the detector the DAG alerts on -------------------------------------------------------------

def test_a_10pct_step_alerts_once_after_it_held_4_runs_with_its_levels_and_runs():
    y = _series(np.random.default_rng(1))
    y[60:] += np.log(1.10)
    (c,) = replay(_values(y))
    assert (c.kind, c.index, c.at) == ("level", 60, 63)  # the new level held persist = 4 runs
    assert 7 < c.change_pct < 13 and c.pvalue < 1e-4
    assert c.before_ci[0] < c.before < c.before_ci[1] and c.after_ci[0] < c.after < c.after_ci[1]
    assert c.before_ci[1] < c.after_ci[0]  # the intervals do not overlap
    # the levels come from the runs next to the change: at most 30 before, the 4 after
    assert (c.start_before, c.last_before, c.runs_before, c.runs_after) == (30, 59, 30, 4)


def test_a_spike_then_a_step_both_found_correctly_and_the_spike_does_not_reset_the_baseline():
    """The failure mode of the previous detector: a +80 % spike of 3 runs a few runs before a real
    10 % step made it rebuild its baseline from mixed data and miss the step."""
    rng = np.random.default_rng(2)
    y = _series(rng, heavy=True)
    y[52:55] += np.log(1.8)  # spike of 3 runs, back at 55
    y[58:] += np.log(1.10)
    found = replay(_values(y))
    (spike,) = [c for c in found if c.kind == "transient" and c.index < 58]  # (heavy tails make a few more)
    assert (spike.index, spike.end, spike.at) == (52, 54, 55) and 60 < spike.change_pct < 100
    (step,) = _levels(found)
    assert step.index == 58 and step.at <= 58 + 3 + 1
    assert 97 < step.before < 103  # the baseline is the level before the spike, not mixed with it
    assert step.excluded >= 3 and step.last_before == 57  # the spike (and any lone outlier) left out


def test_the_previous_detector_missed_that_step():
    rng = np.random.default_rng(2)
    y = _series(rng, heavy=True)
    y[52:55] += np.log(1.8)
    y[58:] += np.log(1.10)
    assert not [a for a in online_alerts(_values(y)) if abs(a.index - 58) <= MATCH_RUNS and a.change_pct > 0]


@pytest.mark.parametrize("length", [1, 2, 3])
def test_a_reverting_spike_is_never_a_level_change_and_is_reported_once_when_it_comes_back(length):
    y = _series(np.random.default_rng(3))
    y[70:70 + length] += np.log(1.6)
    for end in range(70, 70 + length + 1):  # while it is still high, nothing is found
        assert not _levels(analyse(_values(y[:end + 1])))
    found = replay(_values(y))
    assert not _levels(found)
    assert [(c.kind, c.index, c.at) for c in found] == [("transient", 70, 70 + length)]


def test_a_large_step_at_the_end_waits_for_the_fourth_run():
    y = _series(np.random.default_rng(4))
    y[100:] += np.log(1.6)  # as large as a spike: only its lasting tells them apart
    assert not _levels(analyse(_values(y[:103])))
    (c,) = _levels(analyse(_values(y[:104])))
    assert c.index == 100 and 55 < c.change_pct < 65


def test_heavy_tails_with_spikes_and_no_change_raise_nothing_but_transients():
    rng = np.random.default_rng(5)
    y = _series(rng, n=200, noise_pct=3.0, heavy=True)
    for start, size in ((30, 1), (77, 3), (120, 2), (160, 1)):
        y[start:start + size] += np.log(rng.uniform(1.4, 2.0))
    found = replay(_values(y))
    assert not _levels(found)
    assert {c.index for c in found if c.kind == "transient"} >= {30, 77, 120, 160}


def test_a_sustained_shift_of_two_sigmas_is_found_once_enough_runs_pile_up():
    y = _series(np.random.default_rng(6), n=140)
    y[60:] += 2 * np.log1p(0.02)  # 4 % at 2 % noise: no single run stands out
    (c,) = _levels(replay(_values(y)))
    assert abs(c.index - 60) <= 3 and 3 <= c.at - 60 <= 30


def test_a_bimodal_metric_becoming_stable_is_a_noise_change_not_a_level_change():
    """The noise collapses: 30 % of runs on a second mode 10 % up (5 sigmas; each of them an
    excursion to the level scan), then one mode only. The level does not change."""
    rng = np.random.default_rng(8)
    sigma = np.log1p(0.02)
    y = _series(rng, n=140)
    y[:70] += (rng.random(70) < 0.3) * 5 * sigma
    found = replay(_values(y))
    assert not _levels(found)
    (noise,) = [c for c in found if c.kind == "noise"]
    assert abs(noise.index - 70) <= 8 and noise.after < noise.before / 1.4  # spread in %, narrower


def test_wider_noise_is_reported_as_a_noise_change():
    y = _series(np.random.default_rng(8), n=140)
    y[70:] *= 3
    noise = [c for c in analyse(_values(y)) if c.kind == "noise"]
    assert len(noise) == 1 and abs(noise[0].index - 70) <= 8 and noise[0].change_pct > 100


def test_a_plateau_that_returns_is_two_level_changes_after_each_held():
    y = _series(np.random.default_rng(9))
    y[50:58] += np.log(1.15)
    found = _levels(replay(_values(y)))
    assert [(c.index, c.direction) for c in found] == [(50, "up"), (58, "down")]
    assert [c.at for c in found] == [53, 61]


def test_replaying_only_the_last_runs_does_not_report_older_changes_again():
    y = _series(np.random.default_rng(10))
    y[40:] += np.log(1.2)
    y[90:] += np.log(1.1)
    values = _values(y)
    full = _levels(replay(values))
    assert [c.index for c in full] == [40, 90]
    assert [c.index for c in _levels(replay(values, start=100))] == []
    assert [c.index for c in _levels(replay(values, start=85))] == [90]
    assert replay(values) == full or _levels(replay(values)) == full  # deterministic


def test_detector_config_refuses_a_persist_that_would_let_spikes_through():
    with pytest.raises(ValueError, match="persist .* must exceed max_transient"):
        LevelConfig(persist=3, max_transient=3)


def test_detector_refuses_non_positive_values():
    with pytest.raises(ValueError, match="must be finite and > 0"):
        replay([1.0, 0.0, 2.0] * 4)


def test_the_real_tigerbeetle_history_gives_its_known_changes():
    """Apache Otava's TigerBeetle series (tests/fixtures/regress): steps at 15, 61, 71, 95 and a
    one-run drop at 10 that came back; found by the DAG's detector at most 3 runs late."""
    (h,) = read_history_csv(FIXTURE, metric="value")
    marks = [line.split(",") for line in FIXTURE.read_text().splitlines()[1:]]
    expected = [int(r[0]) for r in marks if r[2] == "level"]
    slope = [int(r[0]) for r in marks if r[2] == "slope"]
    found = detect_changes(h, direction="higher", method="history")
    levels = [c for c in found if c.kind in ("regression", "improvement")]
    for e in expected:
        (c,) = [c for c in levels if abs(c.index - e) <= 2]
        assert c.index == e and levels.index(c) >= 0 and int(c.detected_at_run) - e <= 3
    assert all(any(abs(c.index - e) <= 2 for e in expected + slope) for c in levels)  # nothing else
    assert [c.index for c in found if c.kind == "transient"] == [10]
    assert {c.index: c.kind for c in levels}[15] == "regression"  # throughput fell: worse


# --- references -------------------------------------------------------------------------------

def test_naive_threshold_compares_each_run_with_the_previous():
    alerts = naive_alerts([100, 101, 115, 114, 100], threshold_pct=10)
    assert [(a.index, round(a.change_pct)) for a in alerts] == [(2, 14), (4, -12)]


def test_otava_locates_the_change_point():
    y = _series(np.random.default_rng(4), n=100)
    y[60:] += np.log(1.2)
    cps = otava_change_points(_values(y))
    assert [c.index for c in cps] == [60] and cps[0].method == "otava"


# --- histories, CSV and the CLI ---------------------------------------------------------------

def _history(values, name="x.latency_p50_ms"):
    n = len(values)
    return History(name, tuple(f"run{i}" for i in range(n)), tuple(values), tuple(f"sha{i}" for i in range(n)))


def test_history_changes_name_the_commit_range_and_follow_direction():
    y = _series(np.random.default_rng(5))
    y[60:] += np.log(1.1)
    h = _history(_values(y))
    (lat,) = detect_changes(h, direction="lower")
    assert (lat.kind, lat.run, lat.commit, lat.last_good_run, lat.commit_range) == (
        "regression", "run60", "sha60", "run59", "sha59..sha60")
    assert lat.detected_at_run == "run63" and lat.runs_after == 4 and lat.before_low < lat.before < lat.before_high
    (tput,) = detect_changes(h, direction="higher")
    assert tput.kind == "improvement"
    (whole,) = detect_changes(h, method="whole")
    assert whole.run == "run60" and whole.detected_at_run == "run119" and whole.runs_after == 30


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
    (h,) = read_history_csv(one, metric="value")
    assert h.metric == "value" and h.values == (10.0, 11.0) and h.commits == ("abc", "def")
    with pytest.raises(ConfigError, match=r"one.csv: --metric 'api.latency' is not a metric column .* \['value'\]"):
        read_history_csv(one, metric="api.latency")  # --metric names a column, it does not rename one
    wide = tmp_path / "wide.csv"
    wide.write_text("timestamp,a,b\n1,10,\n2,11,5\n")
    got = {x.metric: x.values for x in read_history_csv(wide)}
    assert got == {"a": (10.0, 11.0), "b": (5.0,)}
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n1,10\n2,fast\n")
    with pytest.raises(ConfigError, match=r"bad.csv: line 3, column 'value': 'fast' is not a number"):
        read_history_csv(bad)
    (tmp_path / "neg.csv").write_text("timestamp,value\n1,10\n2,-3\n")
    with pytest.raises(ConfigError, match=r"neg.csv: line 3, column 'value': '-3' must be a positive number"):
        read_history_csv(tmp_path / "neg.csv")
    (tmp_path / "nots.csv").write_text("x,value\n1,2\n")
    with pytest.raises(ConfigError, match="needs a timestamp column"):
        read_history_csv(tmp_path / "nots.csv")
    (tmp_path / "ragged.csv").write_text("timestamp,value\n1,2\n2,3,4\n")
    with pytest.raises(ConfigError, match="ragged.csv: line 3 has more cells than the header"):
        read_history_csv(tmp_path / "ragged.csv")
    with pytest.raises(ConfigError, match="cannot read the history file"):
        read_history_csv(tmp_path)  # a folder


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "perf_tasks", "regress", *args], capture_output=True, text=True,
                          cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=60)


def test_regress_cli_defaults_to_the_dags_detector_and_prints_json(tmp_path):
    y = _series(np.random.default_rng(6), n=80)
    y[40:] += np.log(1.2)
    path = tmp_path / "h.csv"
    path.write_text("run,commit,api_p95\n" + "".join(f"t{i},c{i},{v}\n" for i, v in enumerate(_values(y))))
    out = _cli("--history", str(path), "--json")  # run labels, not times: file order
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)["api_p95"]
    (change,) = doc["changes"]
    assert doc["method"] == "history"
    assert (change["run"], change["commit_range"], change["kind"], change["detected_at_run"]) == (
        "t40", "c39..c40", "regression", "t43")


def test_regress_cli_bad_input_exits_2_naming_the_file_and_value(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("timestamp,value\n1,10\n2,0\n")
    out = _cli("--history", str(path))
    assert out.returncode == 2 and out.stdout == ""
    assert f"{path}: line 3, column 'value': '0' must be a positive number" in out.stderr
    out = _cli("--history", str(tmp_path / "missing.csv"))
    assert out.returncode == 2 and "missing.csv: history file not found" in out.stderr


# --- the harness ------------------------------------------------------------------------------

def test_small_harness_meets_the_goals_on_heavy_tails_with_spikes():
    """A fast version of benchmarks/regression_harness.py (seeded; the published table has 25
    series per stepped cell and 100 per no-change cell)."""
    corpus = make_corpus(np.random.default_rng(11), per_cell=6, noises=(2.0,), steps=("none", "10 %", "20 %"),
                         variants=("spikes",))
    (none, ten, twenty) = evaluate(corpus, {"ours": (lambda v: replay(v), True)})
    assert ten.recall == 1.0 and twenty.recall == 1.0
    assert np.median(ten.delays + twenty.delays) <= 3
    assert none.series_with_false_alarm == 0
    assert sum(r.series_with_spike_level for r in (none, ten, twenty)) == 0
    assert sum(r.spikes_as_transients for r in (none, ten, twenty)) == sum(r.spikes for r in (none, ten, twenty))


def test_scoring_counts_matches_delays_false_alarms_and_spikes():
    from perf_tasks.regress.detect import Alert
    s = make_series(np.random.default_rng(0), length=120, noise_pct=2.0, step="10 %", variant="spikes")
    c = s.change_at
    hit = Alert(index=c, at=c + 2, before=100, after=110, change_pct=10, pvalue=0.001, method="t")
    a, b = s.spikes[-1]
    at_spike = Alert(index=a, at=b + 1, before=100, after=150, change_pct=50, pvalue=0.001, method="t")
    sc = score(s, [at_spike, hit], online=True)
    assert (sc.detected, sc.delay, sc.false_alarms, sc.spike_levels) == (True, 2, 1, 1)


def test_history_config_refuses_a_persist_that_would_let_spikes_through():
    from pydantic import ValidationError

    from perf_tasks.config import RegressionConfig
    with pytest.raises(ValidationError, match=r"persist \(3\) must be greater than max_transient \(3\)"):
        RegressionConfig(history={"persist": 3})
    assert RegressionConfig().history.method == "history"
