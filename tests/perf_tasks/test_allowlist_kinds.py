"""Every kind that sends load or faults to a target (load, stress, scale) takes its allowlist from
the deployment (config/safety.yaml, $PERF_LOAD_ALLOWLIST); its ``allow`` param only narrows it,
checked in prepare(), before anything is sent."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from perf_tasks import pipeline
from perf_tasks.config import load_config
from perf_tasks.kinds import load, scale, stress
from perf_tasks.load.safety import DEFAULT_ALLOWLIST, ENV_VAR, AllowlistWidenedError, TargetNotAllowedError
from tests.conftest import REPO

TARGET = "http://10.20.0.5:8000"


@pytest.fixture(autouse=True)
def _no_deployment_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def _target_options(kind) -> dict:
    if kind is scale:
        return {"sut": "urls", "urls": [TARGET], "axes": ["instances"]}
    if kind is stress:
        return {"scenarios": ["net_latency"], "target_url": TARGET}
    return {"scenarios": ["normal"], "target_url": TARGET}


def _prepare(kind, config_dir: Path = REPO / "config", **options) -> pipeline.RunSpec:
    spec = pipeline.RunSpec(dag_id=kind.DAG_ID, run_id="t", kind=kind.KIND, profile="smoke", options=options,
                            config_dir=str(config_dir))
    return kind.prepare(spec, load_config(config_dir))


KINDS = pytest.mark.parametrize("kind", [load, stress, scale], ids=lambda k: k.KIND)


@KINDS
def test_a_widening_allow_param_is_refused_in_prepare(kind):
    with pytest.raises(AllowlistWidenedError) as err:
        _prepare(kind, allow=["10.20.0.5"], **_target_options(kind))
    msg = str(err.value)
    assert msg.startswith("param 'allow': '10.20.0.5' is outside the deployment's load-test allowlist "
                          "['127.0.0.1', '::1', 'localhost']")
    assert "safety.yaml: allowlist + $PERF_LOAD_ALLOWLIST (unset)" in msg and "may only narrow" in msg


@KINDS
def test_without_the_deployment_listing_it_the_target_is_refused(kind):
    with pytest.raises(TargetNotAllowedError, match="10.20.0.5"):
        _prepare(kind, **_target_options(kind))


@KINDS
def test_the_environment_widens_and_an_empty_param_gets_the_whole_list(kind, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "10.20.0.0/16")
    spec = _prepare(kind, **_target_options(kind))
    assert kind.options_of(spec).allow == (*DEFAULT_ALLOWLIST, "10.20.0.0/16")  # what the run's steps use


@KINDS
def test_a_narrowing_param_works_and_really_narrows(kind, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "10.20.0.0/16")
    spec = _prepare(kind, allow=["10.20.0.5"], **_target_options(kind))
    assert kind.options_of(spec).allow == (*DEFAULT_ALLOWLIST, "10.20.0.5")
    with pytest.raises(TargetNotAllowedError, match="10.20.0.5"):  # inside the deployment, outside the param
        _prepare(kind, allow=["10.20.0.6"], **_target_options(kind))


@KINDS
def test_the_config_file_widens(kind, tmp_path):
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    (cfg / "safety.yaml").write_text("schema_version: 1\nallowlist: [10.20.0.5]\n")
    spec = _prepare(kind, cfg, **_target_options(kind))
    assert "10.20.0.5" in kind.options_of(spec).allow
    with pytest.raises(AllowlistWidenedError, match=r"'10.20.0.6' is outside .*config/safety.yaml: allowlist"):
        _prepare(kind, cfg, allow=["10.20.0.6"], **_target_options(kind))
