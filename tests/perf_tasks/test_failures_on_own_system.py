"""The failure family drives the run's configured system, never the bundled demo in its place."""
from __future__ import annotations

from pathlib import Path

import pytest

from perf_tasks.stress.base import StressContext
from perf_tasks.stress.failures import FAILURES
from perf_tasks.system import NotApplicableError, load_system

STARTS = [n for n in FAILURES if n not in ("failover", "market_crash")]


def _system(tmp_path: Path, body: str):
    (tmp_path / "cfg").mkdir(exist_ok=True)
    (tmp_path / "cfg" / "systems.yaml").write_text(f"schema_version: 1\ndefault: mine\nsystems:\n  mine:\n{body}")
    return load_system(tmp_path / "cfg")


@pytest.mark.parametrize("name", STARTS)
def test_a_url_only_system_makes_every_failure_scenario_not_applicable_and_starts_nothing(tmp_path, name):
    system = _system(tmp_path, "    url: http://127.0.0.1:9\n")
    work = tmp_path / "w"
    with pytest.raises(NotApplicableError, match=f"{name}.*url"):
        FAILURES[name](StressContext(name=name, work=work, profile="smoke", system=system))
    assert not work.exists() or not any(work.iterdir())  # no store, no service log


@pytest.mark.parametrize("name", [*STARTS, "market_crash"])
def test_no_system_is_not_applicable_never_the_demo(tmp_path, name):
    with pytest.raises(NotApplicableError, match="defines no system"):
        FAILURES[name](StressContext(name=name, work=tmp_path / "w", profile="smoke"))


def test_worker_kill_needs_a_command_that_takes_workers(tmp_path):
    system = _system(tmp_path, '    service:\n      command: ["python3", "-m", "http.server", "{port}"]\n')
    with pytest.raises(NotApplicableError, match=r"takes no \{workers\}"):
        FAILURES["worker_kill"](StressContext(name="worker_kill", work=tmp_path / "w", profile="smoke", system=system))


def test_market_crash_and_feed_outage_need_their_definition_keys(tmp_path):
    system = _system(tmp_path, '    service:\n      command: ["python3", "-m", "http.server", "{port}"]\n')
    with pytest.raises(NotApplicableError, match=r"workloads\.crash is not set"):
        FAILURES["market_crash"](StressContext(name="market_crash", work=tmp_path / "w", profile="smoke",
                                               system=system))
    with pytest.raises(NotApplicableError, match=r"scenario_args\.feed_outage is not set"):
        FAILURES["feed_outage"](StressContext(name="feed_outage", work=tmp_path / "w", profile="smoke",
                                              system=system))


def test_no_trading_agent_special_case_in_the_failure_modules():
    root = Path(__file__).resolve().parents[2] / "perf_tasks" / "stress"
    for mod in ("failures", "service", "crash", "feed", "dbfault", "recovery", "workerkill"):
        text = (root / f"{mod}.py").read_text()
        assert "WORLD_ARGS" not in text and '"trading_agent.crash"' not in text, mod
