"""Every kind's options declared once (perf_tasks.kinds.options): defaults derived from the model,
values from a form or the CLI converted, bad ones refused naming the option, the value and where it
came from, before anything is measured; stress.yaml's unknown keys refused naming file and key."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from perf_tasks import pipeline
from perf_tasks.errors import ConfigError
from perf_tasks.kinds import KINDS, get_kind
from perf_tasks.kinds.options import LoadOptions, ScaleOptions, StressOptions, defaults
from tests.conftest import REPO


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_option_defaults_derive_from_the_model(kind):
    module = get_kind(kind)
    assert module.OPTION_DEFAULTS == defaults(module.OPTIONS)


def test_cli_strings_are_converted_and_empty_means_not_given():
    opts = ScaleOptions.parse({"instances": "1,3", "multipliers": "1, 2.5", "p99_ms": "250", "journey": "",
                               "axes": []})
    assert opts.instances == (1, 3) and opts.multipliers == (1.0, 2.5) and opts.p99_ms == 250.0
    assert opts.journey is None and opts.axes is None
    assert LoadOptions.parse({"scenarios": "normal,peak", "shards": "2"}).scenarios == ("normal", "peak")


@pytest.mark.parametrize("model, options, source, needle", [
    (LoadOptions, {"shards": 65}, "--opt", r"--opt shards: expected <= 64, got 65"),
    (LoadOptions, {"shards": "x"}, "--opt", r"--opt shards: expected an integer, got 'x'"),
    (LoadOptions, {"shard_mode": "threads"}, "param", r"param 'shard_mode': 'threads' is not one of"),
    (StressOptions, {"intensity": 1.5}, "param", r"param 'intensity': expected <= 1(\.0)?, got 1.5"),
    (StressOptions, {"window_s": 4000}, "--opt", r"--opt window_s: expected <= 3600"),
    (ScaleOptions, {"instances": [1, 0]}, "param", r"param 'instances' item 1: expected >= 1"),
    (ScaleOptions, {"cost_per_core_hour": -1}, "param", r"param 'cost_per_core_hour': expected >= 0"),
    (ScaleOptions, {"colour": "red"}, "--opt", r"--opt colour: not an option of a scale run"),
])
def test_a_bad_option_is_refused_naming_it_the_value_and_the_source(model, options, source, needle):
    with pytest.raises(ConfigError, match=needle):
        model.parse(options, source=source)


def test_prepare_refuses_a_bad_option_before_anything_runs():
    kind = get_kind("load")
    spec = pipeline.RunSpec(dag_id=kind.DAG_ID, run_id="r", kind="load", profile="smoke", options={"shards": 65},
                            config_dir=str(REPO / "config"))
    with pytest.raises(ConfigError, match=r"param 'shards': expected <= 64, got 65"):
        kind.prepare(spec, None)  # type: ignore[arg-type]


def test_prepare_stores_the_resolved_options_as_json(tmp_path):
    kind = get_kind("stress")
    spec = pipeline.RunSpec(dag_id=kind.DAG_ID, run_id="r", kind="stress", profile="smoke", options={},
                            config_dir=str(REPO / "config"))
    out = kind.prepare(spec, None)  # type: ignore[arg-type]
    assert isinstance(out.options["scenarios"], list) and out.options["window_s"] is None
    assert kind.options_of(out).scenarios == tuple(out.options["scenarios"])


@pytest.mark.parametrize("text, needle", [
    ("scenarios:\n  cpu_saturation:\n    health_path: /healthz\n", r"scenarios\.cpu_saturation\.health_path"),
    ("scenarios:\n  cpu_saturation:\n    targets:\n      hung_pct: {maxx: 0}\n",
     r"scenarios\.cpu_saturation\.targets\.hung_pct\.maxx"),
])
def test_an_unknown_key_in_stress_yaml_is_refused_naming_the_file_and_the_key(tmp_path: Path, text, needle):
    from perf_tasks.kinds.stress import CONFIG_FILE, load_stress_config

    (tmp_path / CONFIG_FILE).write_text("schema_version: 1\n" + text)
    with pytest.raises(ConfigError, match=rf"{tmp_path / CONFIG_FILE}: {needle}"):
        load_stress_config(tmp_path)


def test_the_bundled_stress_yaml_is_valid(tmp_path):
    from perf_tasks.kinds.stress import load_stress_config

    shutil.copy(REPO / "config" / "stress.yaml", tmp_path / "stress.yaml")
    assert load_stress_config(tmp_path)["default_scenarios"]
