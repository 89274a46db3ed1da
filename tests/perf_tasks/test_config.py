from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from perf_tasks.config import apply_target_overrides, load_config, select_suites
from perf_tasks.errors import ConfigError
from tests.conftest import REPO


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    shutil.copytree(REPO / "config", d)
    return d


def _edit(path: Path, fn) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))


def test_the_shipped_config_loads():
    cfg = load_config(REPO / "config")
    assert {"risk", "market_data", "trading"} <= set(cfg.suite_names())
    smoke, standard = cfg.profile("smoke"), cfg.profile("standard")
    # a p95 target needs >= 200 observations: smoke gets them; standard also trusts p99 (>= 1,000)
    assert smoke.min_observations >= 200 and standard.min_observations >= 1000
    assert smoke.processes >= 2 and standard.processes >= smoke.processes
    assert {r.name for r in cfg.alerts.rules} >= {"response_time_p95", "error_rate", "cpu_usage", "memory_usage",
                                                   "disk_usage"}


def test_spec_alert_thresholds_are_the_spec_values():
    rules = {r.name: r for r in load_config(REPO / "config").alerts.rules}
    assert (rules["response_time_p95"].warning, rules["response_time_p95"].critical) == (1000, 2000)
    assert (rules["error_rate"].warning, rules["error_rate"].critical) == (2, 5)
    # host.cpu_pct is other work on the host before the run, not the system under test: it warns at
    # the spec's 80 % and never fails a run (misses on a busy host are INVALID instead)
    assert (rules["cpu_usage"].warning, rules["cpu_usage"].critical) == (80, 101)
    assert (rules["memory_usage"].warning, rules["memory_usage"].critical) == (80, 90)
    assert (rules["disk_usage"].warning, rules["disk_usage"].critical) == (85, 95)


@pytest.mark.parametrize("mutate,needles", [
    (lambda d: d["suites"]["risk"]["benchmarks"]["var_monte_carlo"]["targets"]["latency_p95_ms"].update(max=-5),
     ["suites.risk.benchmarks.var_monte_carlo.targets.latency_p95_ms.max", "greater than 0", "-5"]),
    (lambda d: d["suites"]["risk"]["benchmarks"]["var_monte_carlo"].update(targets={}),
     ["suites.risk.benchmarks.var_monte_carlo.targets", "at least one target"]),
    (lambda d: d["suites"]["risk"]["benchmarks"]["var_monte_carlo"].pop("targets"),
     ["suites.risk.benchmarks.var_monte_carlo.targets", "Field required"]),
    (lambda d: d["suites"]["risk"]["benchmarks"]["var_monte_carlo"].update(tragets={}),
     ["suites.risk.benchmarks.var_monte_carlo.tragets", "Extra inputs are not permitted"]),
    (lambda d: d["suites"]["risk"]["benchmarks"]["var_monte_carlo"].update(calls_per_observation="many"),
     ["suites.risk.benchmarks.var_monte_carlo.calls_per_observation", "'many'"]),
    (lambda d: d["suites"]["risk"]["benchmarks"]["var_monte_carlo"].update(loops=1),
     ["suites.risk.benchmarks.var_monte_carlo", "replaced by 'calls_per_observation'"]),
    (lambda d: d["suites"]["risk"]["benchmarks"]["var_monte_carlo"].update(calls_per_observation=16),
     ["suites.risk.benchmarks.var_monte_carlo", "per-call percentiles cannot be measured"]),
    (lambda d: d["suites"]["risk"]["benchmarks"]["var_monte_carlo"]["targets"].update(latency_p42_ms={"max": 1}),
     ["unknown metric 'latency_p42_ms'"]),
    (lambda d: d["suites"]["risk"]["benchmarks"]["var_monte_carlo"].update(callable="not a callable"),
     ["suites.risk.benchmarks.var_monte_carlo.callable", "package.module:function"]),
])
def test_bad_benchmarks_file_names_file_key_path_and_value(cfg_dir, mutate, needles):
    _edit(cfg_dir / "benchmarks.yaml", mutate)
    with pytest.raises(ConfigError) as err:
        load_config(cfg_dir)
    msg = str(err.value)
    assert str(cfg_dir / "benchmarks.yaml") in msg
    for needle in needles:
        assert needle in msg


def test_bad_alert_rule_names_its_index(cfg_dir):
    _edit(cfg_dir / "alerts.yaml", lambda d: d["rules"][1].update(warning=9, critical=5))
    with pytest.raises(ConfigError, match=r"alerts.yaml: rules\[1\]: warning \(9.0\) must not exceed critical"):
        load_config(cfg_dir)


def test_bad_profile_value(cfg_dir):
    _edit(cfg_dir / "profiles.yaml", lambda d: d["profiles"]["smoke"].update(min_observations=1))
    with pytest.raises(ConfigError, match=r"profiles.yaml: profiles.smoke.min_observations: .*greater than or equal to 2 \(got 1\)"):
        load_config(cfg_dir)


def test_yaml_syntax_error_and_missing_file(cfg_dir):
    (cfg_dir / "alerts.yaml").write_text("rules: [unclosed\n")
    with pytest.raises(ConfigError, match="alerts.yaml: not valid YAML"):
        load_config(cfg_dir)
    (cfg_dir / "alerts.yaml").unlink()
    with pytest.raises(ConfigError, match="alerts.yaml: config file not found"):
        load_config(cfg_dir)


def test_select_suites():
    cfg = load_config(REPO / "config")
    defaults = select_suites(cfg, [])
    assert "risk" in defaults and "trading_postgres" not in defaults  # default: false -> on request only
    assert select_suites(cfg, ["trading_postgres"]) == ["trading_postgres"]
    assert select_suites(cfg, ["market_data"]) == ["market_data"]
    with pytest.raises(ConfigError, match=r"param 'suites': unknown suite\(s\) \['nope'\]"):
        select_suites(cfg, ["nope"])


def test_target_overrides_replace_targets_by_direction():
    cfg = load_config(REPO / "config")
    new = apply_target_overrides(cfg, {"risk.var_monte_carlo.latency_p95_ms": 10,
                                       "risk.var_historical.throughput_per_s": 5})
    bench = new.benchmarks.suites["risk"].benchmarks
    assert bench["var_monte_carlo"].targets["latency_p95_ms"].max == 10
    assert bench["var_historical"].targets["throughput_per_s"].min == 5
    assert cfg.benchmarks.suites["risk"].benchmarks["var_monte_carlo"].targets["latency_p95_ms"].max == 5000


@pytest.mark.parametrize("overrides,needle", [
    ({"risk.var_monte_carlo": 1}, "must look like 'suite.benchmark.metric'"),
    ({"risk.nope.latency_p95_ms": 1}, "names no benchmark"),
    ({"risk.var_monte_carlo.latency_p42_ms": 1}, "unknown metric 'latency_p42_ms'"),
    ({"risk.var_monte_carlo.latency_p95_ms": -1}, "greater than 0"),
    ({"risk.var_monte_carlo.latency_p95_ms": "fast"}, "expected a positive number, got 'fast'"),
])
def test_bad_target_overrides_name_the_key_and_value(overrides, needle):
    with pytest.raises(ConfigError, match="param 'target_overrides'") as err:
        apply_target_overrides(load_config(REPO / "config"), overrides)
    assert needle in str(err.value)


def test_a_binary_or_directory_config_file_is_a_config_error_naming_it(tmp_path):
    from perf_tasks.config import load_yaml_mapping
    from perf_tasks.errors import ConfigError

    binary = tmp_path / "bin.yaml"
    binary.write_bytes(bytes(range(128, 256)) * 8)
    with pytest.raises(ConfigError, match=r"bin\.yaml: scenarios file is not UTF-8 text"):
        load_yaml_mapping(binary, "scenarios file")
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml_mapping(tmp_path, "journeys file")
