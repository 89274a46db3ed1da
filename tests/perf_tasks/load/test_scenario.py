from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from perf_tasks.errors import ConfigError
from perf_tasks.load.journey import load_journeys
from perf_tasks.load.plan import DEFAULT_MAX_REQUESTS, split_plan
from perf_tasks.load.scenario import get_scenario, load_scenarios, plan_for_scenario, scale_for_profile
from tests.conftest import REPO

SPEC = {  # the spec's four scenarios, as suggested for config/load_scenarios.yaml
    "schema_version": 1,
    "scenarios": {
        "normal": {"users": 100, "requests_per_minute": 1000, "duration_s": 28800, "p95_target_ms": 200,
                   "max_error_rate_pct": 5, "warn_error_rate_pct": 2},
        "peak": {"users": 1000, "requests_per_minute": 10000, "duration_s": 7200, "p95_target_ms": 500,
                 "max_error_rate_pct": 5, "warn_error_rate_pct": 2,
                 "ramp": [{"duration_s": 300, "requests_per_minute": 10000}]},
        "stress": {"users": 5000, "requests_per_minute": 50000, "duration_s": 1800, "p95_target_ms": 1000,
                   "max_error_rate_pct": 5, "warn_error_rate_pct": 2, "journey": "trading_session"},
        "burst": {"users": 10000, "requests_per_minute": 100000, "duration_s": 300, "p95_target_ms": 2000,
                  "max_error_rate_pct": 5, "warn_error_rate_pct": 2},
    },
}


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "load_scenarios.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_spec_scenarios_load_and_scale_by_profile(tmp_path):
    scenarios = load_scenarios(_write(tmp_path, SPEC))
    normal = scenarios["normal"]
    assert normal.name == "normal" and normal.rate_per_s == pytest.approx(1000 / 60)
    assert scale_for_profile(normal, "full") == normal
    smoke = scale_for_profile(normal, "smoke")
    assert smoke.duration_s == 10 and smoke.p95_target_ms == 200 and smoke.users == 100
    assert scale_for_profile(normal, "standard").duration_s == 180
    peak = scale_for_profile(scenarios["peak"], "smoke")  # the ramp shrinks with the run
    assert peak.ramp[0].duration_s == pytest.approx(300 * 10 / 7200)
    with pytest.raises(ConfigError, match="profile 'huge'"):
        scale_for_profile(normal, "huge")


def test_profile_duration_can_be_overridden_per_scenario(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(SPEC))
    data["scenarios"]["burst"]["profile_duration_s"] = {"smoke": 5, "standard": 60}
    s = load_scenarios(_write(tmp_path, data))["burst"]
    assert scale_for_profile(s, "smoke").duration_s == 5 and scale_for_profile(s, "standard").duration_s == 60


@pytest.mark.parametrize("mutate,needles", [
    (lambda d: d["scenarios"]["normal"].update(users=0), ["scenarios.normal.users", "greater than or equal to 1", "0"]),
    (lambda d: d["scenarios"]["normal"].update(p95_target=1), ["scenarios.normal.p95_target", "Extra inputs"]),
    (lambda d: d["scenarios"]["normal"].pop("duration_s"), ["scenarios.normal.duration_s", "Field required"]),
    (lambda d: d["scenarios"]["normal"].update(model="half-open"), ["scenarios.normal.model", "'half-open'"]),
    (lambda d: d["scenarios"]["peak"]["ramp"][0].update(duration_s=9000), ["scenarios.peak", "longer than duration_s"]),
    (lambda d: d["scenarios"]["normal"].update(warn_error_rate_pct=9), ["scenarios.normal", "warn_error_rate_pct"]),
    (lambda d: d.update(schema_version=2), ["schema_version"]),
])
def test_bad_scenarios_name_file_key_path_and_value(tmp_path, mutate, needles):
    data = yaml.safe_load(yaml.safe_dump(SPEC))
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_scenarios(path)
    for needle in [str(path), *needles]:
        assert needle in str(err.value)


def test_unknown_scenario_lists_the_known_ones(tmp_path):
    scenarios = load_scenarios(_write(tmp_path, SPEC))
    with pytest.raises(ConfigError, match=r"scenario 'soak' is not defined; known: \['burst', 'normal', 'peak', 'stress'\]"):
        get_scenario(scenarios, "soak", source="load_scenarios.yaml")


def test_plan_for_a_scenario_is_bounded_and_splits_into_shards(tmp_path):
    scenarios = load_scenarios(_write(tmp_path, SPEC))
    journeys = load_journeys(REPO / "config" / "load_journeys.yaml")
    plan = plan_for_scenario(scale_for_profile(scenarios["stress"], "smoke"), "http://127.0.0.1:1", journeys, seed=3)
    assert plan.journey_name == "trading_session" and plan.rate_per_s == pytest.approx(50000 / 60)
    assert plan.max_requests == int(2 * plan.rate_per_s * 10 + 100)  # twice the expected count
    assert plan.pool_size() == 1000
    shards = split_plan(plan, 3)
    assert [s.users for s in shards] == [1667, 1667, 1666]
    assert [s.shard_index for s in shards] == [0, 1, 2] and {s.shard_count for s in shards} == {3}
    assert sum(len(s.schedule()) for s in shards) == len(plan.schedule())
    with pytest.raises(ValueError, match="cannot split 3 users into 4"):
        split_plan(plan.__class__(**{**plan.__dict__, "users": 3}), 4)
    closed = plan_for_scenario(scenarios["normal"].model_copy(update={"model": "closed"}), "http://127.0.0.1:1",
                               journeys)
    assert closed.max_requests == DEFAULT_MAX_REQUESTS
    assert [s.shard_max_requests() for s in split_plan(closed, 3)] == [3333334, 3333333, 3333333]


def test_smoke_is_a_functional_check_at_reduced_rates_and_standard_keeps_the_spec_rates():
    from tests.conftest import REPO

    scenarios = load_scenarios(REPO / "config" / "load_scenarios.yaml")
    for name, sc in scenarios.items():
        smoke, standard = scale_for_profile(sc, "smoke"), scale_for_profile(sc, "standard")
        assert smoke.requests_per_minute <= 3000 and smoke.users <= 200, name
        assert smoke.rate_per_s * smoke.duration_s >= 200, name  # enough requests for a p95 verdict
        assert (standard.requests_per_minute, standard.users) == (sc.requests_per_minute, sc.users), name
        assert smoke.p95_target_ms == sc.p95_target_ms and smoke.max_error_rate_pct == sc.max_error_rate_pct
    assert scale_for_profile(scenarios["burst"], "full") == scenarios["burst"]
