"""The trigger forms' kind params are generated from each kind's options model
(perf_tasks.kinds.options): no DAG declares an option by hand, so the form and the run's checks
cannot drift (the load form capped shards at 64 while prepare did not)."""
from __future__ import annotations

import pytest

from perf_operators.steps import COMMON_PARAMS

from perf_tasks.kinds import get_kind

#: params that are RunSpec fields, not a kind's options: what the setup task keeps out of the options
#: (perf_operators.steps.COMMON_PARAMS), and ``suites`` (which it pops)
COMMON = {*COMMON_PARAMS, "suites"}
DAGS = {"daily": "perf_daily", "load": "perf_load_weekly", "stress": "perf_stress_monthly",
        "scale": "perf_scalability_quarterly"}


def _bounds(schema: dict) -> dict:
    return {k: schema.get(k) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")}


@pytest.mark.parametrize("kind", sorted(DAGS))
def test_the_dags_params_are_the_kinds_options_with_their_defaults_and_bounds(dagbag, kind):
    model = get_kind(kind).OPTIONS
    params = dagbag.dags[DAGS[kind]].params
    own = set(params.keys()) - COMMON
    assert own == set(model.model_fields)
    props = model.model_json_schema()["properties"]
    for name, field in model.model_fields.items():
        param = params.get_param(name)
        default = list(field.default) if isinstance(field.default, tuple) else field.default
        assert param.value == default, name
        assert param.description == field.description, name
        assert param.schema.get("section") == props[name].get("section"), name
        prop = props[name]
        inner = next((m for m in prop.get("anyOf", []) if m.get("type") != "null"), prop)
        assert _bounds(param.schema) == _bounds({**inner, **prop}), name
        if field.default is None:  # the 3.3 form requires a nullable type for a None default
            assert "null" in param.schema["type"], name


def test_the_shards_cap_is_the_forms_and_prepares(dagbag):
    from perf_tasks.errors import ConfigError
    from perf_tasks.kinds.options import LoadOptions

    assert dagbag.dags["perf_load_weekly"].params.get_param("shards").schema["maximum"] == 64
    with pytest.raises(ConfigError, match=r"param 'shards': expected <= 64, got 65"):
        LoadOptions.parse({"shards": 65})


def test_optional_literals_offer_none_and_their_choices(dagbag):
    params = dagbag.dags["perf_scalability_quarterly"].params
    assert params.get_param("sut").schema["enum"] == [None, "service", "testserver", "urls"]
    assert params.get_param("instances").schema["items"] == {"type": "integer", "minimum": 1}


def test_a_bad_trigger_conf_is_refused_naming_the_param_before_anything_runs(dagbag, airflow_db):
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="shards"):
        dagbag.dags["perf_load_weekly"].test(run_conf={"shards": 65})
