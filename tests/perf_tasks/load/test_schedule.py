from __future__ import annotations

import numpy as np
import pytest

from perf_tasks.load.schedule import (
    RateProfile,
    Stage,
    arrival_offsets,
    constant_rate,
    ramped_rate,
    shard_offsets,
    to_ns,
)


def test_constant_rate_spaces_arrivals_evenly_inside_the_window():
    t = arrival_offsets(constant_rate(100.0, 2.0), "constant")
    assert len(t) == 200
    assert t[0] == 0.0 and t[-1] < 2.0
    assert np.allclose(np.diff(t), 0.01)


def test_poisson_count_and_gaps_match_the_rate():
    counts = [len(arrival_offsets(constant_rate(50.0, 10.0), "poisson", rng=np.random.default_rng(s)))
              for s in range(200)]
    assert abs(np.mean(counts) - 500) < 5  # mean of 200 Poisson(500) draws: sd of the mean ~1.6
    assert 15 < np.std(counts) < 30  # Poisson: sd = sqrt(500) ~ 22
    gaps = np.diff(arrival_offsets(constant_rate(50.0, 200.0), "poisson", rng=np.random.default_rng(1)))
    assert abs(gaps.mean() - 0.02) < 0.001 and abs(gaps.std() - 0.02) < 0.002  # exponential: sd = mean


def test_same_seed_same_schedule_other_seed_other_schedule():
    p = constant_rate(30.0, 5.0)
    a = arrival_offsets(p, "poisson", rng=np.random.default_rng(3))
    b = arrival_offsets(p, "poisson", rng=np.random.default_rng(3))
    c = arrival_offsets(p, "poisson", rng=np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_linear_ramp_places_a_quarter_of_arrivals_in_its_first_half():
    profile = RateProfile(0.0, (Stage(10.0, 200.0),))  # 0 -> 200/s over 10 s: 1000 arrivals
    t = arrival_offsets(profile, "constant")
    assert len(t) == 1000
    assert abs((t < 5.0).sum() - 250) <= 1
    assert np.all(np.diff(t) > 0)


def test_ramp_then_hold_is_a_step_to_the_hold_rate():
    profile = ramped_rate(100.0, 10.0, [Stage(2.0, 50.0)])  # 0->50/s over 2 s, then 100/s for 8 s
    t = arrival_offsets(profile, "constant")
    assert len(t) == 50 + 800
    assert abs((t >= 2.0).sum() - 800) <= 1
    assert profile.expected_count() == pytest.approx(850.0)


def test_zero_rate_stage_sends_nothing_during_it():
    profile = RateProfile(0.0, (Stage(1.0, 0.0), Stage(1.0, 100.0, from_rate_per_s=100.0)))
    t = arrival_offsets(profile, "poisson", rng=np.random.default_rng(0))
    assert len(t) > 50 and t.min() >= 1.0


def test_max_count_cuts_the_schedule():
    assert len(arrival_offsets(constant_rate(1000.0, 10.0), "constant", max_count=123)) == 123
    assert len(arrival_offsets(constant_rate(1000.0, 10.0), "poisson", rng=np.random.default_rng(0),
                               max_count=77)) == 77


def test_shards_together_are_exactly_the_whole_schedule():
    full = arrival_offsets(constant_rate(333.0, 3.0), "poisson", rng=np.random.default_rng(9))
    parts = [shard_offsets(full, i, 3) for i in range(3)]
    assert sum(len(p) for p in parts) == len(full)
    assert np.array_equal(np.sort(np.concatenate(parts)), full)
    with pytest.raises(ValueError, match="shard index"):
        shard_offsets(full, 3, 3)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(duration_s=0, target_rate_per_s=1), "duration_s"),
    (dict(duration_s=1, target_rate_per_s=-1), "target_rate_per_s"),
])
def test_bad_stage_names_the_value(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        Stage(**kwargs)


def test_ramp_longer_than_the_run_is_refused():
    with pytest.raises(ValueError, match="longer than"):
        ramped_rate(10.0, 5.0, [Stage(6.0, 10.0)])


def test_poisson_needs_an_rng_and_ns_conversion_rounds():
    with pytest.raises(ValueError, match="seeded rng"):
        arrival_offsets(constant_rate(1.0, 1.0), "poisson")
    assert to_ns(np.array([0.5, 1e-9])).tolist() == [500_000_000, 1]
