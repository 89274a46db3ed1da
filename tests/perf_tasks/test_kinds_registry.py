"""The kinds registry and the typed option reader every kind uses for its trigger params (strings
from the CLI's --opt and the Airflow form become numbers, lists and booleans; anything else is a
ConfigError naming the param and the value)."""
from __future__ import annotations

import pytest

from perf_tasks.errors import ConfigError
from perf_tasks.kinds import KINDS, TAIL_STEPS, all_steps, available, get_kind, kind_tasks, option


def test_every_registered_kind_is_available_and_loads():
    assert available() == list(KINDS) == ["daily", "load", "stress", "scale"]
    for name in KINDS:
        assert get_kind(name).__name__ == KINDS[name]


def test_an_unknown_kind_is_refused_naming_the_kinds():
    with pytest.raises(ConfigError, match=r"param 'kind': 'soak' is not a kind of run \(kinds: \['daily', 'load', "
                                          r"'scale', 'stress'\]\)"):
        get_kind("soak", source="param 'kind'")


def test_a_registered_kind_whose_module_is_missing_says_so(monkeypatch):
    monkeypatch.setitem(KINDS, "ghost", "perf_tasks.kinds.ghost_kind_not_here")
    with pytest.raises(ConfigError, match=r"kind 'ghost' is registered but its module "
                                          r"perf_tasks.kinds.ghost_kind_not_here is not installed"):
        get_kind("ghost")
    assert "ghost" not in available()


def test_all_steps_wrap_a_kinds_own_steps_in_setup_the_tail_and_its_teardown():
    load = get_kind("load")
    assert all_steps(load, ("start_service", "run_shard.0")) == (
        "setup_environment", "start_service", "run_shard.0", *TAIL_STEPS, "stop_service")
    assert all_steps(get_kind("daily"), ("run_benchmarks.risk",))[-1] == TAIL_STEPS[-1]  # no teardown


def test_kind_tasks_default_to_the_suites():
    class Bare:
        pass

    class Spec:
        suites = ("risk", "trading")

    assert kind_tasks(Bare, Spec()) == ["risk", "trading"]  # type: ignore[arg-type]


@pytest.mark.parametrize("value, kind, expected", [
    (None, int, 7),  # absent: the default
    (3, float, 3.0),
    ([1, 2], tuple, (1, 2)),
    ("normal, peak,,", tuple, ("normal", "peak")),
    ("-4", int, -4),
    ("2.5", float, 2.5),
    ("Yes", bool, True),
    ("0", bool, False),
    ("x", str, "x"),
    (True, bool, True),
])
def test_options_are_converted_from_the_forms_a_cli_or_form_gives(value, kind, expected):
    assert option({"n": value}, "n", kind, 7) == expected


@pytest.mark.parametrize("value, kind, shown", [
    ("many", int, "'many'"),
    ("fast", float, "'fast'"),
    ("maybe", bool, "'maybe'"),
    (True, int, "True"),  # a bool is not a count
    (3, str, "3"),
    ({"a": 1}, tuple, r"\{'a': 1\}"),
])
def test_options_of_the_wrong_type_name_the_param_and_the_value(value, kind, shown):
    with pytest.raises(ConfigError, match=rf"param 'n': expected {kind.__name__}, got {shown}"):
        option({"n": value}, "n", kind, None)
