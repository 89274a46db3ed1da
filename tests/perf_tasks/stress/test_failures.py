"""Failure behaviour the service documents, measured for real: a database away (down, or silent)
answers 503 with Retry-After within the bound, never hangs, loses nothing and recovers on its
own; a killed worker is replaced; nothing is left behind (processes, databases, lock files)."""
from __future__ import annotations

from pathlib import Path

import pytest

from perf_tasks.errors import ConfigError
from perf_tasks.stress.base import StressContext
from perf_tasks.stress.failures import FAILURES
from perf_tasks.stress.outcome import params_for, target_for
from tests.perf_tasks.stress.failure_support import Leftovers, no_data, pg_or_skip, run, values


@pytest.mark.parametrize("mode", ["outage", "blackhole"])
def test_database_away_answers_503_with_retry_after_in_bound_and_recovers_by_itself(mode: str, tmp_path: Path):
    pg_or_skip()
    before = Leftovers()
    result = run(f"db_{mode}", tmp_path)
    v = values(result)
    why = (v, result.info)  # shown on failure
    timeout_ms = 1000 * result.params["order_timeout_s"]
    assert not no_data(result), (no_data(result), why)
    assert result.info["statuses"].get("503", 0) > 0, why  # clients were told, not left hanging
    assert v["hung_pct"] == 0 and v["retry_after_missing_pct"] == 0, why
    assert v["outage_answer_max_ms"] <= timeout_ms + 1000, why
    assert v["detect_ms"] <= timeout_ms + 2000, why  # the prober's own timeout is the order timeout + 1 s
    assert v["recovered_pct"] == 100 and v["recover_ms"] < 10_000, why  # a reconnect into silence waits 5 s
    assert v["orders_lost_pct"] == 0 and v["orders_duplicated_pct"] == 0 and v["portfolio_mismatch_pct"] == 0, why
    before.check(tmp_path)


def test_a_killed_worker_is_replaced_and_no_acknowledged_order_is_lost(tmp_path: Path):
    before = Leftovers()
    result = run("worker_kill", tmp_path)
    v = values(result)
    assert not no_data(result), no_data(result)
    assert result.info["replacement_pid"] not in (None, result.info["victim_pid"])
    assert 0 < v["replace_spawn_ms"] < v["replace_ready_ms"]
    assert v["orders_lost_pct"] == 0 and result.info["acked"] > 100
    assert result.info["acked"] == result.info["statuses"]["201"]  # ids repeat across workers: every 201 audited
    before.check(tmp_path)


def test_every_scenario_is_registered_by_name():
    assert {"recovery_sqlite", "recovery_postgres", "db_outage", "db_blackhole", "worker_kill", "market_crash",
            "order_flood", "order_rejections", "feed_outage", "soak"} <= set(FAILURES)
    assert all(fn.__name__ == name.split(":")[-1] or callable(fn) for name, fn in FAILURES.items())


def test_profile_overrides_are_checked_naming_the_key(tmp_path: Path):
    defaults = {"smoke": {"load_s": 1.0, "threads": 2}}
    ctx = StressContext("x", tmp_path, "smoke", config={"profiles": {"smoke": {"load_s": 3, "threads": 4}}})
    assert params_for(ctx, defaults) == {"load_s": 3.0, "threads": 4}
    with pytest.raises(ConfigError, match=r"x\.profiles\.smoke\.nope: unknown parameter"):
        params_for(StressContext("x", tmp_path, "smoke", config={"profiles": {"smoke": {"nope": 1}}}), defaults)
    with pytest.raises(ConfigError, match=r"x\.profiles\.smoke\.threads: expected int, got 'many'"):
        params_for(StressContext("x", tmp_path, "smoke", config={"profiles": {"smoke": {"threads": "many"}}}),
                   defaults)
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        params_for(StressContext("x", tmp_path, "huge"), defaults)
    with pytest.raises(ConfigError, match=r"x\.targets\.lost: Target needs exactly one"):
        target_for(StressContext("x", tmp_path, "smoke", config={"targets": {"lost": {}}}), "lost")


def test_a_stalled_feed_marks_quotes_stale_and_risk_refuses_until_ticks_flow_again(tmp_path: Path):
    before = Leftovers()
    result = run("feed_outage", tmp_path)
    v = values(result)
    assert not no_data(result), no_data(result)
    age_ms = 1000 * result.params["max_quote_age_s"]
    assert age_ms <= v["stale_detect_ms"] <= age_ms + 500  # flagged once the limit passed, not before
    assert result.info["stale_detect_signed_ms"] >= 0 and v["stale_detect_over_limit_ms"] < 500
    assert v["risk_on_stale_pct"] == 0 and v["risk_refused_pct"] == 100 and v["retry_after_missing_pct"] == 0
    assert v["stale_recover_ms"] < 1000 and v["risk_recover_ms"] < 1000
    assert v["gaps_missed_pct"] == 0 and result.info["gap_ack"]["missing"] == 16 * result.params["gap_ticks"]
    assert v["bad_batch_applied_pct"] == 0 and "crossed quote" in result.info["bad_batch"]["detail"]
    assert v["unexpected_statuses_pct"] == 0
    before.check(tmp_path)


def test_refused_orders_get_422_with_their_code_and_reason_and_are_stored_as_rejected(tmp_path: Path):
    before = Leftovers()
    result = run("order_rejections", tmp_path)
    v = values(result)
    assert not no_data(result), no_data(result)
    assert all(n > 10 for n in result.info["refusals_by_kind"].values()), result.info
    assert result.info["acked"] > 100
    assert v["wrong_answer_pct"] == 0 and v["rejections_not_stored_pct"] == 0, result.info
    assert v["server_errors_pct"] == 0 and v["orders_lost_pct"] == 0
    assert "exceeds max order quantity 10000" in result.info["reasons"]["max_order_quantity"]
    before.check(tmp_path)


def test_refusal_kinds_are_named():
    import random

    from perf_tasks.stress.rejections import KINDS, refused_order
    assert refused_order("max_notional", random.Random(0))["price"] * 9_000 > 5_000_000
    with pytest.raises(ValueError, match="unknown rejection kind 'nope'"):
        refused_order("nope", random.Random(0))
    assert len(KINDS) == 4


def test_a_non_loopback_postgresql_is_refused_before_anything_is_created():
    from perf_tasks.errors import UserError
    from perf_tasks.stress.databases import postgres_database

    with pytest.raises(UserError, match="loopback PostgreSQL only; PERF_STRESS_PG_URL names host 'db.example.com'"):
        with postgres_database("postgresql://postgres@db.example.com:5432/postgres"):
            pass
