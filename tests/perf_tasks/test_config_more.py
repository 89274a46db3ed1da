"""More of the config's refusals, each naming the file, the key path and the bad value: target
bounds, benchmark and suite names, old profile keys, alert rule order, the history detector,
YAML that cannot be built; and the regression threshold overrides."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import yaml

from perf_tasks.config import (
    HistoryConfig,
    RegressionConfig,
    apply_target_overrides,
    load_config,
    load_yaml_mapping,
    select_suites,
)
from perf_tasks.errors import ConfigError
from tests.conftest import REPO

VMC = ("suites", "risk", "benchmarks", "var_monte_carlo")


@pytest.fixture(scope="module")
def shipped():
    return load_config(REPO / "config")


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    shutil.copytree(REPO / "config", d)
    return d


def _edit(path: Path, fn) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))


def _vmc(d: dict) -> dict:
    return d["suites"]["risk"]["benchmarks"]["var_monte_carlo"]


def _p95(d: dict) -> dict:
    return _vmc(d)["targets"]["latency_p95_ms"]


@pytest.mark.parametrize("mutate, needles", [
    (lambda d: _p95(d).update(min=5), ["targets.latency_p95_ms", "give exactly one of 'max' or 'min'"]),
    (lambda d: _p95(d).update(max=math.inf), ["targets.latency_p95_ms", "bound must be finite, got inf"]),
    (lambda d: _p95(d).update(warning=math.inf), ["warning bound must be finite, got inf"]),
    (lambda d: _p95(d).update(warning=1, severity="warning"),
     ["a 'warning' bound needs severity 'critical', got 'warning'"]),
    (lambda d: _p95(d).update(warning=1e9), ["'warning' (1000000000.0) must be stricter than max "]),
    (lambda d: _vmc(d)["targets"].update(batch_latency_p95_ms={"max": 1}),
     ["targets ['batch_latency_p95_ms']: batch_latency_* metrics exist only with calls_per_observation > 1"]),
    (lambda d: d["suites"]["risk"].update(benchmarks={}), ["suites.risk.benchmarks", "at least one benchmark"]),
    (lambda d: d["suites"]["risk"]["benchmarks"].update({"Bad-Name": _vmc(d)}),
     ["suites.risk.benchmarks", "benchmark name 'Bad-Name' must match"]),
    (lambda d: d.update(suites={}), ["suites", "no suites defined"]),
    (lambda d: d["suites"].update({"9risk": d["suites"]["risk"]}), ["suite name '9risk' must match"]),
])
def test_bad_benchmarks_names_the_file_the_key_path_and_the_value(cfg_dir: Path, mutate, needles):
    _edit(cfg_dir / "benchmarks.yaml", mutate)
    with pytest.raises(ConfigError) as err:
        load_config(cfg_dir)
    msg = str(err.value)
    assert str(cfg_dir / "benchmarks.yaml") in msg
    for needle in needles:
        assert needle in msg, msg


def test_a_target_min_bound_that_is_not_stricter_is_refused_naming_it(shipped):
    with pytest.raises(ConfigError, match=r"param 'target_overrides': risk.var_historical.throughput_per_s.*"
                                          r"'warning' \(5.0\) must be stricter than min 10.0"):
        apply_target_overrides(shipped, {"risk.var_historical.throughput_per_s": {"min": 10, "warning": 5}})


def test_an_override_that_breaks_its_benchmark_is_refused_naming_the_key(shipped):
    # a batch metric target on a benchmark that times single calls: the target is fine, the benchmark is not
    with pytest.raises(ConfigError, match=r"param 'target_overrides': risk.var_monte_carlo.batch_latency_p95_ms.*"
                                          r"exist only with calls_per_observation > 1"):
        apply_target_overrides(shipped, {"risk.var_monte_carlo.batch_latency_p95_ms": 5})


def test_overrides_that_are_not_a_mapping_are_refused_and_none_changes_nothing(shipped):
    with pytest.raises(ConfigError, match=r"param 'target_overrides': expected a mapping of "
                                          r"'suite.benchmark.metric' to a number, got \[1, 2\]"):
        apply_target_overrides(shipped, [1, 2])  # type: ignore[arg-type]
    assert apply_target_overrides(shipped, None) is shipped and apply_target_overrides(shipped, {}) is shipped


def test_suites_that_are_not_a_list_of_names_are_refused(shipped):
    with pytest.raises(ConfigError, match=r"param 'suites': expected a list of suite names, got 'risk'"):
        select_suites(shipped, "risk")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"expected a list of suite names, got \['risk', 3\]"):
        select_suites(shipped, ["risk", 3])  # type: ignore[list-item]
    assert select_suites(shipped, ["risk", "risk", "market_data"]) == ["risk", "market_data"]


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d["profiles"]["smoke"].update(min_rounds=3, max_rounds=5),
     r"profiles.smoke: .*\['max_rounds', 'min_rounds'\] were replaced by processes, min_observations"),
    (lambda d: d["profiles"]["smoke"].update(min_observations=500, max_observations=300),
     r"profiles.smoke: .*max_observations \(300\) < min_observations \(500\)"),
])
def test_bad_profiles_name_the_profile(cfg_dir: Path, mutate, needle):
    _edit(cfg_dir / "profiles.yaml", mutate)
    with pytest.raises(ConfigError, match=needle):
        load_config(cfg_dir)


def test_an_undefined_profile_names_the_file_and_the_known_ones(cfg_dir: Path):
    _edit(cfg_dir / "profiles.yaml", lambda d: d["profiles"].pop("full"))
    cfg = load_config(cfg_dir)
    with pytest.raises(ConfigError, match=rf"profile 'full' is not defined in {cfg_dir / 'profiles.yaml'}; "
                                          r"known: smoke, standard"):
        cfg.profile("full")


def test_a_below_rule_needs_warning_at_or_above_critical(cfg_dir: Path):
    _edit(cfg_dir / "alerts.yaml", lambda d: d["rules"][0].update(when="below", warning=5, critical=10))
    with pytest.raises(ConfigError, match=r"alerts.yaml: rules\[0\]: .*when: below: warning \(5.0\) must not be "
                                          r"under critical \(10.0\)"):
        load_config(cfg_dir)


def test_the_history_detector_refuses_a_persist_a_transient_could_reach(cfg_dir: Path):
    _edit(cfg_dir / "alerts.yaml", lambda d: d["regression"]["history"].update(persist=3, max_transient=3))
    with pytest.raises(ConfigError, match=r"regression.history: .*persist \(3\) must be greater than "
                                          r"max_transient \(3\)"):
        load_config(cfg_dir)
    assert HistoryConfig(persist=4, max_transient=3).persist == 4


def test_regression_thresholds_take_the_first_matching_override():
    cfg = RegressionConfig(threshold_pct=10.0, overrides={"risk.*_p99_ms": 25.0, "risk.*": 15.0})
    assert cfg.threshold_for("risk.var.latency_p99_ms") == 25.0
    assert cfg.threshold_for("risk.var.latency_p50_ms") == 15.0
    assert cfg.threshold_for("trading.order.latency_p50_ms") == 10.0


@pytest.mark.parametrize("text, needle", [
    ("when: 2001-13-01\n", r"not valid YAML: a value cannot be built \(ValueError: "),
    ("n: !!int x\n", r"not valid YAML: a value cannot be built"),
    ("- a\n- b\n", r"expected a mapping at the top level, got list"),
    ("just text\n", r"expected a mapping at the top level, got str"),
])
def test_yaml_that_cannot_be_built_or_is_not_a_mapping_names_the_file(tmp_path: Path, text, needle):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"{path}: {needle}"):
        load_yaml_mapping(path)


def test_yaml_nested_too_deeply_is_a_config_error(tmp_path: Path):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5_000 + "]" * 5_000 + "\n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid YAML"):
        load_yaml_mapping(path)


def test_a_missing_config_folder_is_named(tmp_path: Path):
    with pytest.raises(ConfigError, match=rf"config folder {tmp_path / 'nope'} does not exist"):
        load_config(tmp_path / "nope")


def test_profile_params_override_the_benchmarks_params(shipped):
    bench = shipped.benchmarks.suites["market_data"].benchmarks["tick_handling"]
    smoke = bench.params_for("smoke")
    assert smoke == {**bench.params, **bench.profile_params["smoke"]}
    assert bench.params_for("no-such-profile") == bench.params
