"""A system's name is part of the comparison key and of the alert state's key; its fingerprint
records its own packages and repository (issue 20, identity)."""
from __future__ import annotations

import dataclasses
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from perf_tasks.alerts.state import state_key
from perf_tasks.monitor.fingerprint import comparable_env, fingerprint, git_sha
from perf_tasks.regress.baselines import find_baseline
from perf_tasks.regress.keys import bench_keys, entry_matches, index_fields, run_key
from perf_tasks.results import SuiteResult
from perf_tasks.store import FileStore, run_index
from perf_tasks.system import PLATFORM_ROOT, load_system, optional_system
from tests.perf_tasks.clustered import FINGERPRINT, bench, clustered, run
from tests.perf_tasks.test_regress_keys import _seal


@pytest.fixture
def own_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "own-code"
    repo.mkdir()
    (repo / "lib.py").write_text("x = 1\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "lib.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    return repo


def _own_system(tmp_path: Path, repo: Path):
    cfg = tmp_path / "config"
    cfg.mkdir(exist_ok=True)
    (cfg / "systems.yaml").write_text(textwrap.dedent(f"""\
        default: own
        systems:
          own:
            url: http://127.0.0.1:9
            fingerprint:
              repository: {repo}
              packages: [pyyaml, no-such-package-xyz]
              key_packages: [pyyaml]
        """))
    return load_system(cfg)


def test_the_fingerprint_records_the_systems_packages_and_repository_sha(tmp_path: Path, own_repo: Path):
    fp = fingerprint(system=_own_system(tmp_path, own_repo))
    assert fp["system"] == "own"
    assert fp["system_packages"]["pyyaml"][0].isdigit()
    assert fp["system_packages"]["no-such-package-xyz"] == "not installed"
    assert fp["git_sha"] == git_sha(own_repo) and fp["system_git_sha"] == git_sha(own_repo)
    assert fp["platform_git_sha"] == git_sha(PLATFORM_ROOT) and fp["code_path"] == str(own_repo)
    key = comparable_env(fp)
    assert key["system"] == "own" and key["pyyaml"] == fp["system_packages"]["pyyaml"]
    assert "torch" not in key and "numpy" not in key  # only what the system configures


def test_the_demos_key_carries_numpy_and_torch_only_in_the_suite_that_imports_it():
    fp = fingerprint(system=load_system(PLATFORM_ROOT / "config", "trading"))
    assert fp["git_sha"] == fp["platform_git_sha"]  # the demo lives in the platform's checkout
    assert set(comparable_env(fp)) == {"cpu_model", "cpu_count_logical", "python", "system", "numpy"}
    values, owner = clustered(np.random.default_rng(0), processes=2, per_process=20)
    cnn = dataclasses.replace(bench(values, owner, name="cnn"), suite="models")
    results = dataclasses.replace(run("r", bench(values, owner), fingerprint=fp), suites=(
        SuiteResult("risk", "standard", "a", "b", (bench(values, owner),)),
        SuiteResult("models", "standard", "a", "b", (cnn,))))
    keys = bench_keys(results)
    assert "torch" not in keys["risk.mc"] and keys["models.cnn"]["torch"] == fp["system_packages"]["torch"]


def test_runs_of_two_systems_never_compare(tmp_path: Path):
    store = FileStore(tmp_path / "artifacts")
    values, owner = clustered(np.random.default_rng(0), processes=5, per_process=50)
    demo = run("demo1", bench(values, owner), fingerprint={**FINGERPRINT, "system": "trading",
                                                           "system_packages": {"numpy": "2.2.0"},
                                                           "key_packages": ["numpy"]})
    _seal(store, demo, 1, tmp=tmp_path)
    mine = run("mine1", bench(values, owner), fingerprint={**demo.fingerprint, "system": "own"})
    assert run_key(mine)["system"] == "own" and run_key(demo)["system"] == "trading"
    found = find_baseline(store, "perf_daily", "mine1", run_index(store, "perf_daily"), run_key(mine))
    assert found.results is None
    assert not entry_matches(index_fields(demo), run_key(mine))


def test_old_runs_keep_their_key_and_never_match_a_named_system():
    old = run("old", fingerprint=FINGERPRINT)  # written before systems: no "system" in the fingerprint
    assert run_key(old) == {"dag_id": "perf_daily", "profile": "standard", "cpu_model": "CPU A",
                            "cpu_count_logical": "8", "python": "3.11.7", "numpy": "2.2.0", "torch": "-"}
    new = run("new", fingerprint={**FINGERPRINT, "system": "trading", "system_packages": {"numpy": "2.2.0"},
                                  "key_packages": ["numpy"]})
    assert run_key(new) != run_key(old)


def test_alert_state_is_per_system_and_the_old_key_is_kept_without_one():
    assert state_key("perf_daily", "standard") == "perf_daily/_alerts/standard.json"
    assert state_key("perf_daily", "standard", "trading") == "perf_daily/_alerts/trading/standard.json"
    assert state_key("perf_daily", "standard", "own") != state_key("perf_daily", "standard", "trading")


def test_a_config_folder_without_systems_yaml_has_no_system(tmp_path: Path):
    assert optional_system(tmp_path) is None
    assert "system" not in fingerprint(system=None)
