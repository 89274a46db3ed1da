"""The scale kind beyond its happy path: more of prepare's refusals, a size that is not part of the
run, the model fitted from size results written by earlier steps (found, generator-limited,
missing sizes), a run where no size produced a result, and targets in scalability.yaml that
cannot be built."""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import yaml

from perf_tasks import pipeline
from perf_tasks.errors import ConfigError, PipelineError
from perf_tasks.kinds import scale
from perf_tasks.results import from_json, to_dict, to_json
from perf_tasks.scale.model import SizeResult
from perf_tasks.scale.sweep import Point, find_knee
from tests.conftest import REPO


def _prepare(profile: str = "smoke", config_dir: Path = REPO / "config", **options) -> pipeline.RunSpec:
    spec = pipeline.RunSpec(dag_id=scale.DAG_ID, run_id="t", kind="scale", profile=profile, options=options,
                            config_dir=str(config_dir))
    return scale.prepare(spec, None)  # type: ignore[arg-type]


def _work(tmp_path: Path, spec: pipeline.RunSpec) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "run.json").write_text(json.dumps(to_dict(spec)))
    return work


def _point(rate: float, capacity: float, *, saturate_above: float = math.inf, limit: str = "cpu") -> Point:
    """A server of known capacity: p99 explodes beyond it; the generator saturates above a rate."""
    if rate > saturate_above:
        return Point(rate, 0.0, rate, 10.0, 10.0, 0.0, 100, False, "load generator saturated: test",
                     generator="saturated", bottleneck="generator")
    ok = rate <= capacity
    return Point(rate, 0.0, min(rate, capacity), 10.0, 20.0 if ok else 500.0, 0.0, 1000, True, "", ok,
                 "" if ok else "p99 500 ms > 250 ms", "ok", {"service_cpu_pct_mean": 80.0},
                 bottleneck="none" if ok else limit)


def _size(size: int, capacity: float, **kw) -> SizeResult:
    knee = find_knee(lambda r: _point(r, capacity, **kw), 50.0 * size, multipliers=(1, 2, 4, 8), refine_pct=5.0,
                     max_refine=6)
    return SizeResult(axis="instances", size=size, cores=float(size), knee=knee, balancer="haproxy")


def _write_size(work: Path, r: SizeResult) -> None:
    (work / "scale").mkdir(exist_ok=True)
    (work / "scale" / f"{r.axis}_{r.size}.json").write_text(to_json(r))


@pytest.mark.parametrize("options, needle", [
    ({"axes": ["instances", "nodes"]}, r"param 'axes' item 1: 'nodes' is not one of \['instances', 'cores'\]"),
    ({"instances": [2, 2]}, r"param 'instances': sizes must be distinct integers >= 1, got \[2, 2\]"),
    ({"sut": "docker"}, r"param 'sut': 'docker' is not one of \['service', 'testserver', 'urls'\]"),
    ({"sut": "urls", "urls": ["http://127.0.0.1:9"], "axes": ["instances", "cores"]},
     r"param 'axes': the cores axis pins local processes; with sut 'urls' use axes \['instances'\]"),
    ({"p99_ms": -1}, r"param 'p99_ms': expected > 0(\.0)?, got -1"),  # None (not 0) is "config's" now
    ({"point_duration_s": math.inf}, r"param 'point_duration_s': expected a finite number, got inf"),
    ({"generator_shards": 65}, r"param 'generator_shards': expected <= 64, got 65"),
    ({"memory_limit_mb": -5}, r"param 'memory_limit_mb': expected >= 0, got -5"),
])
def test_prepare_refuses_more_bad_options_naming_them(options, needle):
    with pytest.raises(ConfigError, match=needle):
        _prepare(**options)


def test_prepare_refuses_a_profile_the_scalability_config_lacks(tmp_path: Path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    doc = yaml.safe_load((config / scale.CONFIG_FILE).read_text())
    doc["profiles"].pop("full")
    (config / scale.CONFIG_FILE).write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=rf"{config / scale.CONFIG_FILE}: no profile 'full' \(profiles: "
                                          r"\['smoke', 'standard'\]\)"):
        _prepare("full", config)


def test_sweep_config_resolves_the_options_and_the_config():
    spec = _prepare(instances=[1, 3], memory_limit_mb=64, p99_ms=100, seed=5, sut="testserver")
    cfg = scale.sweep_config(spec)
    assert cfg.targets.p99_ms == 100 and cfg.targets.error_rate_pct == 1.0  # the option, then config's
    assert cfg.memory_limit_bytes == 64 * 2**20 and cfg.seed == 5 and cfg.sut == "testserver"
    assert cfg.users == 256 and cfg.timeout_s == 5.0 and cfg.check_inter_ms == 500 and cfg.max_refine == 1
    assert cfg.multipliers == (1.0, 2.0, 4.0, 8.0) and cfg.journey_name == "mixed_traffic"
    assert scale.sweep_config(_prepare()).memory_limit_bytes is None  # 0 MB: no limit


def test_a_size_that_is_not_part_of_the_run_is_refused_and_recorded(tmp_path: Path):
    work = _work(tmp_path, _prepare(instances=[1, 2]))
    with pytest.raises(ConfigError, match=r"size 'instances_9' is not part of run t \(sizes: \['instances_1', "
                                          r"'instances_2'\]\)"):
        scale.run_size(work, "instances_9")
    status = json.loads((work / "status" / "run_size.instances_9.json").read_text())
    assert status["state"] == "failed" and "instances_9" in status["error"]


def test_fit_model_judges_found_knees_flags_a_generator_limit_and_lists_a_missing_size(tmp_path: Path):
    spec = _prepare(instances=[1, 2, 4, 8, 16])
    work = _work(tmp_path, spec)
    _write_size(work, _size(1, 300.0))
    _write_size(work, _size(2, 540.0))  # 90 % efficient
    _write_size(work, _size(4, 5000.0, saturate_above=700.0))  # the generator gave out first
    _write_size(work, _size(8, 1e9))  # every point passed: the knee is only a lower bound
    suite = scale.fit_model(work)  # instances_16 never produced a result

    benches = {b.name: b for b in suite.benchmarks}
    assert set(benches) == {"instances_1", "instances_2", "instances_4", "instances_8", "instances_model"}
    m2 = {m.name.rsplit(".", 1)[1]: m for m in benches["instances_2"].metrics}
    assert m2["knee_throughput_per_s"].value == pytest.approx(540.0, rel=0.06)
    assert m2["efficiency_pct"].value == pytest.approx(
        100.0 * m2["knee_throughput_per_s"].value / (2 * benches["instances_1"].metrics[0].value))
    assert m2["efficiency_pct"].target is not None and m2["efficiency_pct"].target.min == 50
    m4 = {m.name.rsplit(".", 1)[1]: m for m in benches["instances_4"].metrics}
    assert m4["knee_throughput_per_s"].invalid_reason.startswith("the load generator was the limit: ")
    assert benches["instances_4"].info["knee_status"] == "generator_limited"
    m8 = {m.name.rsplit(".", 1)[1]: m for m in benches["instances_8"].metrics}
    assert benches["instances_8"].info["knee_status"] == "beyond_sweep"
    assert m8["efficiency_pct"].invalid_reason.startswith("the knee is only a lower bound (")

    model = json.loads((work / "scale" / "model.json").read_text())["instances"]
    assert {"size": "instances_16", "reason": "run_size.instances_16 produced no result (the step failed)"} in \
        model["excluded"]
    assert (work / "scale" / "instances.svg").read_text().startswith("<svg")
    stored = from_json(type(suite), (work / "suites" / "scalability.json").read_text())
    assert stored.benchmarks == suite.benchmarks
    assert json.loads((work / "status" / "fit_model.json").read_text())["state"] == "success"
    assert scale.report_extras(work, spec)["sections"]


def test_a_busy_host_makes_the_knee_and_the_factors_built_on_it_invalid(tmp_path: Path):
    from perf_tasks.scale.bottleneck import OTHER_WORK

    work = _work(tmp_path, _prepare(instances=[1, 2]))
    _write_size(work, _size(1, 300.0, limit=OTHER_WORK))  # the base size was stopped by other work
    _write_size(work, _size(2, 540.0))
    benches = {b.name: {m.name.rsplit(".", 1)[1]: m for m in b.metrics} for b in scale.fit_model(work).benchmarks}
    assert benches["instances_1"]["knee_throughput_per_s"].invalid_reason.startswith("a busy host: ")
    assert benches["instances_2"]["knee_throughput_per_s"].invalid_reason == ""  # its own knee stands
    assert benches["instances_2"]["efficiency_pct"].invalid_reason.startswith(
        f"the smallest size's knee was limited by {OTHER_WORK}: ")


def test_fit_model_without_any_size_result_fails_naming_the_missing_sizes(tmp_path: Path):
    spec = _prepare(instances=[1, 2])
    work = _work(tmp_path, spec)
    with pytest.raises(PipelineError, match=r"fit_model: no size produced a result \(missing: \['instances_1', "
                                            r"'instances_2'\]\)"):
        scale.fit_model(work)
    assert scale.report_extras(work, spec) == {}  # no model: no report section


def test_measure_records_a_failed_size_fails_the_model_and_always_tears_down(tmp_path: Path):
    # the test server has no multi-worker mode: with balancer multiworker every size fails at once
    spec = _prepare(instances=[1], sut="testserver", balancer="multiworker")
    work = _work(tmp_path, spec)
    with pytest.raises(PipelineError, match=r"no size produced a result \(missing: \['instances_1'\]\)"):
        scale.measure(work)
    failed = json.loads((work / "status" / "run_size.instances_1.json").read_text())
    assert failed["state"] == "failed" and "the test server has no multi-worker mode" in failed["error"]
    assert json.loads((work / "status" / "teardown.json").read_text())["state"] == "success"
    assert scale.MARKER_ENV not in os.environ  # the marker does not leak into the caller


def test_a_scalability_target_that_cannot_be_built_is_a_config_error_naming_it(tmp_path: Path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    doc = yaml.safe_load((config / scale.CONFIG_FILE).read_text())
    doc["targets"]["efficiency_pct"] = {"min": 50, "warning": 80, "severity": "warning"}
    (config / scale.CONFIG_FILE).write_text(yaml.safe_dump(doc))
    # refused at prepare (before any size is swept), naming the file it came from and the target
    with pytest.raises(ConfigError, match=rf"{config / scale.CONFIG_FILE} targets.efficiency_pct: Target warning "
                                          r"bound 80(\.0)? needs severity 'critical'"):
        _prepare(config_dir=config, instances=[1, 2])


def test_prepare_refuses_a_scalability_target_that_cannot_be_built(tmp_path: Path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    doc = yaml.safe_load((config / scale.CONFIG_FILE).read_text())
    doc["targets"]["efficiency_pct"] = {"min": 50, "max": 200}
    (config / scale.CONFIG_FILE).write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="efficiency_pct"):
        _prepare(config_dir=config)
